"""Claims: CAS, claim --next order, expiry and fencing, review and health gates, races,
audit (SPEC section 4). A story per test: agents in real worktrees, the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from fixtures.repos.recipes import Project, git
from tests.conftest import Result, run_cli, run_inproc, store_dump, store_sql

LATER = {"GITCOORD_TEST_CLOCK_OFFSET": "120"}  # two minutes on: a 1m claim has expired


def j(cwd: Path, *args: str, agent: str | None = None, env: dict[str, str] | None = None) -> Result:
    e = dict(env or {})
    if agent:
        e["GITCOORD_AGENT"] = agent
    return run_inproc(cwd, "--json", *args, env=e)


def add(cwd: Path, *specs: tuple[str, str, int]) -> None:
    for tid, title, prio in specs:
        r = j(cwd, "task", "add", tid, "--title", title, "--priority", str(prio))
        assert r.code == 0, r.stderr


def kinds(cwd: Path, task: str) -> list[str]:
    return [e["kind"] for e in j(cwd, "log", "--task", task).json()["events"]]


def test_claim_next_takes_priority_then_age_and_skips_blocked_and_waiting(project: Project, gc) -> None:  # type: ignore[no-untyped-def]
    main, a = project.main, project.wt("wt-a")
    add(main, ("old-low", "low", 3), ("blocked-urgent", "urgent but blocked", 0), ("mid-1", "m1", 1))
    add(main, ("mid-2", "m2", 1))
    assert j(main, "task", "add", "needs-mid", "--title", "after mid-1", "--priority", "0", "--after", "mid-1").code == 0
    assert j(main, "block", "blocked-urgent", "--reason", "waiting for API").code == 0

    order = []
    for _ in range(3):
        r = gc(a, "--json", "claim", "--next")
        assert r.code == 0, r.stderr
        (c,) = r.json()["claimed"]
        order.append(c["task"])
        assert c["holder"]["worktree"] == str(a)
    assert order == ["mid-1", "mid-2", "old-low"]  # needs-mid waits, blocked-urgent is blocked

    r = gc(a, "--json", "claim", "--next")
    assert r.code == 1
    assert r.json() == {"claimed": [], "renewed": []}  # an empty result on stdout
    err = r.err_json()["error"]
    assert err["code"] == "nothing_to_claim"
    assert "1 wait for dependencies" in err["message"] and "1 blocked" in err["message"]

    assert j(a, "done", "mid-1").code == 0  # now needs-mid is ready, and most urgent
    assert j(main, "claim", "--next").json()["claimed"][0]["task"] == "needs-mid"


def test_claim_ids_all_or_none_and_reclaim_renews(project: Project) -> None:
    main, a, b = project.main, project.wt("wt-a"), project.wt("wt-b")
    add(main, ("T1", "one", 2), ("T2", "two", 2), ("T3", "three", 2))
    r = j(a, "claim", "T1", agent="alice")
    assert r.code == 0 and r.json()["claimed"][0]["epoch"] >= 1
    epoch = r.json()["claimed"][0]["epoch"]

    before = store_dump(main)["tasks"]
    r = j(b, "claim", "T2", "T1", agent="bob")
    assert r.code == 1
    err = r.err_json()["error"]
    assert err["code"] == "denied"
    assert "T1: claimed by alice" in err["message"] and f"epoch {epoch}" in err["message"]
    assert store_dump(main)["tasks"] == before  # T2 was not claimed either
    assert "claim.denied" in kinds(main, "T1")

    r = j(a, "claim", "T1", "T2", agent="alice", env={"GITCOORD_TEST_CLOCK_OFFSET": "30"})
    assert r.code == 0
    doc = r.json()
    assert [c["task"] for c in doc["renewed"]] == ["T1"] and doc["renewed"][0]["epoch"] == epoch
    assert [c["task"] for c in doc["claimed"]] == ["T2"] and doc["claimed"][0]["epoch"] > epoch


def test_nothing_to_claim_exits_1_and_changes_nothing(project: Project) -> None:
    """`while gitcoord claim --next` polls an empty queue: each poll writes nothing (not
    even the epochs it had reserved), combined or not (--count over the combining limit)."""
    main = project.main
    add(main, ("A", "a", 2))
    assert j(main, "claim", "--next").code == 0
    before = store_dump(main)
    for args in (["claim", "--next"], ["claim", "--next", "--count", "50"]):
        r = j(main, *args, agent="other")
        assert r.code == 1 and r.err_json()["error"]["code"] == "nothing_to_claim"
        assert store_dump(main) == before


def test_count_claims_several_in_one_go(project: Project) -> None:
    main = project.main
    add(main, ("A", "a", 2), ("B", "b", 2), ("C", "c", 2))
    r = j(main, "claim", "--next", "--count", "5")
    assert r.code == 0
    claimed = r.json()["claimed"]
    assert [c["task"] for c in claimed] == ["A", "B", "C"]
    epochs = [c["epoch"] for c in claimed]
    assert epochs == sorted(set(epochs))  # a distinct, growing epoch per grant


def test_expired_claim_is_claimable_and_the_old_holder_is_superseded(project: Project, gc) -> None:  # type: ignore[no-untyped-def]
    main, a, b = project.main, project.wt("wt-a"), project.wt("wt-b")
    add(main, ("T1", "the task", 1))
    first = j(a, "claim", "--next", "--ttl", "1m", agent="alice").json()["claimed"][0]

    # still active for bob: nothing to claim
    assert j(b, "claim", "--next", agent="bob").code == 1
    # two minutes later alice's claim has expired: bob gets it, with a newer epoch
    r = gc(b, "--json", "--agent", "bob", "claim", "--next", env=LATER)
    assert r.code == 0, r.stderr
    second = r.json()["claimed"][0]
    assert second["task"] == "T1" and second["epoch"] > first["epoch"]

    # alice is superseded: done, unclaim and renew are refused, naming the newer epoch and holder
    for args in (["done", "T1"], ["unclaim", "T1"]):
        r = gc(a, "--json", "--agent", "alice", *args, env=LATER)
        assert r.code == 1, (args, r.stderr)
        err = r.err_json()["error"]
        assert err["code"] == "superseded"
        assert f"epoch {second['epoch']}" in err["message"] and "bob" in err["message"]
    r = gc(a, "--json", "--agent", "alice", "renew", env=LATER)
    assert r.code == 1
    assert r.err_json()["error"]["code"] == "superseded"
    assert r.json()["superseded"][0]["newer_epoch"] == second["epoch"]
    # reported once: the next heartbeat is clean
    assert j(a, "renew", agent="alice", env=LATER).code == 0
    # and alice was told
    inbox = j(a, "inbox", agent="alice", env=LATER).json()["messages"]
    assert any("re-granted to bob" in m["body"] for m in inbox)

    assert gc(b, "--json", "--agent", "bob", "done", "T1", env=LATER).code == 0
    ks = kinds(main, "T1")
    for k in ("claim.granted", "claim.expired", "claim.superseded", "claim.refused", "task.done"):
        assert k in ks, (k, ks)
    # every claim transition carries holder, epoch and task
    for e in j(main, "log", "--task", "T1").json()["events"]:
        if e["kind"].startswith(("claim.", "task.done")):
            assert e["agent"] and e["worktree"] and "epoch" in e["details"], e
            assert e["details"]["task"] == "T1"


def test_expired_claim_nobody_took_can_still_be_finished_or_renewed(project: Project) -> None:
    main, a = project.main, project.wt("wt-a")
    add(main, ("T1", "one", 1), ("T2", "two", 2))
    assert j(a, "claim", "T1", "--ttl", "1m").code == 0
    assert j(a, "claim", "T2", "--ttl", "1m").code == 0
    r = j(a, "renew", env=LATER)
    assert r.code == 0, r.stderr
    assert {c["task"] for c in r.json()["claims"]} == {"T1", "T2"}
    assert j(a, "done", "T1", env=LATER).code == 0


def test_fencing_epoch_option(project: Project) -> None:
    main = project.main
    add(main, ("T1", "one", 1))
    epoch = j(main, "claim", "T1").json()["claimed"][0]["epoch"]
    r = j(main, "done", "T1", "--epoch", str(epoch + 100))
    assert r.code == 1
    assert j(main, "done", "T1", "--epoch", str(epoch)).code == 0


def test_only_the_holder_finishes_and_unclaim_reopens(project: Project) -> None:
    main, a, b = project.main, project.wt("wt-a"), project.wt("wt-b")
    add(main, ("T1", "one", 1))
    assert j(a, "claim", "T1", agent="alice").code == 0
    r = j(b, "done", "T1", agent="bob")
    assert r.code == 1 and r.err_json()["error"]["code"] == "denied"
    assert "claimed by alice" in r.err_json()["error"]["message"]
    assert j(a, "unclaim", "T1", agent="alice").json()["task"]["state"] == "open"
    r = j(a, "done", "T1", agent="alice")
    assert r.code == 1 and "ended (released)" in r.err_json()["error"]["message"]
    assert j(b, "claim", "--next", agent="bob").json()["claimed"][0]["task"] == "T1"
    # alice released it herself: bob's newer claim does not make her "superseded"
    r = j(a, "done", "T1", agent="alice")
    assert r.code == 1 and r.err_json()["error"]["code"] == "denied"


def test_review_approve_and_reject(project: Project, gc) -> None:  # type: ignore[no-untyped-def]
    main, a, b = project.main, project.wt("wt-a"), project.wt("wt-b")
    add(main, ("T1", "one", 1))
    assert j(main, "task", "add", "T2", "--title", "after one", "--after", "T1").code == 0
    assert j(a, "claim", "T1", agent="alice").code == 0
    r = gc(a, "--json", "--agent", "alice", "done", "T1", "--review")
    assert r.code == 0 and r.json()["task"]["state"] == "review"
    assert j(b, "claim", "--next", agent="bob").code == 1  # T2 waits: review is not done

    # self-review is refused (same worktree, or same agent name elsewhere)
    r = gc(a, "--json", "--agent", "alice", "approve", "T1")
    assert r.code == 1 and "another reviewer" in r.err_json()["error"]["message"]
    assert j(b, "approve", "T1", agent="alice").code == 1

    # bob rejects: back to open with the reason kept; alice is told
    r = gc(b, "--json", "--agent", "bob", "reject", "T1", "--reason", "tests missing")
    assert r.code == 0
    t = r.json()["task"]
    assert (t["state"], t["reason"], t["reviewer"]) == ("open", "tests missing", "bob")
    msgs = j(a, "inbox", agent="alice").json()["messages"]
    assert any("tests missing" in m["body"] for m in msgs)

    assert j(a, "claim", "T1", agent="alice").code == 0
    assert j(a, "done", "T1", "--review", agent="alice").code == 0
    r = gc(b, "--json", "--agent", "bob", "approve", "T1")
    assert r.code == 0
    assert r.json()["task"]["state"] == "done" and r.json()["task"]["reviewer"] == "bob"
    assert j(b, "claim", "--next", agent="bob").json()["claimed"][0]["task"] == "T2"
    ks = kinds(main, "T1")
    assert ks.count("task.review") == 2 and "task.rejected" in ks and "task.approved" in ks
    assert ks[-1] == "task.done"


def test_self_review_allowed_when_configured(project: Project) -> None:
    main = project.main
    add(main, ("T1", "one", 1))
    j(main, "claim", "T1")
    j(main, "done", "T1", "--review")
    assert j(main, "approve", "T1").code == 1
    git(main, "config", "gitcoord.allowSelfReview", "true")
    assert j(main, "approve", "T1").code == 0


def test_block_ends_a_claim_and_unblock_reopens(project: Project) -> None:
    main, a = project.main, project.wt("wt-a")
    add(main, ("T1", "one", 1))
    assert j(a, "claim", "T1", agent="alice").code == 0
    r = j(main, "block", "T1", "--reason", "API undecided", agent="lead")
    assert r.code == 0 and r.json()["task"]["state"] == "blocked"
    assert j(a, "done", "T1", agent="alice").code == 1
    assert any("blocked T1" in m["body"] for m in j(a, "inbox", agent="alice").json()["messages"])
    assert j(main, "claim", "--next").code == 1
    assert j(main, "block", "T1", "--reason", "again").code == 1  # already blocked
    assert j(main, "unblock", "T1").json()["task"]["state"] == "open"
    assert j(main, "unblock", "T1").code == 1
    assert j(main, "claim", "--next").json()["claimed"][0]["task"] == "T1"


def test_health_gate_refuses_with_output_tail_and_passes_when_fixed(project: Project, gc) -> None:  # type: ignore[no-untyped-def]
    main, a = project.main, project.wt("wt-a")
    add(main, ("T1", "one", 1))
    assert j(a, "claim", "T1").code == 0
    script = "for i in $(seq 1 40); do echo line-$i; done; echo \"in $(pwd) for $GITCOORD_TASK\"; test -f ok"
    git(main, "config", "gitcoord.health", script)
    r = gc(a, "--json", "done", "T1")
    assert r.code == 1
    msg = r.err_json()["error"]["message"]
    assert "health check failed" in msg and "exit code 1" in msg
    assert f"in {a} for T1" in msg and "line-40" in msg
    assert "line-1\n" not in msg  # only the tail
    assert j(main, "task", "show", "T1").json()["task"]["state"] == "claimed"
    assert "task.health_failed" in kinds(main, "T1")
    (a / "ok").write_text("")
    assert gc(a, "--json", "done", "T1").code == 0


def _done_with_health(main: Path, command: str, timeout: str) -> Result:
    add(main, ("T1", "one", 1))
    j(main, "claim", "T1")
    git(main, "config", "gitcoord.health", command)
    git(main, "config", "gitcoord.healthTimeout", timeout)
    return j(main, "done", "T1")


def test_health_gate_timeout(project: Project) -> None:
    r = _done_with_health(project.main, "echo started; sleep 30", "1")
    assert r.code == 1
    assert "timed out" in r.err_json()["error"]["message"]


def test_health_gate_judges_the_command_not_its_background_jobs(project: Project) -> None:
    """Had `done` waited for the job, the gate would time out and refuse."""
    r = _done_with_health(project.main, "echo ok; (sleep 30 &); exit 0", "5s")
    assert r.code == 0, r.stderr


def test_renew_extends_claims_with_leases(project: Project) -> None:
    main, a = project.main, project.wt("wt-a")
    add(main, ("T1", "one", 1))
    first = j(a, "claim", "T1", "--ttl", "10m").json()["claimed"][0]
    assert j(a, "lease", "docs/").code == 0
    r = j(a, "renew", "--ttl", "2h")
    assert r.code == 0
    doc = r.json()
    assert len(doc["renewed"]) == 1 and doc["claims"][0]["task"] == "T1"
    assert doc["claims"][0]["epoch"] == first["epoch"]  # renewing keeps the epoch
    assert doc["claims"][0]["expires_in"] > 3600
    assert "claim.renewed" in kinds(main, "T1")


def test_gc_reaps_claims_of_vanished_worktrees(project: Project, tmp_path: Path) -> None:
    main = project.main
    add(main, ("T1", "one", 1), ("T2", "two", 2))
    gone = tmp_path / "gone"
    git(main, "worktree", "add", "-q", "--detach", str(gone), "main")
    assert j(gone.resolve(), "claim", "T1", agent="ghost").code == 0
    assert j(main, "claim", "T2").code == 0
    git(main, "worktree", "remove", "--force", str(gone))
    r = j(main, "gc")
    assert r.code == 0, r.stderr
    assert [c["task"] for c in r.json()["reaped_claims"]] == ["T1"]
    assert j(main, "claim", "--next").json()["claimed"][0]["task"] == "T1"
    assert "claim.reaped" in kinds(main, "T1")


def _race(cwds: list[Path], args: list[str], env_for: Any) -> list[subprocess.CompletedProcess[str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gitcoord", "--json", *args],
            cwd=cwd,
            env={**os.environ, **env_for(i)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, cwd in enumerate(cwds)
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def test_12_processes_race_claim_next_on_5_tasks(project: Project, tmp_path: Path) -> None:
    import json

    main = project.main
    add(main, *[(f"R{i}", f"race {i}", i % 2) for i in range(5)])
    cwds = []
    for i in range(12):
        wt = tmp_path / f"racer{i}"
        git(main, "worktree", "add", "-q", "--detach", str(wt), "main")
        cwds.append(wt.resolve())
    results = _race(cwds, ["claim", "--next"], lambda i: {"GITCOORD_AGENT": f"racer{i}"})
    codes = [r.returncode for r in results]
    assert sorted(codes) == [0] * 5 + [1] * 7, [(r.returncode, r.stderr) for r in results]
    won = [json.loads(r.stdout)["claimed"][0] for r in results if r.returncode == 0]
    assert sorted(c["task"] for c in won) == [f"R{i}" for i in range(5)]  # each task once
    assert len({c["epoch"] for c in won}) == 5
    assert len({c["holder"]["worktree"] for c in won}) == 5
    for r in results:
        if r.returncode == 1:
            assert json.loads(r.stdout) == {"claimed": [], "renewed": []}
    tasks = j(main, "task", "list").json()["tasks"]
    assert all(t["state"] == "claimed" for t in tasks)
    events = j(main, "log", "--kind", "claim.granted").json()["events"]
    assert len(events) == 5
    assert j(main, "audit", "verify").json()["ok"]


def test_8_processes_race_claim_same_id(project: Project, tmp_path: Path) -> None:
    main = project.main
    add(main, ("ONE", "only one wins", 1))
    cwds = []
    for i in range(8):
        wt = tmp_path / f"r{i}"
        git(main, "worktree", "add", "-q", "--detach", str(wt), "main")
        cwds.append(wt.resolve())
    results = _race(cwds, ["claim", "ONE"], lambda i: {})
    assert sorted(r.returncode for r in results) == [0] + [1] * 7
    assert sum(k == "claim.denied" for k in kinds(main, "ONE")) == 7


def test_library_claim_next_many_rounds_no_double_claims(project: Project) -> None:
    """The library API directly, as agents' supervisors use it."""
    from gitcoord import claims, context
    from gitcoord.errors import NothingToClaim

    ctx = context.load(project.main, agent="lib")
    try:
        claims.import_tasks(ctx, [f'{{"id": "L{i}", "title": "t", "priority": {i % 3}}}' for i in range(60)])
        got: list[str] = []
        while True:
            try:
                result = claims.claim_next(ctx, ttl=60)
            except NothingToClaim:
                break
            got += [t.id for t, _ in result.claimed]
    finally:
        ctx.close()
    assert len(got) == 60 == len(set(got))
    prios = [int(g[1:]) % 3 for g in got]
    assert prios == sorted(prios)
    assert run_cli(project.main, "--json", "audit", "verify").json()["ok"]


