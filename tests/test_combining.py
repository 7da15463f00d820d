"""Combined ``claim --next``: racing processes share write transactions (gitcoord.combining),
each claim still its own; a combiner that dies, a caller that gives up, and garbage in
the request FIFO lose nothing and claim nothing extra."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fixtures.repos.recipes import Project
from gitcoord import claims, context
from gitcoord.combining import RECORD
from tests.conftest import run_cli

pytestmark = pytest.mark.sqlite_only  # combining serves SQLite's writers on one host; PostgreSQL's lock queue is fair

WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from gitcoord import claims, context
    from gitcoord.errors import NothingToClaim
    repo, agent, go, once = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4] == "1"
    ctx = context.load(repo, agent=agent)
    ctx.holder()
    while not go.exists():
        time.sleep(0.005)
    got = []
    while True:
        try:
            result = claims.claim_next(ctx)
        except NothingToClaim:
            break
        got += [[t.id, c.epoch, list(c.holder)] for t, c in result.claimed]
        if once:
            break
    comb = ctx.closers.get("claim-next")
    print(json.dumps({"got": got, "served": comb.served if comb else 0}))
    ctx.close()
    """
)

# Takes the combiner lock and, once `want` records are queued, takes them off the queue
# and dies without serving them (or, with want = 0, holds the lock until told to stop).
DEAD_COMBINER = textwrap.dedent(
    """
    import os, select, sys, time
    from pathlib import Path
    from gitcoord.combining import Combiner, RECORD
    c = Combiner(Path(sys.argv[1]), lambda p: [], lambda r: {}, lambda d: None)
    assert c._ready() and c._try_lock()
    want = int(sys.argv[2])
    print("locked", flush=True)
    if want == 0:
        sys.stdin.readline()
        os._exit(0)
    taken = []
    deadline = time.monotonic() + 60
    while len(taken) < want and time.monotonic() < deadline:
        select.select([c._req_fd], [], [], 0.1)
        taken += c._read(RECORD * want)
    print(len(taken), flush=True)
    os._exit(0)
    """
)


# Takes the combiner lock, waits for `want` queued records, serves them for real (the
# claims commit) and dies before replying.
DIES_AFTER_COMMIT = textwrap.dedent(
    """
    import os, select, sys, time
    from gitcoord import claims, context
    from gitcoord.combining import RECORD, Request
    ctx = context.load(sys.argv[1], agent="doomed")
    comb = claims._combiner(ctx)
    assert comb is not None and comb._ready() and comb._try_lock()
    print("locked", flush=True)
    want = int(sys.argv[2])
    taken = []
    deadline = time.monotonic() + 60
    while len(taken) < want and time.monotonic() < deadline:
        select.select([comb._req_fd], [], [], 0.1)
        taken += comb._read(RECORD * want)
    comb.serve([Request(r["id"], r["p"], False) for r in taken])
    print(len(taken), flush=True)
    os._exit(0)
    """
)


# Like DIES_AFTER_COMMIT, but it stays alive, holding the combiner lock, long past its
# callers' timeout (a process stopped after its commit, before its replies).
STALLS_AFTER_COMMIT = DIES_AFTER_COMMIT.replace(
    'print(len(taken), flush=True)\nos._exit(0)', 'print(len(taken), flush=True)\ntime.sleep(8)\nos._exit(0)'
)
# Serves its queued callers but is stopped before it commits, past their deadline.
STALLS_BEFORE_COMMIT = DIES_AFTER_COMMIT.replace(
    "comb.serve(",
    "import gitcoord.claims as gc\n"
    "real = gc._serve_request\n"
    "def slow(*a, **k):\n"
    "    out = real(*a, **k)\n"
    "    time.sleep(2)\n"
    "    return out\n"
    "gc._serve_request = slow\n"
    "comb.serve(",
).replace('Request(r["id"], r["p"], False)', 'Request(r["id"], r["p"], False, r["until"])')


def _env(host: str) -> dict[str, str]:
    env = dict(os.environ)
    env["GITCOORD_HOST"] = host
    return env


def _import(project: Project, n: int) -> None:
    lines = "".join(json.dumps({"id": f"C-{i}", "title": f"task {i}"}) + "\n" for i in range(n))
    r = run_cli(project.main, "task", "import", "-", input=lines)
    assert r.code == 0, r.stderr


