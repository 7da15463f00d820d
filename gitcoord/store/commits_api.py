"""Store operations for recorded commits and SHA rewrites (abstract; see sqlite_commits.py).

The record types live here, next to the interface that returns them, so the store
package never imports the core.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, NamedTuple

from gitcoord.models import Holder, iso


class CommitRecord(NamedTuple):
    """A commit the audit trail saw: who made it, for which task, how it arrived."""

    sha: str
    holder: Holder
    task: str | None
    source: str  # commit | merge | amend | rebase | cherry-pick | revert | unverified
    parents: tuple[str, ...]
    committed_at: float | None  # the committer's clock (journal time), if known
    recorded_at: float
    event_seq: int | None
    violation: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "sha": self.sha,
            "holder": self.holder.to_json(),
            "task": self.task,
            "source": self.source,
            "parents": list(self.parents),
            "committed_at": iso(self.committed_at),
            "recorded_at": iso(self.recorded_at),
            "event_seq": self.event_seq,
            "violation": self.violation,
        }


class Rewrite(NamedTuple):
    old_sha: str
    new_sha: str
    kind: str  # amend | rebase
    recorded_at: float
    event_seq: int | None


class CommitsTx(abc.ABC):
    """Commit-recording operations of a transaction."""

    @abc.abstractmethod
    def record_commit(self, rec: CommitRecord) -> bool:
        """Insert ``rec`` unless its SHA is already recorded; True when inserted."""

    @abc.abstractmethod
    def commit_records(self, shas: Sequence[str]) -> dict[str, CommitRecord]:
        """The recorded commits among ``shas`` (an indexed lookup; any number of SHAs)."""

    @abc.abstractmethod
    def record_rewrite(self, rw: Rewrite) -> bool:
        """Insert the mapping unless already known; True when inserted."""

    @abc.abstractmethod
    def rewrites_to(self, new_shas: Sequence[str]) -> dict[str, list[Rewrite]]:
        """new SHA -> the rewrites that produced it."""
