"""The audit trail: append-only, hash-chained events; log, export, prune, verify."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from gitcoord.errors import BadInput
from gitcoord.models import Event, Holder, Lease
from gitcoord.store.base import EVENTS_HEAD_KEY, PATHS_HASHED_KEY, Tx

if TYPE_CHECKING:
    from gitcoord.paths import Pattern

try:  # CPython's built-in SHA-256: same digests as hashlib, without loading OpenSSL
    from _sha256 import sha256 as _sha256  # type: ignore[import-not-found]  # <= 3.11
except ImportError:  # pragma: no cover - depends on the Python version
    try:
        from _sha2 import sha256 as _sha256  # type: ignore[import-not-found,no-redef]  # 3.12+
    except ImportError:
        from hashlib import sha256 as _sha256  # type: ignore[assignment,no-redef]

GENESIS = "0" * 64
ANCHOR_KEY = "audit.anchor"  # "seq hash" of the newest pruned event


def event_hash(
    *,
    seq: int,
    ts: float,
    kind: str,
    agent: str | None,
    worktree: str | None,
    host: str | None,
    subject: str | None,
    shas: Sequence[str],
    details: dict[str, Any],
    prev_hash: str,
    paths: Sequence[str] = (),
    role: str | None = None,
) -> str:
    """The event's SHA-256 over its fields and the hash before it; and over the paths it
    is recorded under (what ``log --path`` finds it by), if any, since schema 5; and over
    the database role that wrote it, where the store has roles (so SQLite chains, which
    never have one, hash as they always did)."""
    fields = {
        "seq": seq,
        "ts": repr(float(ts)),
        "kind": kind,
        "agent": agent,
        "worktree": worktree,
        "host": host,
        "subject": subject,
        "shas": list(shas),
        "details": details,
        "prev": prev_hash,
    }
    if paths:
        fields["paths"] = list(paths)
    if role is not None:
        fields["role"] = role
    body = json.dumps(
        fields,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    digest: str = _sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
    return digest


_SCALARS = frozenset((str, int, float, bool, type(None)))


def canonical(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` as JSON gives it back: sorted keys, JSON types only. A flat dict of
    scalars (most events) is already that, bar the order; anything else goes through
    a JSON round trip."""
    if all(type(k) is str and type(v) in _SCALARS for k, v in details.items()):
        return dict(sorted(details.items()))
    loaded: dict[str, Any] = json.loads(json.dumps(details, sort_keys=True))
    return loaded


def append(
    tx: Tx,
    kind: str,
    holder: Holder | None,
    *,
    subject: str | None = None,
    shas: Sequence[str] = (),
    details: dict[str, Any] | None = None,
    task: str | None = None,
    paths: Iterable[str] = (),
) -> Event:
    """Append one event in the caller's transaction, chained to the one before."""
    details = canonical(details or {})
    if task is not None:
        details.setdefault("task", task)
    last = tx.last_event()
    if last is None:
        anchor = tx.get_meta(ANCHOR_KEY)
        if anchor:
            seq_s, prev = anchor.split(" ", 1)
            seq = int(seq_s) + 1
        else:
            seq, prev = 1, GENESIS
    else:
        seq, prev = last[0] + 1, last[1]
    fields: dict[str, Any] = {
        "seq": seq,
        "ts": tx.now,
        "kind": kind,
        "agent": holder.agent if holder else None,
        "worktree": holder.worktree if holder else None,
        "host": holder.host if holder else None,
        "subject": subject,
        "shas": tuple(shas),
        "details": details,
        "prev_hash": prev,
        "role": tx.role,
    }
    recorded = list(dict.fromkeys(paths))
    event = Event(hash=event_hash(**fields, paths=recorded), **fields)
    tx.insert_event(event, task=task, paths=recorded)
    tx.new_events.append(event)
    return event


def lease_event(
    tx: Tx,
    kind: str,
    actor: Holder | None,
    lease: Lease,
    details: dict[str, Any],
    *,
    task: str | None,
    shas: Sequence[str] = (),
) -> Event:
    """One lease event: about the lease's pattern (its subject), recorded under its key
    and naming the pattern's kind, so ``log --path`` reads the pattern back exactly (a
    file named ``a*b`` is no glob)."""
    return append(
        tx,
        kind,
        actor,
        subject=lease.pattern,
        shas=shas,
        details={**details, "pattern_kind": lease.kind},
        task=task,
        paths=[lease.key],
    )


def log(
    tx: Tx,
    *,
    kinds: Sequence[str] | None = None,
    agent: str | None = None,
    pattern: Pattern | None = None,
    task: str | None = None,
    since: float | None = None,
    limit: int | None = None,
) -> list[Event]:
    """Events, oldest first (the newest ``limit`` of them). With ``pattern``: events
    about paths it covers, and lease events whose pattern overlaps it (a lease on
    ``src/**`` or ``*.md`` is about ``src/a.py`` or ``x.md``), exactly."""
    from gitcoord.store.base import EventQuery

    query = EventQuery(
        kinds=list(kinds) if kinds else None,
        agent=agent,
        path=pattern.key if pattern is not None else None,
        task=task,
        since=since,
        ancestors=pattern is not None,
        limit=limit if pattern is None else None,
        newest_first=limit is not None and pattern is None,
    )
    events = tx.events(query)
    if pattern is None:
        return events[::-1] if limit is not None else events
    recorded = tx.paths_of_events([e.seq for e in events])
    kept = [e for e in events if _about(e, recorded.get(e.seq, []), pattern)]
    return kept[-limit:] if limit is not None else kept


