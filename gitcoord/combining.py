"""Combining: whoever gets to the store first serves everyone queued behind it.

When many processes on one host ask for the same kind of write at once (``claim
--next`` under a fleet of agents), running one write transaction each spends most of
the time handing the store's write lock from process to process. Instead (flat
combining, Hendler et al., SPAA 2010), a process publishes its request and whoever
holds the *combiner lock* serves every published request in one transaction, replies
to each, and hands the role on. Each request is still its own operation: its own
holder, epoch, audit event; only the transaction is shared.

The pieces, all in one directory next to the store:

- ``requests``: a FIFO that every participant keeps open. A request is one record of
  exactly :data:`RECORD` bytes (a JSON object padded with spaces). Writes of at most
  ``PIPE_BUF`` bytes are atomic, so records never interleave and can be read one by
  one.
- ``lock``: the combiner lock (``flock``). Only its holder reads ``requests``.
- ``r-<pid>-<random>``: one reply FIFO per process (made as ``t-…`` and renamed once
  open, so an ``r-`` FIFO without a reader belongs to a process that is gone). A
  reply is one JSON line of at most ``PIPE_BUF`` bytes (written whole or not at all;
  a larger result goes in a short form, ``shrink``) carrying the request id, so a
  late reply to an abandoned request is recognised and dropped.

A caller: tries the lock (free: it serves its own request and whatever is queued);
otherwise publishes its request and tries the lock again (this order means that any
request published while a combiner holds the lock is seen by that combiner or by its
hand-over, below); then waits on its reply FIFO.

A combiner: drains ``requests``, serves the batch in one go (one transaction), hands
over, then replies. Handing over: still holding the lock it takes the oldest record
still queued, unlocks, and tells that caller to *take over* (it tries the lock, and
serves itself and the rest). With nothing queued it unlocks and looks once more: a
request that arrived in that instant gets the same treatment. So no request waits on
a timer in normal operation, and the role moves on after every batch (nobody serves
others forever while its own caller waits). The replies go out while the next
combiner is already at work; a shared lock on ``outbox`` held until they are sent
lets a combiner that finds its own record gone wait for its reply (exclusive lock)
instead of mistaking it for lost.

Crashes: a combiner that dies takes its drained records with it. Their callers stop
trusting it after ``patience`` seconds and queue a *nudge* (a record that asks for the
lock; a hand-over goes to a nudge before the oldest record, since live callers pass
the lock among themselves and it is rarely free), then serve themselves with
``recover`` set: serve first looks
for what the dead combiner did under the request's id (it committed: those results
are returned) and only otherwise does the work. A caller interrupted while queued
closes its reply FIFO, and combiners skip records whose FIFO has no reader. A record
carries its caller's deadline (``timeout`` from the call), and serve refuses one past
it rather than act for a caller that has given up: it looks when it reaches the request
and again just before it commits (a combiner stopped in between must not commit for a
caller gone). A caller with no answer ``GRACE`` seconds past its deadline serves itself
with ``recover`` set, so a combiner stopped after committing (before its replies) costs
it nothing: it finds its claims. That transaction waits for the store like any other,
so a store that stays locked fails it as SQLite's busy timeout would. One Combiner
serves one thread.

Whenever combining cannot be used (no FIFOs on this system, a request too big for a
record, the request FIFO full) :meth:`Combiner.call` returns ``None`` and the caller
runs its own transaction as before.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import select
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RECORD = 1024  # bytes per request record; <= PIPE_BUF (4096 on Linux, 512 by POSIX)
MESSAGE_MAX = 4096  # bytes per reply line: PIPE_BUF on Linux, so written whole
PIPE_SIZE = 1 << 20  # ask for a 1 MiB request FIFO (1024 records) where the OS allows
GRACE = 2.0  # a caller gives up this long after its record's deadline


class Request:
    """One request as ``serve`` sees it (a plain class: a NamedTuple costs a fifth of
    a millisecond to define, paid by every `gitcoord claim` start)."""

    __slots__ = ("id", "payload", "recover", "until")

    def __init__(
        self, id: str, payload: dict[str, Any], recover: bool, until: float | None = None
    ) -> None:
        self.id = id  # unique per call: serve may record it with what it does
        self.payload = payload
        # The caller's record was taken off the queue by a combiner that never answered
        # (it died, before or after committing): serve must first look for what that
        # combiner may have done under this id.
        self.recover = recover
        # time.monotonic() after which the caller stops waiting: serve, once it holds
        # the store's write lock, refuses (as a timeout) a request past it. None: ours.
        self.until = until


# serve(requests) -> one result per request. A result goes back to its caller (through
# encode and decode when that is another process); an exception result is raised there.
Serve = Callable[[list[Request]], list[Any]]
Encode = Callable[[Any], dict[str, Any]]
Decode = Callable[[dict[str, Any]], Any]


class Combiner:
    """One per process and directory. ``serve`` runs in whichever process combines."""

    def __init__(
        self,
        directory: Path,
        serve: Serve,
        encode: Encode,
        decode: Decode,
        *,
        shrink: Encode | None = None,
        idle: Callable[[], None] | None = None,
        patience: float = 0.25,
        timeout: float = 10.0,
    ) -> None:
        self.dir = directory
        self.serve = serve
        self.encode = encode
        self.decode = decode
        # the short form of a result whose encoding is over MESSAGE_MAX bytes
        self.shrink = shrink or encode
        self.patience = patience  # before suspecting the combiner that took our record
        self.timeout = timeout  # the longest wait for anything (like SQLite's busy timeout)
        self.idle = idle  # run by a combiner once its replies are out (housekeeping)
        self._pid = -1
        self._broken = False
        self._lock_fd = -1
        self._req_fd = -1
        self._reply_fd = -1
        self._reply_path = ""
        self._real_dir = ""
        self._buf = b""
        self.served = 0  # requests this process served for others (tests, benchmarks)

    # -- set-up ------------------------------------------------------------------
    def _ready(self) -> bool:
        if self._pid == os.getpid():
            return True
        if self._broken:
            return False
        self._forget()  # a forked child must not share its parent's reply FIFO
        try:
            self._setup()
        except OSError:
            self._forget()
            self._broken = True
            return False
        self._pid = os.getpid()
        return True

    def _setup(self) -> None:
        if not hasattr(os, "mkfifo") or getattr(select, "PIPE_BUF", 512) < MESSAGE_MAX:
            raise OSError(errno.ENOSYS, "no FIFOs with atomic writes of a record here")
        self.dir.mkdir(exist_ok=True)
        self._real_dir = os.path.realpath(self.dir)
        self._lock_fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        req = self.dir / "requests"
        with contextlib.suppress(FileExistsError):
            os.mkfifo(req, 0o666)
        if not stat.S_ISFIFO(os.stat(req).st_mode):
            raise OSError(errno.EEXIST, f"{req} is not a FIFO")
        # O_RDWR: the FIFO keeps its contents while anyone has it open, and opening
        # never blocks (Linux and the BSDs allow it on FIFOs).
        self._req_fd = os.open(req, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)
        if setpipe is not None:
            with contextlib.suppress(OSError):
                fcntl.fcntl(self._req_fd, setpipe, PIPE_SIZE)

    def _drop_reply_fifo(self) -> None:
        if self._reply_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._reply_fd)
        if self._reply_path:
            with contextlib.suppress(OSError):
                os.unlink(self._reply_path)
        self._reply_fd = -1
        self._reply_path = ""
        self._buf = b""

    def _sweep(self) -> None:
        """Remove reply FIFOs nobody reads any more (their processes are gone)."""
        with contextlib.suppress(OSError), os.scandir(self.dir) as entries:
            for entry in entries:
                if entry.name.startswith("r-"):
                    fd = self._open_reply(entry.path)
                    if fd >= 0:
                        os.close(fd)

    def _open_reply(self, path: str) -> int:
        """A caller's reply FIFO opened for writing; -1 when nobody reads it (the caller
        is gone or gave up: the FIFO is removed) or it is not a reply FIFO of ours."""
        where = os.path.dirname(path)
        if not os.path.basename(path).startswith("r-") or (
            where != str(self.dir) and os.path.realpath(where) != self._real_dir
        ):
            return -1
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            if e.errno == errno.ENXIO:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            return -1

    def _reply_fifo(self) -> str:
        """Our reply FIFO, made when we first need to wait for someone else."""
        if not self._reply_path:
            self._sweep()
            # Made and opened under a name the sweep skips, then renamed: a FIFO named
            # r-* always has its reader.
            name = f"{os.getpid()}-{os.urandom(4).hex()}"
            temp, path = self.dir / f"t-{name}", self.dir / f"r-{name}"
            os.mkfifo(temp, 0o600)
            try:
                fd = os.open(temp, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
                try:
                    os.rename(temp, path)
                except OSError:
                    os.close(fd)
                    raise
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            self._reply_fd = fd
            self._reply_path = str(path)
        return self._reply_path

    def _forget(self) -> None:
        """Drop descriptors; after a fork, the inherited reply FIFO is the parent's:
        closed here, not removed."""
        if self._pid == os.getpid():
            self._drop_reply_fifo()
        for fd in (self._lock_fd, self._req_fd, self._reply_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._lock_fd = self._req_fd = self._reply_fd = -1
        self._reply_path = ""
        self._buf = b""

    def close(self) -> None:
        if self._pid == os.getpid():
            self._forget()
        self._pid = -1

    # -- the caller's side ----------------------------------------------------------
    def call(self, payload: dict[str, Any]) -> Any:
        """Serve ``payload`` (here or in another process) and return its result, or
        raise its error. ``None``: combining is not possible now; do it yourself."""
        if not self._ready():
            return None
        rid = os.urandom(8).hex()
        own: dict[str, Any] = {"id": rid, "to": "", "p": payload}
        if self._try_lock():
            return self._unwrap(self._lead(own, published=False))
        try:
            own["to"] = self._reply_fifo()
        except OSError:
            return None
        # A combiner refuses the record once this passes (CLOCK_MONOTONIC is one clock
        # for every process on the host); we give up a little later.
        own["until"] = time.monotonic() + self.timeout
        record = _record(own)
        if record is None or not self._publish(record):
            return None
        try:
            result = self._await(own, record)
        except BaseException:
            # Interrupted (or timed out) while queued: close our reply FIFO so that no
            # combiner serves the record any more (it checks for a reader first).
            self._drop_reply_fifo()
            raise
        return self._unwrap(result)

    def _await(self, own: dict[str, Any], record: bytes) -> Any:
        rid = own["id"]
        nudge = _record({"id": rid, "to": own["to"], "nudge": True})
        orphan = False  # no word for `patience`: the combiner that took us may be dead
        while True:
            if self._try_lock():
                return self._lead(own, published=True)
            if time.monotonic() > own["until"] + GRACE:
                msg = self._wait(rid, 0.0)  # one last look
                if msg is not None and "r" in msg:
                    return self.decode(msg["r"])
                # No answer, and no combiner will act on our record any more (serve
                # refuses it past its deadline). One that did may be stuck before its
                # reply: serve it ourselves as a recovery, which finds what was committed
                # for it (or waits for the store like any writer, and times out so).
                return self.serve([Request(rid, own["p"], True)])[0]
            msg = self._wait(rid, self.patience)
            if msg is None:
                # Ask for the lock: the next hand-over goes to a nudge first (the lock
                # is rarely free for long under load, so polling alone can starve).
                orphan = True
                if nudge is not None:
                    self._publish(nudge)
                continue
            if msg.get("takeover"):
                # Our record (or nudge) was taken off the queue: we are next. After a
                # silence, lead as a caller whose record may have been served already.
                if self._try_lock():
                    return self._lead(own, published=orphan)
                if orphan:  # (nudged again; a full queue only means: retry the lock)
                    if nudge is not None:
                        self._publish(nudge)
                elif not self._publish(record):
                    return None  # not served and not queued: do it yourself
                continue
            return self.decode(msg["r"])

    @staticmethod
    def _unwrap(result: Any) -> Any:
        if isinstance(result, BaseException):
            raise result
        return result

    def _publish(self, record: bytes) -> bool:
        try:
            return os.write(self._req_fd, record) == RECORD
        except BlockingIOError:  # the queue is full
            return False

    def _wait(self, rid: str, timeout: float) -> dict[str, Any] | None:
        """The next message for request ``rid`` on our reply FIFO, or None on timeout;
        messages for earlier requests are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                try:
                    msg = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if isinstance(msg, dict) and msg.get("id") == rid:
                    return msg
            left = max(0.0, deadline - time.monotonic())
            try:
                ready, _, _ = select.select([self._reply_fd], [], [], left)
            except InterruptedError:
                continue
            if not ready:
                if left <= 0:
                    return None  # (with timeout 0: after one look at the FIFO itself)
                continue
            try:
                self._buf += os.read(self._reply_fd, 1 << 16)
            except BlockingIOError:
                continue

    # -- the combiner's side ------------------------------------------------------
    def _try_lock(self) -> bool:
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(self) -> None:
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _read(self, limit: int) -> list[dict[str, Any]]:
        """Take up to ``limit`` bytes of whole records off the queue (lock held)."""
        out: list[dict[str, Any]] = []
        while limit >= RECORD:
            try:
                data = os.read(self._req_fd, limit - limit % RECORD)
            except BlockingIOError:
                break
            if not data:
                break
            limit -= len(data)
            for i in range(0, len(data) - RECORD + 1, RECORD):
                try:
                    doc = json.loads(data[i : i + RECORD])
                except Exception:  # noqa: BLE001 - not ours (never written by a Combiner)
                    continue
                if (
                    isinstance(doc, dict)
                    and isinstance(doc.get("id"), str)
                    and isinstance(doc.get("to"), str)
                    and (isinstance(doc.get("p"), dict) or doc.get("nudge") is True)
                    and isinstance(doc.get("until", 0.0), (int, float))
                ):
                    out.append(doc)
        return out

    def _lead(self, own: dict[str, Any], *, published: bool) -> Any:
        """Holding the lock: serve our request and everyone queued, hand the role on,
        then reply (so the next combiner's transaction overlaps our replies). Whatever
        happens, the lock is handed on, ``outbox`` released and every FIFO closed."""
        own_result: Any = None
        replies: list[tuple[tuple[dict[str, Any], int], Any]] = []
        fds: list[int] = []
        nudges: list[dict[str, Any]] = []
        try:
            batch = self._read(PIPE_SIZE)
            nudges = [r for r in batch if r.get("nudge") and r["id"] != own["id"]]
            batch = [r for r in batch if not r.get("nudge")]
            mine = [Request(own["id"], own["p"], False)]
            if published:
                queued = any(r["id"] == own["id"] for r in batch)
                batch = [r for r in batch if r["id"] != own["id"]]
                if not queued:
                    done = self._poll_reply(own["id"])
                    if done is not None:  # served by a combiner before us
                        mine = []
                        own_result = self.decode(done)
                    else:  # taken, not answered: maybe served by a combiner that died
                        mine = [Request(own["id"], own["p"], True)]
            served_ids = {r["id"] for r in batch}
            nudges = [n for n in nudges if n["id"] not in served_ids]
            alive: list[tuple[dict[str, Any], int]] = []
            for req in batch:  # a caller that gave up (or died) is not served
                fd = self._open_reply(req["to"])
                if fd >= 0:
                    fds.append(fd)
                    alive.append((req, fd))
            todo = mine + [Request(r["id"], r["p"], False, float(r.get("until") or 0) or None) for r, _ in alive]
            if todo:
                try:
                    results = self.serve(todo)
                except Exception as e:  # noqa: BLE001 - every queued caller gets the error
                    results = [e] * len(todo)
                if mine:
                    own_result = results[0]
                replies = list(zip(alive, results[len(mine) :]))
        finally:
            self._finish(replies, nudges, fds)
        if self.idle is not None:
            self.idle()
        return own_result

    def _finish(
        self,
        replies: list[tuple[tuple[dict[str, Any], int], Any]],
        nudges: list[dict[str, Any]],
        fds: list[int],
    ) -> None:
        """Hand the lock on, then send the replies under a shared ``outbox`` lock (or
        before handing on, when that lock cannot be had); close every FIFO."""
        outbox = -1
        try:
            try:  # (never blocks: a process stopped holding it must not stall us)
                outbox = self._outbox(fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                self._send_all(replies)  # still holding the lock: safe, only slower
                replies = []
            self._hand_over(nudges)
            self._send_all(replies)
        finally:
            if outbox >= 0:
                os.close(outbox)
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _send_all(self, replies: list[tuple[tuple[dict[str, Any], int], Any]]) -> None:
        for (req, out), result in replies:
            self._reply(out, req["id"], result)
        self.served += len(replies)

    def _reply(self, fd: int, rid: str, result: Any) -> None:
        """One reply: one line of at most PIPE_BUF bytes (so written whole or not at
        all); a result too big for that goes in its short form (``shrink``)."""
        try:
            data = _line({"id": rid, "r": self.encode(result)})
            if len(data) > MESSAGE_MAX:
                data = _line({"id": rid, "r": self.shrink(result)})
        except Exception as e:  # noqa: BLE001 - the caller gets an error, never silence
            data = _line({"id": rid, "r": {"error": error_to_json(e)}})
        if len(data) > MESSAGE_MAX:
            data = _line({"id": rid, "r": {"error": error_to_json(ValueError("reply too large"))}})
        self._send(fd, data)

    def _outbox(self, mode: int) -> int:
        fd = os.open(self.dir / "outbox", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, mode)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _poll_reply(self, rid: str) -> dict[str, Any] | None:
        """Our record was taken off the queue by an earlier combiner: until every
        combiner that handed over has sent its replies (``outbox`` free), keep reading
        our FIFO; then look once more."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                os.close(self._outbox(fcntl.LOCK_EX | fcntl.LOCK_NB))
                free = True
            except BlockingIOError:
                free = False
            msg = self._wait(rid, 0.0 if free else 0.005)
            if msg is not None:
                return msg.get("r")  # a reply; or None: told to take over
            if free or time.monotonic() > deadline:
                # Nobody answered (or a replier is stuck): serve it ourselves, as a
                # recovery. Every combiner commits before it unlocks, so a lookup by
                # the request id finds whatever was done for it.
                return None

    def _hand_over(self, nudges: list[dict[str, Any]] | None = None) -> None:
        """Unlock; a caller that nudged (lost its combiner) or else the oldest queued
        caller is told to take over."""
        waiting = list(nudges or ())
        while True:
            try:
                nxt = [waiting.pop(0)] if waiting else self._read(RECORD)
            finally:
                self._unlock()
            if nxt:
                fd = self._open_reply(nxt[0]["to"])
                if fd >= 0:
                    sent = self._send(fd, _line({"id": nxt[0]["id"], "takeover": True}))
                    os.close(fd)
                    if sent:
                        return
                # that caller is gone: its record is dropped, find another
            elif not self._queued():
                return
            if not self._try_lock():
                return  # another combiner has it and will drain the queue

    def _queued(self) -> bool:
        try:
            ready, _, _ = select.select([self._req_fd], [], [], 0)
        except InterruptedError:
            return True
        return bool(ready)

    def _send(self, fd: int, data: bytes) -> bool:
        """Write one message (at most PIPE_BUF bytes: all of it or nothing) to a
        caller's FIFO. False: nobody reads it any more, or nobody did for `timeout`."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                os.write(fd, data)
                return True
            except BlockingIOError:  # its FIFO is full: a caller that is not reading
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                with contextlib.suppress(InterruptedError):
                    select.select([], [fd], [], min(left, 1.0))
            except OSError:  # EPIPE: the reader is gone
                return False


def _record(doc: dict[str, Any]) -> bytes | None:
    data = json.dumps(doc, separators=(",", ":")).encode()
    return data.ljust(RECORD) if len(data) <= RECORD else None


def _line(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode() + b"\n"


def error_to_json(exc: BaseException) -> dict[str, Any]:
    from gitcoord import errors

    if isinstance(exc, errors.GitcoordError):
        return {"error": type(exc).__name__, "message": exc.message, "details": exc.details}
    return {"error": "StoreError", "message": f"the combining process failed: {exc!r}", "details": {}}


def error_from_json(doc: dict[str, Any]) -> BaseException:
    from gitcoord import errors

    cls = getattr(errors, str(doc.get("error")), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.GitcoordError)):
        cls = errors.StoreError
    return cls(str(doc.get("message", "")), details=doc.get("details") or None)


__all__: Sequence[str] = ("Combiner", "RECORD", "error_from_json", "error_to_json")
