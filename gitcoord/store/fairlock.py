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
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

SLOTS = 256


class _TurnTimeout(Exception):
    pass


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _TurnTimeout


class WriterQueue:
    def __init__(self, directory: Path, timeout: float | None, slots: int = SLOTS) -> None:
        self.dir = directory
        self.timeout = timeout
        self.slots = slots
        self._ticket = os.path.join(directory, "ticket")
        self._ready = False
        self.waited = 0.0  # seconds the last turn took to come (what is left of the timeout is SQLite's)

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
        t0 = time.monotonic()
        mine = self._enqueue()
        self.waited = time.monotonic() - t0
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
            if mine is not None:
                os.close(mine)  # wakes the successor

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
            if not _try(tfd, fcntl.LOCK_EX):
                with self._deadline():  # (held for a moment; a stopped holder must not hang us)
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
        except (OSError, _TurnTimeout):
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
            if not _try(prev, fcntl.LOCK_SH):
                with self._deadline():
                    fcntl.flock(prev, fcntl.LOCK_SH)
        except _TurnTimeout:
            pass  # the predecessor is stuck: go ahead, SQLite's busy timeout decides
        finally:
            os.close(prev)

    @contextmanager
    def _deadline(self) -> Iterator[None]:
        """Raise _TurnTimeout after ``timeout`` seconds (at once for 0), when a timer can
        be used (the main thread, SIGALRM otherwise unused); else wait as long as it takes."""
        if self.timeout is not None and self.timeout <= 0:
            raise _TurnTimeout  # (a zero timer would disarm, not fire)
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


def _try(fd: int, op: int) -> bool:
    try:
        fcntl.flock(fd, op | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


_local = threading.local()