def _about(event: Event, recorded: Sequence[str], pattern: Pattern) -> bool:
    """Whether an event the path index returned for ``pattern`` is about it. A lease
    event is recorded under its pattern's key: it counts if that pattern overlaps.
    Any other is recorded under the paths themselves (files touched, witnesses)."""
    from gitcoord import paths

    if event.kind.startswith("lease.") and event.kind != "lease.denied" and event.subject:
        kind = event.details.get("pattern_kind")
        try:
            if isinstance(kind, str):
                leased = paths.stored_pattern(event.subject, kind, recorded[0] if recorded else "")
            else:  # written before lease events named their kind: read the text again
                leased = paths.pattern_from_text(event.subject)
        except BadInput:  # not a pattern: judge it by its paths
            pass
        else:
            return paths.overlap(leased, pattern) is not None
    return any(paths.matches(pattern, p) for p in recorded if p)


class VerifyResult(NamedTuple):
    ok: bool
    checked: int
    first_seq: int | None
    last_seq: int | None
    problems: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "problems": self.problems,
        }


def with_paths(tx: Tx, batch: int = 500) -> Iterator[tuple[Event, list[str]]]:
    """Every event, oldest first, with the paths it is recorded under."""
    events = tx.iter_events()
    while chunk := list(itertools.islice(events, batch)):
        recorded = tx.paths_of_events([e.seq for e in chunk])
        for ev in chunk:
            yield ev, recorded.get(ev.seq, [])


def dump(tx: Tx) -> list[dict[str, Any]]:
    """The whole trail as JSON-ready dicts (``export``): each event with its paths."""
    return [{**ev.to_json(), "paths": recorded} for ev, recorded in with_paths(tx)]


def verify(tx: Tx) -> VerifyResult:
    """Recompute every hash and link; report each break."""
    anchor = tx.get_meta(ANCHOR_KEY)
    if anchor:
        seq_s, prev = anchor.split(" ", 1)
        expect_seq = int(seq_s) + 1
    else:
        expect_seq, prev = 1, GENESIS
    paths_hashed_after = int(tx.get_meta(PATHS_HASHED_KEY) or 0)
    problems: list[dict[str, Any]] = []
    checked = 0
    first: int | None = None
    last: int | None = None
    for ev, recorded in with_paths(tx):
        checked += 1
        first = ev.seq if first is None else first
        last = ev.seq
        if ev.seq != expect_seq:
            problems.append(
                {"seq": ev.seq, "problem": f"sequence gap: expected {expect_seq}, found {ev.seq}"}
            )
        if ev.prev_hash != prev:
            problems.append({"seq": ev.seq, "problem": "broken link: prev_hash does not match"})
        recomputed = event_hash(
            seq=ev.seq,
            ts=ev.ts,
            kind=ev.kind,
            agent=ev.agent,
            worktree=ev.worktree,
            host=ev.host,
            subject=ev.subject,
            shas=ev.shas,
            details=ev.details,
            prev_hash=ev.prev_hash,
            paths=recorded if ev.seq > paths_hashed_after else (),
            role=ev.role,
        )
        if recomputed != ev.hash:
            problems.append(
                {"seq": ev.seq, "problem": "content changed (its fields or paths): hash does not match"}
            )
        prev = ev.hash
        expect_seq = ev.seq + 1
    head = tx.get_meta(EVENTS_HEAD_KEY)  # kept by every commit that appended events
    if head:
        head_seq, head_hash = head.split(" ", 1)
        if int(head_seq) != expect_seq - 1 or head_hash != prev:
            problems.append(
                {
                    "seq": int(head_seq),
                    "problem": f"the trail ends at seq {expect_seq - 1}, but its recorded head is"
                    f" seq {head_seq}: the newest events were removed or replaced",
                }
            )
    for seq in tx.events_mis_indexed():
        problems.append({"seq": seq, "problem": "task column changed: it is not the task in details"})
    return VerifyResult(not problems, checked, first, last, problems)


def prune(tx: Tx, before: float, holder: Holder | None) -> int:
    """Delete events older than ``before``; keep the chain verifiable via an anchor."""
    deleted = tx.delete_events_before(before)
    if not deleted:
        return 0
    newest = deleted[-1]
    tx.set_meta(ANCHOR_KEY, f"{newest.seq} {newest.hash}")
    append(
        tx,
        "audit.pruned",
        holder,
        details={"deleted": len(deleted), "before": before, "through_seq": newest.seq},
    )
    return len(deleted)
