"""The fair writer queue every write transaction waits in (gitcoord.store.fairlock)."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitcoord.store.fairlock import WriterQueue

pytestmark = pytest.mark.sqlite_only  # the SQLite store's fair writer queue


def _worker(d: str, i: int, hold: float, log: Any, ready: Any) -> None:
    q = WriterQueue(Path(d), timeout=30)
    ready.put(i)
    with q.hold():
        log.put((i, "in", time.monotonic()))
        time.sleep(hold)
        log.put((i, "out", time.monotonic()))


def test_turns_are_exclusive_and_first_come_first_served(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    log, ready = ctx.Queue(), ctx.Queue()
    q = WriterQueue(tmp_path, timeout=30)
    procs = []
    with q.hold():  # everyone queues behind us, in the order they arrive
        for i in range(6):
            p = ctx.Process(target=_worker, args=(str(tmp_path), i, 0.02, log, ready))
            p.start()
            procs.append(p)
            assert ready.get(timeout=10) == i
            time.sleep(0.1)  # let it take its ticket before the next one starts
    for p in procs:
        p.join(timeout=30)
    events = [log.get(timeout=5) for _ in range(12)]
    order = [i for i, what, _ in events if what == "in"]
    assert order == list(range(6))
    # never two inside at once
    inside = 0
    for _, what, _ in sorted(events, key=lambda e: e[2]):
        inside += 1 if what == "in" else -1
        assert inside <= 1


@contextlib.contextmanager
def _stuck_writer(d: Path) -> Iterator[Any]:
    """Another process inside its turn, holding it for a minute (killed at the end)."""
    ctx = mp.get_context("fork")
    log, ready = ctx.Queue(), ctx.Queue()
    stuck = ctx.Process(target=_worker, args=(str(d), 0, 60, log, ready))
    stuck.start()
    try:
        ready.get(timeout=10)
        assert log.get(timeout=10)[1] == "in"
        yield stuck
    finally:
        stuck.kill()
        stuck.join()


def test_a_dead_predecessor_frees_the_queue(tmp_path: Path) -> None:
    with _stuck_writer(tmp_path) as stuck:
        t0 = time.monotonic()
        stuck.kill()  # the kernel drops its locks
        stuck.join()
        with WriterQueue(tmp_path, timeout=30).hold():
            pass
        assert time.monotonic() - t0 < 5


def test_a_stuck_predecessor_is_passed_after_the_timeout(tmp_path: Path) -> None:
    with _stuck_writer(tmp_path):
        t0 = time.monotonic()
        with WriterQueue(tmp_path, timeout=0.5).hold():  # goes ahead; SQLite still excludes
            waited = time.monotonic() - t0
        assert 0.4 < waited < 5


def test_reentrant_in_one_thread(tmp_path: Path) -> None:
    q = WriterQueue(tmp_path, timeout=5)
    with q.hold(), WriterQueue(tmp_path, timeout=5).hold():
        pass


def _enter(d: str, timeout: float, log: Any) -> None:
    with WriterQueue(Path(d), timeout=timeout).hold():
        log.put("in")


def _passes(d: Path, timeout: float) -> bool:
    """Whether a writer in another process gets through the queue (not hung)."""
    ctx = mp.get_context("fork")
    log = ctx.Queue()
    p = ctx.Process(target=_enter, args=(str(d), timeout, log))
    p.start()
    p.join(timeout=15)
    hung = p.is_alive()
    if hung:
        p.kill()
        p.join()
    return not hung and p.exitcode == 0 and log.get(timeout=5) == "in"


def test_a_zero_timeout_goes_ahead_at_once_past_a_stuck_predecessor(tmp_path: Path) -> None:
    """GITCOORD_BUSY_TIMEOUT=0: no waiting in the queue either (a zero timer would
    disarm, and the writer would wait for ever); SQLite's busy timeout decides."""
    with _stuck_writer(tmp_path):
        assert _passes(tmp_path, 0)


def test_a_stopped_process_holding_the_ticket_lock_does_not_hang_writers(tmp_path: Path) -> None:
    import fcntl
    import os

    with WriterQueue(tmp_path, timeout=1).hold():  # (makes the directory and the ticket file)
        pass
    fd = os.open(tmp_path / "ticket", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a process stopped between its flock and close
        assert _passes(tmp_path, 0.5)
    finally:
        os.close(fd)
