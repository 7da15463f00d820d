"""The embedded SQLite store: WAL, ``BEGIN IMMEDIATE`` writes, a busy timeout."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import struct
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from gitcoord.errors import SchemaTooNew, StoreCorrupt, StoreError, StoreLocked
from gitcoord.models import Clock, Event, Holder, Lease, Message, Read, SystemClock
from gitcoord.store.base import EVENTS_HEAD_KEY, SCHEMA_VERSION, EventQuery, NewLease, Store, Tx
from gitcoord.store.hookread import busy_timeout as busy_timeout  # (one parser for both)
from gitcoord.store.migrations import SQLITE_MIGRATIONS
from gitcoord.store.sqlite_commits import SQLiteCommits
from gitcoord.store.sqlite_tasks import SQLiteTasks

NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smbfs", "smb3", "9p", "afs", "sshfs", "fuse.sshfs", "glusterfs", "ceph", "lustre", "davfs", "fuse.rclone"}
)

_LEASE_COLS = (
    "id, pattern, kind, key, exclusive, worktree, host, agent, epoch, granted_at, expires_at,"
    " reason, task, base_commit, base_blobs, released_at, state"
)
_EVENT_COLS = "seq, ts, kind, agent, worktree, host, subject, shas, details, prev_hash, hash"


class OffsetClock:
    """The host clock, shifted by ``GITCOORD_TEST_CLOCK_OFFSET`` seconds (tests only)."""

    def __init__(self, offset: float) -> None:
        self.offset = offset
        self._sys = SystemClock()

    def now(self) -> float:
        return self._sys.now() + self.offset


def default_clock() -> Clock:
    raw = os.environ.get("GITCOORD_TEST_CLOCK_OFFSET")
    if raw:
        try:
            return OffsetClock(float(raw))
        except ValueError:
            pass
    return SystemClock()


CHECKPOINT_FRAMES = 1000  # SQLite's own wal_autocheckpoint default
EPOCH_MAX = (1 << 63) - 1  # SQLite INTEGER; past it, arithmetic turns REAL


def filesystem_type(path: Path) -> str | None:
    """The type of the filesystem holding ``path`` (Linux /proc/mounts), if known."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mnt = parts[1].replace("\\040", " ")
        inside = target == mnt or target.startswith(mnt.rstrip("/") + "/")
        if inside and (best is None or len(mnt) > best[0]):
            best = (len(mnt), parts[2])
    return best[1] if best else None


def _translate(e: sqlite3.Error, where: str) -> StoreError:
    msg = str(e)
    if isinstance(e, sqlite3.OperationalError) and ("locked" in msg or "busy" in msg):
        return StoreLocked(
            f"the gitcoord store is locked by another process (waited {busy_timeout():g}s): {where}"
        )
    if isinstance(e, sqlite3.DatabaseError) and (
        "not a database" in msg or "malformed" in msg or "corrupt" in msg
    ):
        return StoreCorrupt(f"the gitcoord store is corrupt ({msg}): {where}")
    return StoreError(f"store error ({msg}): {where}")


def _holder(row: sqlite3.Row) -> Holder:
    return Holder(worktree=row["worktree"], host=row["host"], agent=row["agent"])


def _lease(row: sqlite3.Row) -> Lease:
    """A row of ``SELECT {_LEASE_COLS}``, by position (status reads ten thousand)."""
    (id_, pattern, kind, key, exclusive, worktree, host, agent, epoch, granted_at, expires_at,
     reason, task, base_commit, base_blobs, released_at, state) = row
    return Lease(
        id_, pattern, kind, key, bool(exclusive), Holder(worktree, host, agent), epoch, granted_at,
        expires_at, reason, task, base_commit,
        json.loads(base_blobs) if base_blobs and base_blobs != "{}" else {}, released_at, state,
    )


