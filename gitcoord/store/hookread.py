"""The commit hook's fast path into the SQLite store: ``sqlite3`` and nothing else.

``hook-impl pre-commit`` first tries to *prove* a commit clean (:mod:`gitcoord.fastpath`)
before paying for the full engine (:mod:`gitcoord.checks`), whose imports cost more than
the check itself. From the store it needs one snapshot, :func:`candidates`: the active
leases of other holders keyed at the touched paths and their ancestors (the rows the
full check's ``lease_candidates`` would match), and whether this worktree has a read set.
The matching itself is :func:`gitcoord.pathmatch.first_covered`, shared by every store.

Another store's twin of this module (say, PostgreSQL's) provides the same two functions:
``connect(...)`` raising :class:`Unsure` when it cannot answer, and
``candidates(conn, keys, worktree, host) -> (rows, has_read_set)`` with rows
``(pattern, kind, key, exclusive)``, judged by the store's own clock. Anything this
module cannot decide raises :class:`Unsure`, and the full engine takes over (and produces
the proper messages and errors). It never writes.

Kept in step with :mod:`gitcoord.store.sqlite` (``lease_candidates``, ``default_clock``);
tests compare the two. ``busy_timeout`` lives here and the store imports it.
"""

from __future__ import annotations

import os
import sqlite3
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from gitcoord.pathmatch import LeaseRow

CHUNK = 500
SCHEMA_VERSION = 6
"""The schema this module reads: :data:`gitcoord.store.migrations.LATEST` (a test compares
them), written out so that the commit hook need not import the migrations."""


class Unsure(Exception):
    """The fast path cannot decide; run the full check."""


def busy_timeout() -> float:
    """GITCOORD_BUSY_TIMEOUT seconds: 10 unless it is a number from 0 to 2,000,000 (SQLite
    takes whole milliseconds in a C int; NaN, infinities and garbage mean the default)."""
    raw = os.environ.get("GITCOORD_BUSY_TIMEOUT")
    try:
        value = float(raw) if raw else 10.0
    except ValueError:
        return 10.0
    return value if 0 <= value <= 2_000_000 else 10.0


def now() -> float:
    """The store clock (the host clock, shifted by ``GITCOORD_TEST_CLOCK_OFFSET`` in tests)."""
    raw = os.environ.get("GITCOORD_TEST_CLOCK_OFFSET")
    offset = 0.0
    if raw:
        try:
            offset = float(raw)
        except ValueError:
            offset = 0.0
    return time.time() + offset


def connect(path: str) -> sqlite3.Connection:
    """An existing, up-to-date store, opened without creating or migrating anything."""
    if not os.path.isfile(path):
        raise Unsure("no store")
    uri = "file:" + path.replace("%", "%25").replace("?", "%3f").replace("#", "%23") + "?mode=rw"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout(), isolation_level=None)
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as e:
        raise Unsure(str(e)) from e
    if version != SCHEMA_VERSION:
        conn.close()
        raise Unsure(f"schema {version}")
    return conn


def candidates(
    conn: sqlite3.Connection, keys: Sequence[str], worktree: str, host: str
) -> tuple[list[LeaseRow], bool]:
    """In one snapshot: the active leases of holders other than (``worktree``, ``host``)
    whose index key is one of ``keys`` (the touched paths and their ancestors), as
    ``(pattern, kind, key, exclusive)`` rows; and whether that worktree has a read set."""
    t = now()
    rows: list[LeaseRow] = []
    try:
        conn.execute("BEGIN")
        try:
            uniq = list(dict.fromkeys(keys))
            for i in range(0, len(uniq), CHUNK):
                chunk = uniq[i : i + CHUNK]
                marks = ",".join("?" * len(chunk))
                for pattern, kind, key, exclusive in conn.execute(
                    "SELECT pattern, kind, key, exclusive FROM leases WHERE state = 'active'"
                    f" AND key IN ({marks}) AND expires_at > ? AND NOT (worktree = ? AND host = ?)",
                    (*chunk, t, worktree, host),
                ):
                    rows.append((pattern, kind, key, bool(exclusive)))
            reads = conn.execute(
                "SELECT 1 FROM reads WHERE worktree = ? AND host = ? LIMIT 1", (worktree, host)
            ).fetchone()
            return rows, reads is not None
        finally:
            conn.execute("ROLLBACK")
    except sqlite3.Error as e:
        raise Unsure(str(e)) from e
