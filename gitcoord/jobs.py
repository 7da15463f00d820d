"""A small pool of threads for running git processes side by side (status reads every
worktree at once). ``concurrent.futures`` would do, but it imports ``logging``, which
costs a command's start more than the rest of this module does."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def width() -> int:
    """How many git processes to run at once: twice the CPUs, at least 2 and at most 16
    (a git process waits on the disk and on its own start as much as it computes)."""
    return max(2, min(16, 2 * (os.cpu_count() or 1)))


class Job(Generic[T]):
    """One call's outcome, once a worker has run it."""

    def __init__(self, fn: Callable[..., T], args: tuple[Any, ...]) -> None:
        self._fn = fn
        self._args = args
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            self._value = self._fn(*self._args)
        except BaseException as e:  # (handed to whoever asks for the result)
            self._error = e
        finally:
            self._done.set()

    def result(self) -> T:
        """The call's value (waiting for it), or its exception raised here."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class Pool:
    """At most ``size`` calls at a time, in daemon threads (one more per call until there
    are ``size``), taken in the order submitted. A job may wait for a job submitted before
    it (a worker has taken that one already), never for a later one (every worker could
    be waiting)."""

    def __init__(self, size: int | None = None) -> None:
        self._size = size or width()
        self._queue: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def submit(self, fn: Callable[..., T], *args: Any) -> Job[T]:
        job: Job[T] = Job(fn, args)
        self._queue.put(job)
        if len(self._threads) < self._size:
            t = threading.Thread(target=self._work, daemon=True)
            self._threads.append(t)
            t.start()
        return job

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            job._run()

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()
        self._threads.clear()

    def __enter__(self) -> Pool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
