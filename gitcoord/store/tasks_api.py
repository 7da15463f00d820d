"""Store operations for tasks and claims (abstract; see sqlite_tasks.py).

The records (:class:`Task`, :class:`Claim`) live here, next to the interface that
returns them, so the store package never imports the core. They are NamedTuples:
immutable, and much cheaper to define than dataclasses, which matters because every
``gitcoord claim`` process imports them.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, NamedTuple

from gitcoord.models import Holder, Message, iso

TASK_STATES = ("open", "claimed", "review", "done", "blocked")
CLAIM_STATES = ("active", "released", "done", "review", "expired", "superseded", "reaped", "blocked")


class Task(NamedTuple):
    """A unit of work and its current (or last) claim."""

    id: str
    seq: int
    title: str
    body: str | None
    priority: int
    state: str  # open | claimed | review | done | blocked
    deps_pending: int
    grants: int
    created_at: float
    updated_at: float
    created_by: str | None
    epoch: int | None  # the current (or last) claim's epoch
    holder: Holder | None  # the current (or last) claim's holder
    claimed_at: float | None
    ttl: float | None
    expires_at: float | None
    reason: str | None  # why blocked, or why the last review was rejected
    reviewer: str | None
    done_at: float | None
    after: tuple[str, ...] = ()  # dependencies, when loaded

    def claim_active(self, now: float) -> bool:
        return self.state == "claimed" and self.expires_at is not None and self.expires_at > now

    def status(self, now: float) -> str:
        """The effective state: a claim whose TTL ran out counts as open."""
        if self.state == "claimed" and not self.claim_active(now):
            return "open"
        return self.state

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "priority": self.priority,
            "state": self.state,
            "after": list(self.after),
            "deps_pending": self.deps_pending,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "created_by": self.created_by,
            "reason": self.reason,
            "reviewer": self.reviewer,
            "done_at": iso(self.done_at),
            "claim": None,
        }
        if self.epoch is not None and self.holder is not None:
            claim: dict[str, Any] = {
                "epoch": self.epoch,
                "holder": self.holder.to_json(),
                "claimed_at": iso(self.claimed_at),
                "expires_at": iso(self.expires_at),
            }
            if now is not None:
                claim["active"] = self.claim_active(now)
                if self.expires_at is not None and self.state == "claimed":
                    claim["expires_in"] = round(self.expires_at - now, 1)
            d["claim"] = claim
        if now is not None:
            d["status"] = self.status(now)
        return d


class Claim(NamedTuple):
    """One grant of a task to a holder. ``epoch`` is its fencing token."""

    id: int
    task: str
    epoch: int
    holder: Holder
    granted_at: float
    ttl: float
    expires_at: float
    state: str  # active | released | done | review | expired | superseded | reaped | blocked
    ended_at: float | None = None
    end_reason: str | None = None
    superseded_by: int | None = None
    notified_at: float | None = None

    def is_active(self, now: float) -> bool:
        return self.state == "active" and self.expires_at > now

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "task": self.task,
            "epoch": self.epoch,
            "holder": self.holder.to_json(),
            "granted_at": iso(self.granted_at),
            "ttl": self.ttl,
            "expires_at": iso(self.expires_at),
            "state": self.state,
        }
        if self.ended_at is not None:
            d["ended_at"] = iso(self.ended_at)
            d["end_reason"] = self.end_reason
        if self.superseded_by is not None:
            d["superseded_by"] = self.superseded_by
        if now is not None:
            d["active"] = self.is_active(now)
            d["expires_in"] = round(self.expires_at - now, 1)
        return d


class NewTask(NamedTuple):
    id: str
    title: str
    priority: int
    body: str | None
    created_by: str | None
    state: str = "open"
    reason: str | None = None


class Binding(NamedTuple):
    worktree: str
    host: str
    agent: str
    bound_at: float


class TasksTx(abc.ABC):
    """Task and claim operations of a transaction (``now`` is the store clock)."""

    now: float

    # -- tasks ----------------------------------------------------------------
    @abc.abstractmethod
    def next_task_number(self) -> int:
        """A counter for generated task ids (``T-<n>``); only grows."""

    @abc.abstractmethod
    def insert_task(self, new: NewTask) -> Task: ...

    @abc.abstractmethod
    def get_task(self, task_id: str) -> Task | None:
        """The task with its dependencies loaded (``after``)."""

    @abc.abstractmethod
    def existing_task_ids(self, task_ids: Sequence[str]) -> set[str]: ...

    @abc.abstractmethod
    def tasks(
        self,
        *,
        states: Sequence[str] | None = None,
        holder: Holder | None = None,
        with_deps: bool = False,
    ) -> list[Task]:
        """Tasks (optionally in these stored states, or whose current claim is
        ``holder``'s), by priority then age."""

    @abc.abstractmethod
    def task_summary(self) -> dict[str, int]:
        """How many tasks are in each stored state, plus ``waiting``: open tasks
        with unfinished dependencies."""

    @abc.abstractmethod
    def update_task(
        self,
        task_id: str,
        *,
        title: str | None = None,
        body: str | None = None,
        priority: int | None = None,
    ) -> Task: ...

    @abc.abstractmethod
    def set_task_state(
        self,
        task_id: str,
        state: str,
        *,
        expect: Sequence[str],
        expect_epoch: int | None = None,
        reason: str | None = None,
        reviewer: str | None = None,
        done: bool = False,
    ) -> Task | None:
        """Compare-and-swap the state: only when it is one of ``expect`` (and, if
        given, the current claim's epoch is ``expect_epoch``). Sets ``reason`` and
        ``reviewer`` (None clears them). None when the swap did not happen."""

    # -- dependencies -----------------------------------------------------------
    @abc.abstractmethod
    def add_dependencies(self, task_id: str, deps: Sequence[str]) -> None:
        """Add edges ``task_id`` after each of ``deps`` and recount its pending ones."""

    @abc.abstractmethod
    def remove_dependencies(self, task_id: str, deps: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def dependencies(self, task_ids: Sequence[str]) -> dict[str, list[str]]:
        """task -> the tasks it waits for, for each of ``task_ids``."""

    @abc.abstractmethod
    def dependents(self, task_id: str) -> list[str]:
        """The tasks that wait for ``task_id``."""

    @abc.abstractmethod
    def recount_pending(self, task_ids: Sequence[str]) -> None:
        """Recompute ``deps_pending`` (dependencies not done) of these tasks."""

    # -- claims -----------------------------------------------------------------
    @abc.abstractmethod
    def claim_next(
        self, holder: Holder, epoch: int, ttl: float, *, request: str | None = None
    ) -> tuple[Task, Claim] | None:
        """Single-statement compare-and-swap: the open task with no pending
        dependencies, highest priority then oldest, becomes ``holder``'s. ``request``
        (a combined call's id) is kept with the claim."""

    @abc.abstractmethod
    def claims_of_request(self, holder: Holder, request: str) -> list[Claim]:
        """The active claims made for the combined call ``request`` of ``holder``."""

    @abc.abstractmethod
    def claim_task(
        self, task_id: str, holder: Holder, epoch: int, ttl: float
    ) -> tuple[Task, Claim] | None:
        """Compare-and-swap one open task; None if it was not open."""

    @abc.abstractmethod
    def supersede_claims(self, task_id: str, new_epoch: int, holder: Holder) -> list[Claim]:
        """Mark other holders' expired claims on ``task_id`` superseded by ``new_epoch``."""

    @abc.abstractmethod
    def expire_claims(self) -> list[Claim]:
        """Claims whose TTL ran out: their tasks reopen, the claims become ``expired``."""

    @abc.abstractmethod
    def extend_claim(self, epoch: int, ttl: float, *, reopen: bool = False) -> Claim:
        """Renew the claim ``epoch`` (its task must still carry that epoch); with
        ``reopen`` an expired claim nobody re-took becomes active again."""

    @abc.abstractmethod
    def end_claim(
        self,
        epoch: int,
        state: str,
        reason: str | None = None,
        *,
        expect: Sequence[str] = ("active", "expired"),
    ) -> Claim | None: ...

    @abc.abstractmethod
    def get_claim(self, epoch: int) -> Claim | None: ...

    @abc.abstractmethod
    def claims(
        self,
        *,
        task: str | None = None,
        holder: Holder | None = None,
        states: Sequence[str] | None = None,
    ) -> list[Claim]:
        """Claims (history), oldest first."""

    @abc.abstractmethod
    def mark_claims_notified(self, epochs: Sequence[int]) -> None: ...

    # -- bindings and messages ----------------------------------------------------
    @abc.abstractmethod
    def bindings(self) -> list[Binding]: ...

    @abc.abstractmethod
    def inbox(self, holder: Holder, *, include_acked: bool = False) -> list[Message]:
        """Messages to this holder: to its worktree, to its agent name, or to everyone
        (not its own broadcasts), oldest first. ``acked_at`` is this holder's ack."""

    @abc.abstractmethod
    def ack_messages(self, holder: Holder, message_ids: Sequence[int]) -> int: ...
