"""The embedded SQLite store: WAL, ``BEGIN IMMEDIATE`` writes, a busy timeout."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from gitcoord.errors import SchemaTooNew, StoreCorrupt, StoreError, StoreLocked
from gitcoord.models import Clock, Event, SystemClock
from gitcoord.store.base import SCHEMA_VERSION, Store, Tx
from gitcoord.store.hookread import busy_timeout as busy_timeout  # (one parser for both)
from gitcoord.store.migrations import SCHEMA_MIGRATIONS_TABLE, SQLITE_MIGRATIONS, statements
from gitcoord.store.sql_tx import EPOCH_MAX as EPOCH_MAX
from gitcoord.store.sql_tx import SQLTx

NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smbfs", "smb3", "9p", "afs", "sshfs", "fuse.sshfs", "glusterfs", "ceph", "lustre", "davfs", "fuse.rclone"}
)

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


class SQLiteTx(SQLTx):
    TASK_NOT_IN_DETAILS = "task IS NOT json_extract(details, '$.task')"
    TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"


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
                " on a local disk, or share a project across hosts with the PostgreSQL store"
                " (git config gitcoord.store postgresql://...)."
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

    def info(self) -> dict[str, Any]:
        return {
            "kind": "sqlite",
            "location": self.location,
            "project": None,
            "schema_version": self.schema_version(),
        }

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
                        self.conn.execute(SCHEMA_MIGRATIONS_TABLE)
                    for stmt in statements(sql):
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
            tx.record_head()
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