def _event(row: sqlite3.Row) -> Event:
    return Event(
        seq=row["seq"],
        ts=row["ts"],
        kind=row["kind"],
        agent=row["agent"],
        worktree=row["worktree"],
        host=row["host"],
        subject=row["subject"],
        shas=tuple(json.loads(row["shas"])),
        details=json.loads(row["details"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def _chunks(items: Sequence[str], n: int = 500) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class SQLiteTx(SQLiteTasks, SQLiteCommits, Tx):
    def __init__(self, conn: sqlite3.Connection, now: float) -> None:
        self.conn = conn
        self.now = now
        self.new_events = []

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    # -- counters and metadata ------------------------------------------------
    def reserve_epochs(self, n: int) -> int:
        row = self._q(
            """UPDATE counters SET value = value + ? WHERE name = 'epoch' AND value <= ?
               RETURNING value""",
            (n, EPOCH_MAX - n),
        )
        if not row:  # (SQLite would go on in REAL, where epochs stop being distinct)
            raise StoreError(f"the epoch counter cannot grow by {n} more: it is at its limit")
        return int(row[0][0]) - n + 1

    def get_meta(self, key: str) -> str | None:
        rows = self._q("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- leases ---------------------------------------------------------------
    def insert_lease(self, new: NewLease) -> Lease:
        rows = self._q(
            f"""INSERT INTO leases(pattern, kind, key, exclusive, worktree, host, agent, epoch,
                   granted_at, ttl, expires_at, reason, task, base_commit, base_blobs)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING {_LEASE_COLS}""",
            (
                new.pattern,
                new.kind,
                new.key,
                int(new.exclusive),
                new.holder.worktree,
                new.holder.host,
                new.holder.agent,
                new.epoch,
                self.now,
                new.ttl,
                new.expires_at,
                new.reason,
                new.task,
                new.base_commit,
                json.dumps(new.base_blobs, sort_keys=True),
            ),
        )
        return _lease(rows[0])

    def lease_candidates(self, keys: Sequence[str], subtree_roots: Sequence[str]) -> list[Lease]:
        found: dict[int, Lease] = {}
        uniq = list(dict.fromkeys(keys))
        for chunk in _chunks(uniq):
            marks = ",".join("?" * len(chunk))
            for row in self._q(
                f"SELECT {_LEASE_COLS} FROM leases WHERE state = 'active' AND key IN ({marks})"
                " AND expires_at > ?",
                (*chunk, self.now),
            ):
                found[row["id"]] = _lease(row)
        for root in dict.fromkeys(subtree_roots):
            if root == "":
                rows = self._q(
                    f"SELECT {_LEASE_COLS} FROM leases WHERE state = 'active' AND key > ''"
                    " AND expires_at > ?",
                    (self.now,),
                )
            else:
                # key in (root + '/', root + '0'): exactly the keys strictly below root.
                rows = self._q(
                    f"SELECT {_LEASE_COLS} FROM leases WHERE state = 'active' AND key > ? AND key < ?"
                    " AND expires_at > ?",
                    (root + "/", root + "0", self.now),
                )
            for row in rows:
                found[row["id"]] = _lease(row)
        return sorted(found.values(), key=lambda lease: lease.id)

    def leases(self, *, active_only: bool, holder: Holder | None = None) -> list[Lease]:
        sql = f"SELECT {_LEASE_COLS} FROM leases WHERE 1=1"
        params: list[Any] = []
        if active_only:
            sql += " AND state = 'active' AND expires_at > ?"
            params.append(self.now)
        if holder is not None:
            sql += " AND worktree = ? AND host = ?"
            params += [holder.worktree, holder.host]
        sql += " ORDER BY id"
        return [_lease(r) for r in self._q(sql, params)]

    def get_lease(self, lease_id: int) -> Lease | None:
        rows = self._q(f"SELECT {_LEASE_COLS} FROM leases WHERE id = ?", (lease_id,))
        return _lease(rows[0]) if rows else None

    def due_expired_leases(self) -> list[Lease]:
        rows = self._q(
            f"SELECT {_LEASE_COLS} FROM leases WHERE state = 'active' AND expires_at <= ? ORDER BY id",
            (self.now,),
        )
        return [_lease(r) for r in rows]

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
    ) -> Lease:
        sets: list[str] = []
        params: list[Any] = []
        for col, val in (
            ("expires_at", expires_at),
            ("ttl", ttl),
            ("exclusive", None if exclusive is None else int(exclusive)),
            ("reason", reason),
            ("task", task),
            ("epoch", epoch),
            ("state", state),
            ("base_commit", base_commit),
            ("base_blobs", None if base_blobs is None else json.dumps(base_blobs, sort_keys=True)),
        ):
            if val is not None:
                sets.append(f"{col} = ?")
                params.append(val)
        if state is not None and state != "active":
            sets.append("released_at = ?")
            params.append(self.now)
        if not sets:
            lease = self.get_lease(lease_id)
            assert lease is not None
            return lease
        rows = self._q(
            f"UPDATE leases SET {', '.join(sets)} WHERE id = ? RETURNING {_LEASE_COLS}",
            (*params, lease_id),
        )
        return _lease(rows[0])

    def lease_ttl(self, lease_id: int) -> float:
        rows = self._q("SELECT ttl FROM leases WHERE id = ?", (lease_id,))
        return float(rows[0][0])

    # -- read sets --------------------------------------------------------------
    def upsert_read(self, read: Read) -> None:
        self.conn.execute(
            """INSERT INTO reads(worktree, host, agent, path, blob, commit_sha, read_at)
               VALUES (?,?,?,?,?,?,?)
               ON CONFLICT(worktree, host, path) DO UPDATE SET agent = excluded.agent,
                 blob = excluded.blob, commit_sha = excluded.commit_sha, read_at = excluded.read_at""",
            (
                read.holder.worktree,
                read.holder.host,
                read.holder.agent,
                read.path,
                read.blob,
                read.commit,
                read.read_at,
            ),
        )

    def reads(self, holder: Holder | None = None) -> list[Read]:
        sql = "SELECT * FROM reads"
        params: list[Any] = []
        if holder is not None:
            sql += " WHERE worktree = ? AND host = ?"
            params = [holder.worktree, holder.host]
        sql += " ORDER BY path"
        return [
            Read(
                path=r["path"],
                blob=r["blob"],
                commit=r["commit_sha"],
                holder=_holder(r),
                read_at=r["read_at"],
            )
            for r in self._q(sql, params)
        ]

    # -- audit events -----------------------------------------------------------
    def events_between(self, first: int, last: int) -> list[Event]:
        rows = self._q(
            f"SELECT {_EVENT_COLS} FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last)
        )
        return [_event(r) for r in rows]

    def last_event(self) -> tuple[int, str] | None:
        if self.new_events:  # appended in this transaction: no need to ask
            return self.new_events[-1].seq, self.new_events[-1].hash
        rows = self._q("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def insert_event(self, event: Event, *, task: str | None, paths: Sequence[str]) -> None:
        self.conn.execute(
            f"INSERT INTO events({_EVENT_COLS}, task) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                event.seq,
                event.ts,
                event.kind,
                event.agent,
                event.worktree,
                event.host,
                event.subject,
                json.dumps(list(event.shas)) if event.shas else "[]",
                json.dumps(event.details, sort_keys=True),
                event.prev_hash,
                event.hash,
                task,
            ),
        )
        if paths:
            self.conn.executemany(
                "INSERT INTO event_paths(seq, path) VALUES (?, ?)",
                [(event.seq, p) for p in dict.fromkeys(paths)],
            )

    def events(self, query: EventQuery) -> list[Event]:
        sql = f"SELECT {_EVENT_COLS} FROM events WHERE 1=1"
        params: list[Any] = []
        if query.kinds:
            sql += f" AND kind IN ({','.join('?' * len(query.kinds))})"
            params += list(query.kinds)
        if query.agent is not None:
            sql += " AND agent = ?"
            params.append(query.agent)
        if query.worktree is not None:
            sql += " AND worktree = ?"
            params.append(query.worktree)
        if query.task is not None:
            sql += " AND task = ?"
            params.append(query.task)
        if query.since is not None:
            sql += " AND ts >= ?"
            params.append(query.since)
        if query.until is not None:
            sql += " AND ts < ?"
            params.append(query.until)
        if query.path is not None:
            p = query.path.rstrip("/")
            if not p:  # the root: everything recorded under any path
                sql += " AND seq IN (SELECT seq FROM event_paths)"
            else:
                above = [""] + ["/".join(p.split("/")[:i]) for i in range(1, p.count("/") + 1)]
                above = above if query.ancestors else []
                sql += (
                    " AND seq IN (SELECT seq FROM event_paths WHERE path = ? OR (path > ? AND path < ?)"
                    + "".join(" OR path = ?" for _ in above)
                    + ")"
                )
                params += [p, p + "/", p + "0", *above]
        sql += " ORDER BY seq DESC" if query.newest_first else " ORDER BY seq"
        if query.limit is not None:
            sql += " LIMIT ?"
            params.append(query.limit)
        return [_event(r) for r in self._q(sql, params)]

    def iter_events(self) -> Iterator[Event]:
        cur = self.conn.execute(f"SELECT {_EVENT_COLS} FROM events ORDER BY seq")
        for row in cur:
            yield _event(row)

    def paths_of_events(self, seqs: Sequence[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for chunk in range(0, len(seqs), 500):
            part = list(seqs[chunk : chunk + 500])
            marks = ",".join("?" * len(part))
            for seq, path in self._q(
                f"SELECT seq, path FROM event_paths WHERE seq IN ({marks}) ORDER BY rowid", part
            ):
                out.setdefault(int(seq), []).append(str(path))
        return out

    def events_mis_indexed(self) -> list[int]:
        rows = self._q(
            """SELECT seq FROM events
                WHERE task IS NOT NULL AND task IS NOT json_extract(details, '$.task')
                ORDER BY seq"""
        )
        return [int(r[0]) for r in rows]

    def delete_events_before(self, ts: float) -> list[Event]:
        # The oldest events up to the first at or after ``ts`` (a clock that stepped back
        # can leave older times further on: those stay, as does everything after them).
        stop = self._q("SELECT min(seq) FROM events WHERE ts >= ?", (ts,))[0][0]
        if stop is None:
            rows = self._q(f"SELECT {_EVENT_COLS} FROM events ORDER BY seq")
        else:
            rows = self._q(f"SELECT {_EVENT_COLS} FROM events WHERE seq < ? ORDER BY seq", (stop,))
        if rows:
            last = rows[-1]["seq"]
            self.conn.execute("DELETE FROM event_paths WHERE seq <= ?", (last,))
            self.conn.execute("DELETE FROM events WHERE seq <= ?", (last,))
        return [_event(r) for r in rows]

    # -- agent bindings and messages -------------------------------------------
    def get_binding(self, worktree: str, host: str) -> str | None:
        rows = self._q("SELECT agent FROM bindings WHERE worktree = ? AND host = ?", (worktree, host))
        return str(rows[0][0]) if rows else None

    def set_binding(self, worktree: str, host: str, agent: str | None) -> None:
        if agent is None:
            self.conn.execute("DELETE FROM bindings WHERE worktree = ? AND host = ?", (worktree, host))
            return
        self.conn.execute(
            """INSERT INTO bindings(worktree, host, agent, bound_at) VALUES (?,?,?,?)
               ON CONFLICT(worktree, host) DO UPDATE SET agent = excluded.agent, bound_at = excluded.bound_at""",
            (worktree, host, agent, self.now),
        )

    def insert_message(
        self,
        sender: Holder | None,
        body: str,
        *,
        to_agent: str | None,
        to_worktree: str | None = None,
        to_host: str | None = None,
    ) -> Message:
        cur = self.conn.execute(
            """INSERT INTO messages(sent_at, from_agent, from_worktree, from_host, to_agent,
                   to_worktree, to_host, body) VALUES (?,?,?,?,?,?,?,?)""",
            (
                self.now,
                sender.agent if sender else None,
                sender.worktree if sender else None,
                sender.host if sender else None,
                to_agent,
                to_worktree,
                to_host,
                body,
            ),
        )
        return Message(
            id=int(cur.lastrowid or 0),
            sent_at=self.now,
            sender=sender,
            to_agent=to_agent,
            to_worktree=to_worktree,
            to_host=to_host,
            body=body,
        )

    # -- status -------------------------------------------------------------
    def last_activity(self) -> dict[tuple[str, str], float]:
        rows = self._q(
            # (an expiry is recorded under the holder whose lease or claim ran out: not its doing)
            "SELECT worktree, host, max(ts) FROM events WHERE worktree IS NOT NULL"
            " AND kind NOT IN ('lease.expired', 'claim.expired') GROUP BY worktree, host"
        )
        return {(r[0], r[1]): float(r[2]) for r in rows}

    def lapsed_leases(self) -> list[Lease]:
        rows = self._q(
            f"""SELECT {_LEASE_COLS} FROM leases l
                 WHERE (l.state = 'expired' OR (l.state = 'active' AND l.expires_at <= ?))
                   AND NOT EXISTS (SELECT 1 FROM leases n
                                    WHERE n.worktree = l.worktree AND n.host = l.host
                                      AND n.pattern = l.pattern AND n.id > l.id)
                 ORDER BY l.id""",
            (self.now,),
        )
        return [_lease(r) for r in rows]

    def unacked_message_counts(self) -> dict[str, int]:
        rows = self._q(
            "SELECT coalesce(to_agent, to_worktree), count(*) FROM messages"
            " WHERE acked_at IS NULL AND coalesce(to_agent, to_worktree) IS NOT NULL"
            " GROUP BY coalesce(to_agent, to_worktree)"
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        out: dict[str, list[tuple[Any, ...]]] = {}
        tables = [
            r[0]
            for r in self._q(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        for t in tables:
            out[t] = sorted((tuple(r) for r in self._q(f'SELECT * FROM "{t}"')), key=repr)
        return out


class SQLiteStore(Store):
    def __init__(self, path: Path, conn: sqlite3.Connection, clock: Clock) -> None:
        self.path = path
        self.location = str(path)
        self.conn = conn
        self.clock = clock
        self._shm_fd = -1

    # -- opening ----------------------------------------------------------------
    @classmethod
    def open(
        cls, path: Path, *, create: bool = True, clock: Clock | None = None, anew: bool = False
    ) -> SQLiteStore:
        """Open (migrating, and making it when ``create``) the store at ``path``. One that
        was made and is now gone or empty is refused, unless ``anew`` (``gitcoord init``):
        then a new, empty one is made and ``started_anew`` says so."""
        clock = clock or default_clock()
        made = cls._made_marker(path)
        lost = not path.exists() or path.stat().st_size == 0
        started_anew = False
        if lost and made.exists():
            # A store was made here and is gone (deleted, truncated): making a new one
            # would silently start the history and every lease afresh.
            if not (anew and create):
                raise StoreCorrupt(
                    f"the gitcoord store at {path} is {'gone' if not path.exists() else 'empty'},"
                    f" though one was made there: restore it from a backup, or run"
                    " `gitcoord init` to start a new, empty store"
                )
            started_anew = True
        if not path.exists():
            if not create:
                raise StoreError(
                    f"no gitcoord store at {path} (run `gitcoord init` in this repository)"
                )
            cls._check_filesystem(path.parent)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the store directory {path.parent}: {e}") from e
        conn = cls._connect(path)
        store = cls(path, conn, clock)
        try:
            version = store.schema_version()
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"the gitcoord store at {path} has schema version {version}, newer than this"
                    f" gitcoord knows ({SCHEMA_VERSION}); upgrade gitcoord"
                )
            if version < SCHEMA_VERSION:
                # First-time setup and upgrades: one process at a time (each migration is
                # also its own BEGIN IMMEDIATE transaction that re-checks the version).
                from filelock import FileLock, Timeout

                try:
                    with FileLock(str(path.parent / "setup.lock"), timeout=busy_timeout()):
                        store._migrate()
                except Timeout as e:
                    raise StoreLocked(f"timed out waiting for {path.parent / 'setup.lock'}") from e
        except BaseException:
            conn.close()
            raise
        if not made.exists():
            with contextlib.suppress(OSError):  # (a store we cannot mark is still usable)
                made.write_text(f"{path.name}: made (or first opened) by gitcoord\n")
        store.started_anew = started_anew
        return store

    @staticmethod
    def _made_marker(path: Path) -> Path:
        return path.with_name(path.name + ".made")

    @staticmethod
    def _check_filesystem(directory: Path) -> None:
        probe = directory
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        fstype = filesystem_type(probe)
        if fstype and (fstype in NETWORK_FILESYSTEMS or fstype.startswith("nfs")):
            raise StoreError(
                f"refusing to put the SQLite store on a network filesystem ({fstype}) at {directory}:"
                " SQLite locking is unreliable there. Keep the repository (its common git dir)"
                " on a local disk; the PostgreSQL store for several hosts is not built yet."
            )

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        timeout = busy_timeout()
        try:
            conn = sqlite3.connect(
                str(path), timeout=timeout, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # see housekeeping()
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as e:
            raise _translate(e, str(path)) from e
        return conn

    def schema_version(self) -> int:
        try:
            return int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.Error as e:
            raise _translate(e, self.location) from e

    def _migrate(self) -> None:
        """Apply pending migrations; safe when several processes open a fresh store at once."""
        for version, name, sql in SQLITE_MIGRATIONS:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    current = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
                    if current > SCHEMA_VERSION:
                        raise SchemaTooNew(
                            f"the gitcoord store at {self.location} has schema version {current},"
                            f" newer than this gitcoord knows ({SCHEMA_VERSION}); upgrade gitcoord"
                        )
                    if current >= version:
                        self.conn.execute("COMMIT")
                        continue
                    if version == 1:
                        self.conn.execute(
                            "CREATE TABLE IF NOT EXISTS schema_migrations ("
                            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
                        )
                    for stmt in _statements(sql):
                        self.conn.execute(stmt)
                    self.conn.execute(
                        "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                        (version, name, self.clock.now()),
                    )
                    self.conn.execute(f"PRAGMA user_version = {version}")
                    self.conn.execute("COMMIT")
                except BaseException:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise _translate(e, self.location) from e

    # -- transactions -----------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """``BEGIN IMMEDIATE`` after a turn in the fair writer queue; the events of the
        committed transaction go to ``on_commit`` once the turn has passed on, so a slow
        event hook never holds up other writers."""
        committed: list[Event] = []
        with self.writer_lock():
            queue = self.__dict__.get("_writer_queue")
            waited = queue.waited if queue is not None else 0.0
            # the busy timeout bounds the whole wait, the turn in the queue included
            left = max(0.0, busy_timeout() - waited) if waited > 0.05 else None
            yield from self._tx("BEGIN IMMEDIATE", committed, busy=left)
        if not self.defer_housekeeping:
            self.housekeeping()
        if committed and self.on_commit is not None:
            self.on_commit(committed)

    @contextmanager
    def snapshot(self) -> Iterator[Tx]:
        yield from self._tx("BEGIN", [])

    def _tx(self, begin: str, committed: list[Event], *, busy: float | None = None) -> Iterator[Tx]:
        """``begin`` (waiting ``busy`` seconds for the lock instead of the busy timeout), ...,
        and COMMIT or ROLLBACK."""
        try:
            if busy is None:
                self.conn.execute(begin)
            else:
                self.conn.execute(f"PRAGMA busy_timeout = {int(busy * 1000)}")
                try:
                    self.conn.execute(begin)
                finally:
                    self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout() * 1000)}")
        except sqlite3.Error as e:
            raise _translate(e, self.location) from e
        tx = SQLiteTx(self.conn, self.clock.now())
        try:
            yield tx
        except sqlite3.Error as e:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise _translate(e, self.location) from e
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        try:
            if tx.new_events:  # the head of the audit trail, for `audit verify`
                last = tx.new_events[-1]
                tx.set_meta(EVENTS_HEAD_KEY, f"{last.seq} {last.hash}")
            self.conn.execute("COMMIT")
        except sqlite3.Error as e:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise _translate(e, self.location) from e
        committed.extend(tx.new_events)

    def combining_dir(self) -> Path | None:
        return self.path.parent / "combine"

    def writer_lock(self) -> AbstractContextManager[None]:
        """Wait in a fair (FIFO) queue of writers before ``BEGIN IMMEDIATE`` (see
        :mod:`gitcoord.store.fairlock`); every :meth:`transaction` takes it (re-entrant)."""
        from gitcoord.store.fairlock import WriterQueue

        queue = self.__dict__.get("_writer_queue")
        if queue is None:
            queue = self.__dict__["_writer_queue"] = WriterQueue(
                self.path.parent / "writers", busy_timeout()
            )
        return queue.hold()

    def housekeeping(self) -> None:
        """The WAL checkpoint, outside any writer's turn. SQLite would run it inside the
        ``COMMIT`` that crosses ``wal_autocheckpoint`` frames, with two fsyncs, and every
        queued writer would wait for it; so our connections have autocheckpoint off
        (:meth:`_connect`) and, after each write transaction, read the WAL-index header
        (``mxFrame`` and ``nBackfill``, https://www.sqlite.org/walformat.html) and run a
        ``PASSIVE`` checkpoint (it does not block writers) when that many frames wait."""
        try:
            if self._shm_fd < 0:  # kept open: the -shm file lives as long as our connection
                self._shm_fd = os.open(f"{self.path}-shm", os.O_RDONLY | os.O_CLOEXEC)
            head = os.pread(self._shm_fd, 104, 0)
            if len(head) < 100 or self.conn.in_transaction:
                return
            mx_frame = struct.unpack_from("=I", head, 16)[0]
            backfilled = struct.unpack_from("=I", head, 96)[0]
            if mx_frame - backfilled >= CHECKPOINT_FRAMES:
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except (OSError, sqlite3.Error):
            pass

    def close(self) -> None:
        if self._shm_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._shm_fd)
            self._shm_fd = -1
        self.conn.close()


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]
