"""The SQL of :class:`gitcoord.store.commits_api.CommitsTx`, for both engines (see :mod:`gitcoord.store.sql_tx`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gitcoord.models import Holder
from gitcoord.store.commits_api import CommitRecord, CommitsTx, Rewrite
from gitcoord.store.sql_base import SQLBase, chunks

_COMMIT_COLS = (
    "sha, event_seq, worktree, host, agent, task, source, parents, committed_at, recorded_at,"
    " violation"
)
_REWRITE_COLS = "old_sha, new_sha, kind, event_seq, recorded_at"


def _commit(row: Any) -> CommitRecord:
    return CommitRecord(
        sha=row["sha"],
        holder=Holder(worktree=row["worktree"], host=row["host"], agent=row["agent"]),
        task=row["task"],
        source=row["source"],
        parents=tuple(row["parents"].split()),
        committed_at=row["committed_at"],
        recorded_at=row["recorded_at"],
        event_seq=row["event_seq"],
        violation=bool(row["violation"]),
    )


def _rewrite(row: Any) -> Rewrite:
    return Rewrite(
        old_sha=row["old_sha"],
        new_sha=row["new_sha"],
        kind=row["kind"],
        recorded_at=row["recorded_at"],
        event_seq=row["event_seq"],
    )


class SQLCommits(SQLBase, CommitsTx):

    def record_commit(self, rec: CommitRecord) -> bool:
        cur = self.conn.execute(
            f"INSERT INTO commits({_COMMIT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(sha) DO NOTHING",
            (
                rec.sha,
                rec.event_seq,
                rec.holder.worktree,
                rec.holder.host,
                rec.holder.agent,
                rec.task,
                rec.source,
                " ".join(rec.parents),
                rec.committed_at,
                rec.recorded_at,
                int(rec.violation),
            ),
        )
        return bool(cur.rowcount > 0)

    def commit_records(self, shas: Sequence[str]) -> dict[str, CommitRecord]:
        out: dict[str, CommitRecord] = {}
        for chunk in chunks(list(dict.fromkeys(shas))):
            marks = ",".join("?" * len(chunk))
            for row in self._q(f"SELECT {_COMMIT_COLS} FROM commits WHERE sha IN ({marks})", chunk):
                out[row["sha"]] = _commit(row)
        return out

    def record_rewrite(self, rw: Rewrite) -> bool:
        cur = self.conn.execute(
            f"INSERT INTO rewrites({_REWRITE_COLS}) VALUES (?,?,?,?,?)"
            " ON CONFLICT(old_sha, new_sha) DO NOTHING",
            (rw.old_sha, rw.new_sha, rw.kind, rw.event_seq, rw.recorded_at),
        )
        return bool(cur.rowcount > 0)

    def _rewrites(self, column: str, shas: Sequence[str]) -> dict[str, list[Rewrite]]:
        out: dict[str, list[Rewrite]] = {}
        for chunk in chunks(list(dict.fromkeys(shas))):
            marks = ",".join("?" * len(chunk))
            for row in self._q(
                f"SELECT {_REWRITE_COLS} FROM rewrites WHERE {column} IN ({marks}) ORDER BY rowid",
                chunk,
            ):
                out.setdefault(row[column], []).append(_rewrite(row))
        return out

    def rewrites_to(self, new_shas: Sequence[str]) -> dict[str, list[Rewrite]]:
        return self._rewrites("new_sha", new_shas)