def test_an_expired_urgent_claim_comes_back_first(project: Project) -> None:
    main, a, b = project.main, project.wt("wt-a"), project.wt("wt-b")
    add(main, ("HI", "urgent", 0), ("LO", "later", 3))
    assert j(a, "claim", "HI", "--ttl", "1m", agent="alice").code == 0
    assert j(b, "claim", "--next", agent="bob").json()["claimed"][0]["task"] == "LO"
    j(b, "unclaim", "LO", agent="bob")
    got = j(b, "claim", "--next", agent="bob", env=LATER).json()["claimed"][0]
    assert got["task"] == "HI"  # expired, so open again, and more urgent than LO


def test_renew_does_not_call_a_holder_who_took_the_task_back_superseded(project: Project) -> None:
    """alice's claim expired and bob took and released it; alice claimed it again. Her
    old, superseded claim must not make renew tell her to stop working on it."""
    main, a, b = project.main, project.wt("wt-a"), project.wt("wt-b")
    add(main, ("T1", "one", 1))
    assert j(a, "claim", "T1", "--ttl", "1m", agent="alice").code == 0
    assert j(b, "claim", "T1", agent="bob", env=LATER).code == 0  # supersedes alice's
    assert j(b, "unclaim", "T1", agent="bob", env=LATER).code == 0
    again = j(a, "claim", "T1", agent="alice", env=LATER)
    assert again.code == 0, again.stderr
    r = j(a, "renew", agent="alice", env=LATER)
    assert r.code == 0, r.stderr
    assert r.json()["superseded"] == []
    assert [c["epoch"] for c in r.json()["claims"]] == [again.json()["claimed"][0]["epoch"]]
    assert j(a, "done", "T1", agent="alice", env=LATER).code == 0


