"""The store interface. Implementations: :mod:`gitcoord.store.sqlite`, :mod:`gitcoord.store.postgres`.

Every operation of the core runs inside one :meth:`Store.transaction` (a write
transaction, serialised against every other writer) or :meth:`Store.snapshot`
(a consistent read). ``Tx.now`` is the store's clock, captured when the
transaction starts: expiry never depends on a caller's clock.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, NamedTuple

from gitcoord.models import Event, Holder, Lease, Message, Read
from gitcoord.store.commits_api import CommitsTx
from gitcoord.store.migrations import LATEST as SCHEMA_VERSION
from gitcoord.store.migrations import PATHS_HASHED_KEY
from gitcoord.store.tasks_api import TasksTx

__all__ = ["PATHS_HASHED_KEY", "SCHEMA_VERSION", "EventQuery", "NewLease", "Store", "Tx"]

EVENTS_HEAD_KEY = "audit.head"  # meta: "seq hash" of the newest event, kept by every commit


class NewLease(NamedTuple):
    pattern: str
    kind: str
    key: str
    exclusive: bool
    holder: Holder
    epoch: int
    ttl: float
    expires_at: float
    reason: str | None
    task: str | None
    base_commit: str | None
    base_blobs: dict[str, str]


class EventQuery(NamedTuple):
    kinds: Sequence[str] | None = None
    agent: str | None = None
    worktree: str | None = None
    path: str | None = None  # events recorded under this path or below it ('': all)
    task: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int | None = None
    newest_first: bool = False
    ancestors: bool = False  # with path: also those recorded under a directory above it


class Tx(TasksTx, CommitsTx, abc.ABC):
    """One transaction. ``now`` is the store clock at its start."""

    now: float
    # The database role this transaction runs as, recorded in every event it appends
    # (PostgreSQL's current_user; None where the store has no roles).
    role: str | None = None
    # Events appended in this transaction (filled by audit.append); handed to
    # Store.on_commit after a successful commit (event hooks run there, outside the lock).
    new_events: list[Event]

    # -- counters and metadata ------------------------------------------------
    def next_epoch(self) -> int:
        """The next fencing token: store-wide, only ever grows."""
        return self.reserve_epochs(1)

    def record_head(self) -> None:
        """Before COMMIT: keep the newest event appended here as the trail's head (what
        ``audit verify`` checks the end of the chain against)."""
        if self.new_events:
            last = self.new_events[-1]
            self.set_meta(EVENTS_HEAD_KEY, f"{last.seq} {last.hash}")

    @abc.abstractmethod
    def reserve_epochs(self, n: int) -> int:
        """Take ``n`` consecutive fencing tokens at once; returns the first (tokens a
        caller leaves unused are simply never seen)."""

    @abc.abstractmethod
    def get_meta(self, key: str) -> str | None: ...

    @abc.abstractmethod
    def set_meta(self, key: str, value: str | None) -> None: ...

    # -- leases ---------------------------------------------------------------
    @abc.abstractmethod
    def insert_lease(self, new: NewLease) -> Lease: ...

    @abc.abstractmethod
    def lease_candidates(self, keys: Sequence[str], subtree_roots: Sequence[str]) -> list[Lease]:
        """Active, unexpired leases whose key is one of ``keys`` or lies strictly below
        one of ``subtree_roots`` ('' = everything). An indexed lookup, never a scan."""

    @abc.abstractmethod
    def leases(self, *, active_only: bool, holder: Holder | None = None) -> list[Lease]:
        """Leases (active and unexpired only, or all history), oldest first."""

    @abc.abstractmethod
    def get_lease(self, lease_id: int) -> Lease | None: ...

    @abc.abstractmethod
    def due_expired_leases(self) -> list[Lease]:
        """Leases still marked active whose expiry has passed."""

    @abc.abstractmethod
    def update_lease(
        self,
        lease_id: int,
        *,
        expires_at: float | None = None,
        ttl: float | None = None,
        exclusive: bool | None = None,
        reason: str | None = None,
        task: str | None = None,
        epoch: int | None = None,
        state: str | None = None,
        base_commit: str | None = None,
        base_blobs: dict[str, str] | None = None,
    ) -> Lease: ...

    @abc.abstractmethod
    def lease_ttl(self, lease_id: int) -> float: ...

    # -- read sets --------------------------------------------------------------
    @abc.abstractmethod
    def upsert_read(self, read: Read) -> None: ...

    @abc.abstractmethod
    def reads(self, holder: Holder | None = None) -> list[Read]: ...

    # -- audit events -----------------------------------------------------------
    @abc.abstractmethod
    def events_between(self, first: int, last: int) -> list[Event]:
        """Events ``first`` to ``last`` (sequence numbers, both included), in order."""

    @abc.abstractmethod
    def last_event(self) -> tuple[int, str] | None:
        """(seq, hash) of the newest event, if any."""

    @abc.abstractmethod
    def insert_event(self, event: Event, *, task: str | None, paths: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def events(self, query: EventQuery) -> list[Event]: ...

    @abc.abstractmethod
    def iter_events(self) -> Iterator[Event]:
        """Every event, oldest first (for export and verification)."""

    @abc.abstractmethod
    def paths_of_events(self, seqs: Sequence[int]) -> dict[int, list[str]]:
        """The paths each event was recorded under (what ``log --path`` searches)."""

    @abc.abstractmethod
    def events_mis_indexed(self) -> list[int]:
        """Seqs of events whose task column (what ``log --task`` finds them by) is not
        the task their hashed details name."""

    @abc.abstractmethod
    def delete_events_before(self, ts: float) -> list[Event]:
        """Delete events older than ``ts``; return the deleted ones, oldest first."""

    # -- agent bindings and messages -------------------------------------------
    @abc.abstractmethod
    def get_binding(self, worktree: str, host: str) -> str | None: ...

    @abc.abstractmethod
    def set_binding(self, worktree: str, host: str, agent: str | None) -> None: ...

    @abc.abstractmethod
    def insert_message(
        self,
        sender: Holder | None,
        body: str,
        *,
        to_agent: str | None,
        to_worktree: str | None = None,
        to_host: str | None = None,
    ) -> Message: ...

    def tell(self, sender: Holder, to: Holder, body: str) -> Message:
        """A direct message to one holder (its worktree on its host, under its name)."""
        return self.insert_message(
            sender, body, to_agent=to.agent, to_worktree=to.worktree, to_host=to.host
        )

    # -- status -------------------------------------------------------------
    @abc.abstractmethod
    def last_activity(self) -> dict[tuple[str, str], float]:
        """(worktree, host) -> time of the newest audit event that worktree caused (not the
        expiry of its leases and claims, which others' transactions record)."""

    @abc.abstractmethod
    def lapsed_leases(self) -> list[Lease]:
        """Leases that ran out (marked expired, or still marked active past their expiry)
        and were not followed by the same holder's active lease on the same pattern."""

    @abc.abstractmethod
    def unacked_message_counts(self) -> dict[str, int]:
        """Recipient (agent, else worktree) -> number of unacknowledged direct messages."""

    # -- whole-store dump (tests compare before/after) ---------------------------
    @abc.abstractmethod
    def dump(self) -> dict[str, list[tuple[Any, ...]]]: ...


class Store(abc.ABC):
    """A project's shared state."""

    location: str
    # Called with the events of each committed write transaction (never inside it).
    on_commit: Callable[[list[Event]], None] | None = None
    # Opened with anew=True (`gitcoord init`) where a store had been made and was lost:
    # this one is new and empty.
    started_anew: bool = False

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[Tx]:
        """A write transaction, serialised against every other writer."""

    @abc.abstractmethod
    def snapshot(self) -> AbstractContextManager[Tx]:
        """A consistent read-only view."""

    # While set, housekeeping that would follow each write transaction (the SQLite WAL
    # checkpoint) waits for housekeeping(): a combiner runs it after its replies.
    defer_housekeeping: bool = False

    def housekeeping(self) -> None:  # noqa: B027 - optional: most stores have none
        """Run deferred housekeeping, if any is due."""

    def combining_dir(self) -> Path | None:
        """Where processes on this host meet to share write transactions
        (:mod:`gitcoord.combining`); None: they do not."""
        return None

    def writer_lock(self) -> AbstractContextManager[None]:
        """Queue fairly behind other writers before :meth:`transaction` (optional;
        stores whose own locking is fair need nothing)."""
        return nullcontext()

    @abc.abstractmethod
    def schema_version(self) -> int: ...

    @abc.abstractmethod
    def info(self) -> dict[str, Any]:
        """Which store this is (``kind``: sqlite | postgresql), where (``location``: a path,
        or a URL without its password), which ``project`` and ``schema_version``."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