def _workers(project: Project, tmp_path: Path, n: int, *, once: bool) -> tuple[list[subprocess.Popen[str]], Path]:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(project.main), f"w{i}", str(go), "1" if once else "0"],
            env=_env(f"host-{i}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    return procs, go


def _results(procs: list[subprocess.Popen[str]]) -> list[dict[str, object]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr
        out.append(json.loads(stdout))
    return out


def _combine_dir(project: Project) -> Path:
    return project.main / ".git" / "gitcoord" / "combine"


def _lock_holder(project: Project, want: int) -> tuple[Path, subprocess.Popen[str]]:
    """A process holding the combiner lock (see DEAD_COMBINER), once it holds it."""
    assert run_cli(project.main, "init").code == 0
    cdir = _combine_dir(project)
    proc = subprocess.Popen(
        [sys.executable, "-c", DEAD_COMBINER, str(cdir), str(want)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return cdir, proc


def test_racing_processes_share_transactions_each_claim_its_own(project: Project, tmp_path: Path) -> None:
    _import(project, 240)
    procs, go = _workers(project, tmp_path, 8, once=False)
    time.sleep(1.0)
    go.touch()
    results = _results(procs)
    got = [g for r in results for g in r["got"]]  # type: ignore[attr-defined]
    ids = [g[0] for g in got]
    assert len(ids) == 240 and len(set(ids)) == 240  # every task once, none twice
    assert sum(int(r["served"]) for r in results) > 0  # some served others' requests  # type: ignore[call-overload]
    for i, r in enumerate(results):  # each claim is the caller's own: its holder
        assert {g[2][1] for g in r["got"]} <= {f"host-{i}"}  # type: ignore[attr-defined]
    # the store agrees: one claim per task, held by whoever was told it got it
    ctx = context.load(project.main)
    try:
        for task_id, epoch, holder in got:
            shown = claims.show_task(ctx, task_id)
            assert [(c.epoch, list(c.holder)) for c in shown.claims] == [(epoch, holder)]
    finally:
        ctx.close()
    events = run_cli(project.main, "--json", "log", "--kind", "claim.granted", "--limit", "1000").json()["events"]
    assert sorted(e["details"]["epoch"] for e in events) == sorted(g[1] for g in got)
    assert run_cli(project.main, "--json", "audit", "verify").json()["ok"]


def test_a_combiner_that_dies_with_requests_taken_loses_nothing(project: Project, tmp_path: Path) -> None:
    _import(project, 10)
    _, dead = _lock_holder(project, 3)
    assert dead.stdout is not None
    procs, go = _workers(project, tmp_path, 3, once=True)
    go.touch()
    assert dead.stdout.readline().strip() == "3"  # it took all three requests, then died
    dead.wait(timeout=30)
    results = _results(procs)
    got = [g for r in results for g in r["got"]]  # type: ignore[attr-defined]
    assert len(got) == 3 and len({g[0] for g in got}) == 3
    active = run_cli(project.main, "--json", "task", "list", "--status", "claimed").json()["tasks"]
    assert sorted(t["id"] for t in active) == sorted(g[0] for g in got)  # no orphan claim
    for stream in (dead.stdin, dead.stdout, dead.stderr):
        if stream is not None:
            stream.close()


def _combiner_proc(project: Project, script: str) -> subprocess.Popen[str]:
    """10 tasks, and a process running ``script`` (one of the *_COMMIT scripts) for 3
    requests, once it holds the combiner lock."""
    _import(project, 10)
    assert run_cli(project.main, "init").code == 0
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(project.main), "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().strip() == "locked", proc.stderr.read()
    return proc


def test_a_combiner_that_dies_after_committing_leaves_no_orphan(project: Project, tmp_path: Path) -> None:
    """Its callers find the claims made for them (by request id) instead of claiming
    again: every committed claim is reported to exactly the caller it was made for."""
    doomed = _combiner_proc(project, DIES_AFTER_COMMIT)
    assert doomed.stdout is not None and doomed.stderr is not None
    procs, go = _workers(project, tmp_path, 3, once=True)
    go.touch()
    assert doomed.stdout.readline().strip() == "3"
    doomed.wait(timeout=30)
    results = _results(procs)
    got = [g for r in results for g in r["got"]]  # type: ignore[attr-defined]
    assert len(got) == 3 and len({g[0] for g in got}) == 3
    active = run_cli(project.main, "--json", "task", "list", "--status", "claimed").json()["tasks"]
    assert sorted(t["id"] for t in active) == sorted(g[0] for g in got)  # nothing claimed twice
    for i, r in enumerate(results):  # and each claim went to the caller it was made for
        assert [g[2][1] for g in r["got"]] == [f"host-{i}"]  # type: ignore[attr-defined]
    doomed.stdout.close()
    doomed.stderr.close()


def test_recovering_a_request_finds_its_claims_and_claims_nothing_new(project: Project) -> None:
    from gitcoord.combining import Request

    _import(project, 5)
    ctx = context.load(project.main, agent="me")
    try:
        serve = claims._serve_next(ctx)
        payload = {"holder": list(ctx.holder()), "ttl": 600.0, "count": 2}
        [(first, _)] = serve([Request("req-1", payload, False)])
        assert isinstance(first, claims.ClaimResult) and len(first.claimed) == 2
        [(again, events)] = serve([Request("req-1", payload, True)])
        assert isinstance(again, claims.ClaimResult)
        assert [c.epoch for _, c in again.claimed] == [c.epoch for _, c in first.claimed]
        # nothing new happened, and its caller gets the events of its claims for its
        # event hooks (the combiner that made them died before replying)
        assert [(e.kind, e.details["epoch"]) for e in events] == [
            ("claim.granted", c.epoch) for _, c in first.claimed
        ]
        assert len(run_cli(project.main, "--json", "log", "--kind", "claim.granted").json()["events"]) == 2
        [(fresh, _)] = serve([Request("req-2", payload, True)])  # never served: claims now
        assert isinstance(fresh, claims.ClaimResult) and len(fresh.claimed) == 2
        assert not {t.id for t, _ in fresh.claimed} & {t.id for t, _ in first.claimed}
    finally:
        ctx.close()


def test_a_reply_too_big_for_one_write_goes_in_short_form(project: Project) -> None:
    """A reply is one write of at most PIPE_BUF bytes (never half a line); a task with
    a long body comes back by id and is read from the store."""
    from gitcoord.combining import MESSAGE_MAX, Request

    body = "x" * 200_000
    line = json.dumps({"id": "BIG", "title": "big one", "body": body}) + "\n"
    assert run_cli(project.main, "task", "import", "-", input=line).code == 0
    ctx = context.load(project.main, agent="me")
    try:
        comb = claims._combiner(ctx)
        assert comb is not None and comb._ready()
        payload = {"holder": list(ctx.holder()), "ttl": 600.0, "count": 1}
        [served] = comb.serve([Request("big-1", payload, False)])
        fd = comb._open_reply(comb._reply_fifo())
        try:
            comb._reply(fd, "big-1", served)
        finally:
            os.close(fd)
        raw = os.read(comb._reply_fd, 1 << 20)
        assert raw.endswith(b"\n") and raw.count(b"\n") == 1 and len(raw) <= MESSAGE_MAX
        comb._buf = raw
        msg = comb._wait("big-1", 0)
        assert msg is not None
        result, events = comb.decode(msg["r"])
        [(task, claim)] = result.claimed
        assert task.id == "BIG" and task.body == body and claim.holder == ctx.holder()
        assert [e.kind for e in events] == ["claim.granted"]
    finally:
        ctx.close()


def test_a_caller_killed_while_queued_is_not_served(project: Project, tmp_path: Path) -> None:
    _import(project, 5)
    cdir, holder = _lock_holder(project, 0)
    assert holder.stdin is not None
    keep = os.open(cdir / "requests", os.O_RDWR | os.O_NONBLOCK)  # queued records outlive their writers
    procs, go = _workers(project, tmp_path, 1, once=True)
    go.touch()
    fifos: list[Path] = []
    deadline = time.monotonic() + 30
    while not fifos and time.monotonic() < deadline:  # it queued: its reply FIFO exists
        fifos = [p for p in cdir.iterdir() if p.name.startswith("r-")]
        time.sleep(0.02)
    assert fifos
    time.sleep(0.2)
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait(timeout=30)
    holder.stdin.write("stop\n")
    holder.stdin.flush()
    holder.wait(timeout=30)
    # the next caller combines: the dead caller's queued record is dropped, not served
    out = run_cli(project.main, "--json", "claim", "--next").json()
    assert len(out["claimed"]) == 1
    active = run_cli(project.main, "--json", "task", "list", "--status", "claimed").json()["tasks"]
    assert [t["id"] for t in active] == [out["claimed"][0]["task"]]
    assert not [p for p in cdir.iterdir() if p.name.startswith("r-")]  # its FIFO is gone
    with contextlib.suppress(BlockingIOError):
        assert os.read(keep, RECORD) == b""  # and its record was taken off the queue
    os.close(keep)
    for stream in (holder.stdin, holder.stdout, holder.stderr, procs[0].stdout, procs[0].stderr):
        if stream is not None:
            stream.close()


def test_garbage_and_malformed_requests_are_refused_without_harm(project: Project) -> None:
    _import(project, 3)
    assert run_cli(project.main, "init").code == 0
    cdir = _combine_dir(project)
    cdir.mkdir(exist_ok=True)
    os.mkfifo(cdir / "requests")
    req = os.open(cdir / "requests", os.O_RDWR | os.O_NONBLOCK)
    reply_path = cdir / "r-test"
    os.mkfifo(reply_path)
    reply = os.open(reply_path, os.O_RDWR | os.O_NONBLOCK)
    try:
        os.write(req, b"\xff not json".ljust(RECORD))
        os.write(req, b"[" * RECORD)  # json.loads raises RecursionError on this one
        bad = {"id": "x1", "to": str(reply_path), "p": {"holder": ["", "h", "a"], "ttl": -1, "count": 99}}
        os.write(req, json.dumps(bad).encode().ljust(RECORD))
        ctx = context.load(project.main, agent="me")
        try:
            result = claims.claim_next(ctx)  # combines: serves itself and the queued records
        finally:
            ctx.close()
        assert len(result.claimed) == 1
        msg = json.loads(os.read(reply, 1 << 16).split(b"\n")[0])
        assert msg["id"] == "x1"
        assert msg["r"]["error"]["error"] == "BadInput"
    finally:
        os.close(req)
        os.close(reply)
    claimed = run_cli(project.main, "--json", "task", "list", "--status", "claimed").json()["tasks"]
    assert len(claimed) == 1
    assert run_cli(project.main, "--json", "audit", "verify").json()["ok"]


def test_a_reply_already_waiting_in_the_fifo_is_found(tmp_path: Path) -> None:
    """A caller that takes the lock and finds its record gone looks in its FIFO before
    serving itself: a reply sent there (not yet read) means it was served already.
    (Reading only what was buffered made it claim a second task: an orphan claim.)"""
    from gitcoord.combining import Combiner

    comb = Combiner(tmp_path, lambda p: [], lambda r: {}, lambda d: d)
    assert comb._ready()
    path = comb._reply_fifo()
    writer = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(writer, b'{"id":"older","r":{"x":0}}\n{"id":"abc","r":{"x":1}}\n')
        assert comb._poll_reply("abc") == {"x": 1}
        assert comb._poll_reply("abc") is None  # nothing more for it
    finally:
        os.close(writer)
        comb.close()
    assert not Path(path).exists()  # close removes our reply FIFO


def test_a_request_past_its_deadline_is_refused_and_claims_nothing(project: Project) -> None:
    """Its caller stops waiting about then; claiming for it would leave an orphan."""
    from gitcoord.combining import Request
    from gitcoord.errors import StoreLocked

    _import(project, 3)
    ctx = context.load(project.main, agent="me")
    try:
        payload = {"holder": list(ctx.holder()), "ttl": 600.0, "count": 1}
        [(late, events)] = claims._serve_next(ctx)([Request("late", payload, False, time.monotonic() - 1)])
        assert isinstance(late, StoreLocked) and events == []
    finally:
        ctx.close()
    assert run_cli(project.main, "--json", "task", "list", "--status", "claimed").json()["tasks"] == []


def _fake(tmp_path: Path, serve):  # type: ignore[no-untyped-def]
    from gitcoord.combining import Combiner

    comb = Combiner(tmp_path, serve, lambda r: {"v": r}, lambda d: d["v"])
    assert comb._ready()
    return comb


def test_an_exception_while_combining_still_hands_the_lock_on(tmp_path: Path) -> None:
    import fcntl

    import pytest

    def boom(requests):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    comb = _fake(tmp_path, boom)
    with pytest.raises(KeyboardInterrupt):
        comb.call({"x": 1})
    other = _fake(tmp_path, lambda reqs: [r.payload["x"] for r in reqs])
    try:
        assert other._try_lock()  # the combiner lock was released
        other._unlock()
        fd = os.open(tmp_path / "outbox", os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # and so was outbox
        os.close(fd)
        assert other.call({"x": 7}) == 7
    finally:
        comb.close()
        other.close()


def test_the_hand_over_goes_to_a_caller_that_lost_its_combiner_first(tmp_path: Path) -> None:
    """A nudge (a caller whose record died with a combiner) gets the lock before the
    oldest queued record: otherwise live callers passing the lock among themselves
    can starve it."""
    from gitcoord.combining import _record

    a = _fake(tmp_path, lambda reqs: [r.payload.get("x") for r in reqs])
    b = _fake(tmp_path, lambda reqs: [])
    c = _fake(tmp_path, lambda reqs: [])
    try:
        assert a._try_lock()
        a._publish(_record({"id": "b1", "to": b._reply_fifo(), "p": {"x": 2}}))  # type: ignore[arg-type]
        a._publish(_record({"id": "c1", "to": c._reply_fifo(), "nudge": True}))  # type: ignore[arg-type]
        assert a._lead({"id": "a1", "to": "", "p": {"x": 1}}, published=False) == 1
        assert b._wait("b1", 1.0) == {"id": "b1", "r": {"v": 2}}  # served in the batch
        assert c._wait("c1", 1.0) == {"id": "c1", "takeover": True}  # and c is next
        assert c._try_lock()
    finally:
        for comb in (a, b, c):
            comb.close()


def _stalled(project: Project, tmp_path: Path, script: str) -> list[subprocess.Popen[str]]:
    """Three callers (timeout 1 s) queued behind a combiner running ``script``, which
    has taken their records; returned once that combiner is gone."""
    stuck = _combiner_proc(project, script)
    assert stuck.stdout is not None and stuck.stderr is not None
    os.environ["GITCOORD_BUSY_TIMEOUT"] = "1"
    try:
        procs, go = _workers(project, tmp_path, 3, once=True)
    finally:
        del os.environ["GITCOORD_BUSY_TIMEOUT"]
    go.touch()
    for p in procs:
        p.wait(timeout=120)
    stuck.wait(timeout=60)
    stuck.stdout.close()
    stuck.stderr.close()
    return procs


def _claimed(project: Project) -> list[str]:
    tasks = run_cli(project.main, "--json", "task", "list", "--status", "claimed").json()["tasks"]
    return sorted(t["id"] for t in tasks)


def test_callers_of_a_combiner_stopped_after_its_commit_find_their_claims(
    project: Project, tmp_path: Path
) -> None:
    """No reply long past the deadline: each caller serves itself as a recovery and
    finds the claim made for it, instead of failing while holding it unawares."""
    got = [g for r in _results(_stalled(project, tmp_path, STALLS_AFTER_COMMIT)) for g in r["got"]]  # type: ignore[attr-defined]
    assert len(got) == 3 and len({g[0] for g in got}) == 3
    assert _claimed(project) == sorted(g[0] for g in got)  # no claim for nobody


def test_a_combiner_stopped_before_its_commit_commits_nothing_for_callers_gone(
    project: Project, tmp_path: Path
) -> None:
    """It holds the store's write lock past its callers' patience: they fail as a
    locked store fails them (exit 3 from the CLI), and what it had done for them is
    rolled back when it resumes, not committed for nobody."""
    procs = _stalled(project, tmp_path, STALLS_BEFORE_COMMIT)
    for p in procs:
        _, err = p.communicate(timeout=10)
        assert p.returncode != 0 and "StoreLocked" in err
    assert _claimed(project) == []
