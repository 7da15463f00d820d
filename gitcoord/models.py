"""Plain data shared by the core, the store and the CLI: immutable records (NamedTuples,
which cost a fifth of a dataclass to define at import time, on every command start)."""

from __future__ import annotations

import math
import time
from typing import Any, NamedTuple, Protocol


class Clock(Protocol):
    """Where "now" comes from. Stores own their clock; tests pass a controllable one."""

    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


_ISO: dict[int, str] = {}


def iso(ts: float | None) -> str | None:
    """UTC, to the second (``2026-11-23T16:26:20Z``), as ``datetime.isoformat`` gives it
    (microseconds rounded half-even, then cut). Memoised per second: a status lists
    thousands of leases granted in a few transactions."""
    if ts is None:
        return None
    frac, whole = math.modf(ts)
    sec = int(whole)
    us = round(frac * 1e6)
    if us >= 1_000_000:
        sec += 1
    elif us < 0:
        sec -= 1
    text = _ISO.get(sec)
    if text is None:
        if len(_ISO) >= 4096:
            _ISO.clear()
        text = _ISO[sec] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sec))
    return text


class Holder(NamedTuple):
    """Who holds a lease or claim: a worktree on a host, with an agent name."""

    worktree: str
    host: str
    agent: str

    def same_place(self, other: Holder) -> bool:
        """Enforcement is keyed to the worktree (path + host), not to the agent name."""
        return self.worktree == other.worktree and self.host == other.host

    def to_json(self) -> dict[str, str]:
        return {"agent": self.agent, "worktree": self.worktree, "host": self.host}


class Lease(NamedTuple):
    id: int
    pattern: str
    kind: str  # file | dir | glob
    key: str
    exclusive: bool
    holder: Holder
    epoch: int
    granted_at: float
    expires_at: float
    reason: str | None = None
    task: str | None = None
    base_commit: str | None = None
    base_blobs: dict[str, str] = {}  # never mutated: shared default is safe
    released_at: float | None = None
    state: str = "active"  # active | released | expired | reaped

    def is_active(self, now: float) -> bool:
        return self.state == "active" and self.expires_at > now

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "pattern": self.pattern,
            "kind": self.kind,
            "mode": "exclusive" if self.exclusive else "shared",
            "holder": self.holder.to_json(),
            "epoch": self.epoch,
            "granted_at": iso(self.granted_at),
            "expires_at": iso(self.expires_at),
            "reason": self.reason,
            "task": self.task,
            "base_commit": self.base_commit,
            "base_blobs": dict(self.base_blobs) if self.base_blobs else {},
            "state": self.state,
        }
        if self.released_at is not None:
            d["released_at"] = iso(self.released_at)
        if now is not None:
            d["active"] = self.is_active(now)
            d["expires_in"] = round(self.expires_at - now, 1)
        return d


class Read(NamedTuple):
    """One entry of a worktree's read set: the blob it based its work on."""

    path: str
    blob: str | None  # None: the path did not exist at the commit
    commit: str | None
    holder: Holder
    read_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "blob": self.blob,
            "commit": self.commit,
            "holder": self.holder.to_json(),
            "read_at": iso(self.read_at),
        }


class Event(NamedTuple):
    """One audit-trail entry. ``hash`` covers every other field and ``prev_hash``.
    ``role`` is the database role that wrote it (PostgreSQL's ``current_user``; None on
    SQLite, which has no roles)."""

    seq: int
    ts: float
    kind: str
    agent: str | None
    worktree: str | None
    host: str | None
    subject: str | None
    shas: tuple[str, ...]
    details: dict[str, Any]
    prev_hash: str
    hash: str
    role: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = self._asdict()
        d["details"] = dict(self.details)
        d["time"] = iso(self.ts)
        d["shas"] = list(self.shas)
        return d


class Conflict(NamedTuple):
    """Why a lease was denied: an existing lease that overlaps, with a witness path."""

    requested: str
    lease: Lease
    witness: str

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "witness": self.witness,
            "lease": self.lease.to_json(now),
        }


class Message(NamedTuple):
    id: int
    sent_at: float
    sender: Holder | None
    to_agent: str | None  # None: to everyone
    to_worktree: str | None
    to_host: str | None
    body: str
    acked_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sent_at": iso(self.sent_at),
            "from": self.sender.to_json() if self.sender else None,
            "to": {"agent": self.to_agent, "worktree": self.to_worktree, "host": self.to_host},
            "body": self.body,
            "acked_at": iso(self.acked_at),
        }
