"""A fair (FIFO) queue for SQLite writers, built from ``flock(2)`` on small files.

SQLite's busy handler is sleep-and-retry, and a plain ``flock`` is not fair either:
the lock is free for a moment after each release and whoever asks first (usually the
process that just released it) wins, so with dozens of processes on few cores some
wait for seconds. Writers that go through :class:`WriterQueue` take a ticket and wait
for *their predecessor only*:

- under a short exclusive flock on ``ticket``, a writer reads and bumps the counter
  (ticket ``t``) and locks slot file ``slot-(t mod N)`` — its own turn marker;
- it then blocks in ``flock`` on slot ``t-1``: that lock frees when the predecessor's
  transaction is over (or when it dies: the kernel drops the locks of a dead
  process), and nobody else ever waits on it, so the hand-over is direct;
- after its transaction it closes its slot, which wakes exactly its successor.

The queue is only about fairness: mutual exclusion still comes from ``BEGIN
IMMEDIATE``. So whenever the queue cannot be used (more than N waiters at once, a
wait longer than the timeout, an unwritable directory) a writer simply goes ahead
and SQLite's own locking and busy timeout take over.

Checkpoints: SQLite checkpoints the WAL inside the ``COMMIT`` that crosses
``wal_autocheckpoint`` frames, with two fsyncs, and the whole queue would wait for it.
So a queued connection's autocheckpoint is off; after passing
the turn on a writer reads the WAL-index header (``mxFrame`` and ``nBackfill``, see
https://www.sqlite.org/walformat.html) and, when that many frames are pending, runs a
``PASSIVE`` checkpoint, which does not block writers.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType

SLOTS = 256


class _TurnTimeout(Exception):
    pass


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _TurnTimeout


class WriterQueue:
    def __init__(
        self,
        directory: Path,
        timeout: float | None,
        slots: int = SLOTS,
        *,
        conn: sqlite3.Connection | None = None,
        db: Path | None = None,
    ) -> None:
        self.dir = directory
        self.timeout = timeout
        self.slots = slots
        self._ticket = os.path.join(directory, "ticket")
        self._ready = False
        self.conn = conn  # with db: defer this connection's checkpoints past our turn
        self._shm = f"{db}-shm" if db is not None else None
        self._auto: int | None = None
        self._shm_fd = -1
        # Set: the checkpoint after a turn waits for an explicit checkpoint_if_due().
        self.defer_checkpoints = False

    def _slot(self, ticket: int) -> int:
        return os.open(
            os.path.join(self.dir, f"slot-{ticket % self.slots}"),
            os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
            0o666,
        )

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Wait for this writer's turn; the turn passes on when the block exits.
        Re-entrant per thread."""
        held: set[str] = _local.__dict__.setdefault("held", set())
        key = str(self.dir)
        if key in held:
            yield
            return
        mine = self._enqueue()
        held.add(key)
        ours = self._own_checkpoints()
        try:
            yield
        finally:
            held.discard(key)
            if mine is not None:
                os.close(mine)  # wakes the successor
            if ours and not self.defer_checkpoints:
                self.checkpoint_if_due()

    # -- checkpoints outside the turn ----------------------------------------------
    def _own_checkpoints(self) -> bool:
        """Take checkpoints off the connection's commits (once: every write of the
        connection goes through :meth:`hold`); we run them after our turn instead."""
        if self.conn is None or self._shm is None:
            return False
        if self._auto is None:
            try:
                auto = int(self.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
                if auto > 0:
                    self.conn.execute("PRAGMA wal_autocheckpoint = 0")
                self._auto = auto
            except sqlite3.Error:
                return False
        return self._auto > 0

    def checkpoint_if_due(self) -> None:
        if self.conn is None or self._shm is None or not self._auto or self._auto <= 0:
            return
        try:
            if self._shm_fd < 0:  # kept open: the -shm file lives as long as our connection
                self._shm_fd = os.open(self._shm, os.O_RDONLY | os.O_CLOEXEC)
            head = os.pread(self._shm_fd, 104, 0)
            if len(head) < 100:
                return
            mx_frame = struct.unpack_from("=I", head, 16)[0]
            backfilled = struct.unpack_from("=I", head, 96)[0]
            if mx_frame - backfilled >= self._auto and not self.conn.in_transaction:
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except (OSError, sqlite3.Error):
            pass

    def close(self) -> None:
        if self._shm_fd >= 0:
            with suppress(OSError):
                os.close(self._shm_fd)
            self._shm_fd = -1

    def _enqueue(self) -> int | None:
        """Take a ticket, lock our slot, wait for the predecessor's. Returns our slot's
        descriptor (None: going ahead without the queue)."""
        try:
            if not self._ready:
                self.dir.mkdir(exist_ok=True)
                self._ready = True
            tfd = os.open(self._ticket, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError:
            return None
        try:
            fcntl.flock(tfd, fcntl.LOCK_EX)
            raw = os.pread(tfd, 32, 0).strip()
            ticket = (int(raw) if raw.isdigit() else 0) + 1
            os.pwrite(tfd, b"%020d" % ticket, 0)
            mine = self._slot(ticket)
            try:
                fcntl.flock(mine, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # the slot is still taken: more than `slots` waiters
                os.close(mine)
                return None
        except OSError:
            return None
        finally:
            os.close(tfd)
        self._wait_turn(ticket)
        return mine

    def _wait_turn(self, ticket: int) -> None:
        """Block until ticket ``ticket - 1`` is done (its slot is unlocked)."""
        try:
            prev = self._slot(ticket - 1)
        except OSError:
            return
        try:
            if not _try_shared(prev):
                with self._deadline():
                    fcntl.flock(prev, fcntl.LOCK_SH)
        except _TurnTimeout:
            pass  # the predecessor is stuck: go ahead, SQLite's busy timeout decides
        finally:
            os.close(prev)

    @contextmanager
    def _deadline(self) -> Iterator[None]:
        """Raise _TurnTimeout after ``timeout`` seconds, when a timer can be used (the
        main thread, SIGALRM otherwise unused); else wait as long as it takes."""
        if (
            self.timeout is None
            or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, None)
            or signal.getitimer(signal.ITIMER_REAL)[0] > 0
        ):
            yield
            return
        old = signal.signal(signal.SIGALRM, _on_alarm)
        try:
            try:
                signal.setitimer(signal.ITIMER_REAL, self.timeout)
                yield
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            signal.signal(signal.SIGALRM, old)


def _try_shared(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


_local = threading.local()
