"""The edit guard's one query into the SQLite store: ``sqlite3`` and the commit hook's
fast-path connection (:mod:`gitcoord.store.hookread`), nothing else.

The active leases whose index key is the edited path or one of its ancestors: the rows
that could cover it (files by path, directories by path, globs by their literal
directory prefix), as the full check's ``lease_candidates`` finds them, each marked as
the editing worktree's own or another holder's. :mod:`gitcoord.guard` allows the edit at
once when no other holder's row covers the path, and evaluates only these. It never
writes.
"""

from __future__ import annotations

import sqlite3

from gitcoord.store.hookread import Unsure, now

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

LeaseRow = tuple[str, str, str, bool, bool]  # (pattern, kind, key, exclusive, mine)


def leases_at(
    conn: sqlite3.Connection, keys: Sequence[str], worktree: str, host: str
) -> list[LeaseRow]:
    """Active leases keyed at ``keys`` by the store's clock, ``mine`` when (``worktree``,
    ``host``) holds them. One statement; :class:`Unsure` when the store cannot answer."""
    marks = ",".join("?" * len(keys))
    try:
        rows = conn.execute(
            "SELECT pattern, kind, key, exclusive, worktree = ? AND host = ? FROM leases"
            f" WHERE state = 'active' AND key IN ({marks}) AND expires_at > ?",
            (worktree, host, *keys, now()),
        ).fetchall()
    except sqlite3.Error as e:
        raise Unsure(str(e)) from e
    return [(p, k, key, bool(x), bool(m)) for p, k, key, x, m in rows]