def test_block_ends_an_expired_claim_that_was_already_reaped(project: Project) -> None:
    """Once an expired claim is reaped its task is open; blocking it must still end the
    claim, or renew would revive it after an unblock and its old holder could finish it."""
    main, a, b = project.main, project.wt("wt-a"), project.wt("wt-b")
    add(main, ("X", "x", 1), ("Y", "y", 2))
    assert j(a, "claim", "X", "--ttl", "1m", agent="alice").code == 0
    assert j(b, "claim", "Y", agent="bob", env=LATER).code == 0  # reaps alice's claim on X
    assert j(main, "task", "show", "X", env=LATER).json()["task"]["state"] == "open"
    r = j(main, "block", "X", "--reason", "API decision pending", agent="lead", env=LATER)
    assert r.code == 0, r.stderr
    assert j(main, "unblock", "X", agent="lead", env=LATER).code == 0
    renewed = j(a, "renew", agent="alice", env=LATER)
    assert renewed.code == 0 and renewed.json()["claims"] == []
    assert j(a, "done", "X", agent="alice", env=LATER).code == 1
    assert any("blocked X" in m["body"] for m in j(a, "inbox", agent="alice").json()["messages"])


def test_an_epoch_that_was_never_yours_is_not_called_superseded(project: Project) -> None:
    main = project.main
    add(main, ("Z", "z", 1), ("W", "w", 1))
    old = j(main, "claim", "Z").json()["claimed"][0]["epoch"]
    assert j(main, "done", "Z").code == 0
    assert j(main, "claim", "W").code == 0
    before = store_dump(main)
    r = j(main, "done", "W", "--epoch", str(old))
    assert r.code == 1
    err = r.err_json()["error"]
    assert err["code"] == "denied" and f"epoch {old} is not your claim's" in err["message"]
    assert store_dump(main) != before  # the refusal is audited ...
    assert "superseded" not in json.dumps(j(main, "log", "--task", "W").json()["events"][-1])


def test_the_epoch_counter_never_overflows_into_real(project: Project) -> None:
    """SQLite integers stop at 2**63 - 1 and arithmetic past it turns REAL, where epochs
    stop being distinct: a grant that would go past it fails (exit 3), changing nothing."""
    main = project.main
    add(main, ("A", "a", 1))
    store_sql(main, "UPDATE counters SET value = ? WHERE name = 'epoch'", ((1 << 63) - 1,))
    before = store_dump(main)
    for args in (["claim", "A"], ["claim", "--next"], ["lease", "README.md"]):
        r = j(main, *args)
        assert r.code == 3, (args, r.stdout, r.stderr)
        assert "epoch counter" in r.err_json()["error"]["message"]
        assert store_dump(main) == before
