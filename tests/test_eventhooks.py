"""Event hooks (``gitcoord.on.<event>``): JSON on stdin, timeouts, failures logged, never fatal."""

from __future__ import annotations

import json
from pathlib import Path

from fixtures.repos.recipes import Project, git
from gitcoord.eventhooks import commands_for
from tests.conftest import Result, run_cli, run_inproc


def j(cwd: Path, *args: str) -> Result:
    return run_inproc(cwd, "--json", *args)


def test_matching_kinds_families_and_catch_all() -> None:
    hooks = {"task.done": "a", "task": "b", "all": "c", "lease.force-released": "d", "*": "e", "claim": ""}
    assert [k for k, _ in commands_for("task.done", hooks)] == ["task.done", "task", "all", "*"]
    assert [k for k, _ in commands_for("task.added", hooks)] == ["task", "all", "*"]
    assert [k for k, _ in commands_for("lease.force_released", hooks)] == ["all", "lease.force-released", "*"]  # config order
    assert [k for k, _ in commands_for("claim.granted", hooks)] == ["all", "*"]  # empty command: off
    assert commands_for("taskx.done", {"task": "b"}) == []


def test_hook_gets_the_event_json_on_stdin(project: Project, tmp_path: Path, gc) -> None:  # type: ignore[no-untyped-def]
    main = project.main
    out = tmp_path / "events.jsonl"
    git(main, "config", "gitcoord.on.task.done", f"cat >> {out}; echo \"$GITCOORD_EVENT\" >> {out}.kinds")
    git(main, "config", "gitcoord.on.claim", f"cat >> {out}")
    assert j(main, "task", "add", "T1", "--title", "x").code == 0
    assert not out.exists()  # task.added has no hook
    assert gc(main, "--json", "claim", "T1").code == 0
    assert gc(main, "--json", "done", "T1").code == 0
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["kind"] for d in docs] == ["claim.granted", "task.done"]
    done = docs[1]
    assert done["subject"] == "T1" and done["details"]["task"] == "T1"
    assert done["worktree"] == str(main) and done["hash"] and done["seq"] > docs[0]["seq"]
    assert (tmp_path / "events.jsonl.kinds").read_text() == "task.done\n"
    assert not [e for e in j(main, "log").json()["events"] if e["kind"] == "hook.failed"]


def test_failing_and_hanging_hooks_are_logged_never_fatal(project: Project, tmp_path: Path) -> None:
    main = project.main
    git(main, "config", "gitcoord.on.task.added", "echo boom >&2; exit 7")
    git(main, "config", "gitcoord.on.all", "sleep 20")
    git(main, "config", "gitcoord.hookTimeout", "1")
    r = run_cli(main, "--json", "task", "add", "T1", "--title", "x")
    assert r.code == 0, r.stderr  # never fatal
    assert r.json()["task"]["id"] == "T1"  # the change happened: the event is not lost
    events = j(main, "log").json()["events"]
    added = [e for e in events if e["kind"] == "task.added"]
    failed = [e for e in events if e["kind"] == "hook.failed"]
    assert len(added) == 1
    assert {f["details"]["hook"] for f in failed} == {"gitcoord.on.task.added", "gitcoord.on.all"}
    by_hook = {f["details"]["hook"]: f["details"] for f in failed}
    assert by_hook["gitcoord.on.task.added"]["exit_code"] == 7
    assert "boom" in by_hook["gitcoord.on.task.added"]["output_tail"]
    assert by_hook["gitcoord.on.all"]["timed_out"] is True
    for f in failed:
        assert f["details"]["event_seq"] == added[0]["seq"]
        assert f["details"]["task"] == "T1"
    # hook.failed itself triggers no hooks (the catch-all would have timed out again)
    assert len(failed) == 2
    assert j(main, "audit", "verify").json()["ok"]


def test_hooks_do_not_run_inside_hooks(project: Project, tmp_path: Path) -> None:
    """A hook that runs gitcoord cannot loop: commands run by hooks run no hooks."""
    import sys

    main = project.main
    count = tmp_path / "count"
    git(main, "config", "gitcoord.on.message.sent", f"echo x >> {count}; {sys.executable} -m gitcoord send --all again >/dev/null")
    env = {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    assert run_cli(main, "send", "--all", "hello", env=env).code == 0
    assert count.read_text() == "x\n"
    sent = [e for e in j(main, "log", "--kind", "message.sent").json()["events"]]
    assert len(sent) == 2  # ours, and the hook's


def test_lease_events_fire_hooks_too(project: Project, tmp_path: Path) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    out = tmp_path / "lease-events"
    git(project.main, "config", "gitcoord.on.lease", f"cat >> {out}; echo >> {out}")
    assert run_inproc(a, "--agent", "alice", "lease", "docs/").code == 0
    assert run_inproc(b, "--agent", "bob", "release", "--force", "docs/").code == 0
    kinds = [json.loads(line)["kind"] for line in out.read_text().splitlines() if line.strip()]
    assert kinds == ["lease.granted", "lease.force_released"]


def test_a_hook_that_leaves_a_background_job_is_judged_by_its_own_exit(project: Project, tmp_path: Path) -> None:
    """The hook exits 0 at once and leaves a job holding its output: not a timeout (had
    the command waited for the job, the hook would be recorded as timed out)."""
    main = project.main
    git(main, "config", "gitcoord.hookTimeout", "5s")
    git(main, "config", "gitcoord.on.task.added", "(sleep 30 &); echo started; exit 0")
    r = run_cli(main, "--json", "task", "add", "BG", "--title", "bg")
    assert r.code == 0, r.stderr
    assert [e for e in j(main, "log").json()["events"] if e["kind"] == "hook.failed"] == []


def test_hooks_of_one_command_share_one_timeout(project: Project) -> None:
    """Five events with a hanging hook: one timeout in all, not five; the hooks that did
    not get to run are recorded as failed (so exactly one timed out)."""
    main = project.main
    for t in ("S1", "S2", "S3", "S4", "S5"):
        assert j(main, "task", "add", t, "--title", t).code == 0
    git(main, "config", "gitcoord.hookTimeout", "1s")
    git(main, "config", "gitcoord.on.claim", "sleep 10")
    r = run_cli(main, "--json", "claim", "S1", "S2", "S3", "S4", "S5")
    assert r.code == 0, r.stderr
    failed = [e["details"] for e in j(main, "log").json()["events"] if e["kind"] == "hook.failed"]
    assert len(failed) == 5
    assert sum(1 for f in failed if f["timed_out"]) == 1
    assert all("not run" in f["error"] for f in failed if not f["timed_out"])


def test_a_huge_timeout_and_a_flood_of_output_are_handled(project: Project) -> None:
    """A timeout of 30 days waits normally (it used to overflow the wait); one huge
    line of output is kept as a bounded tail, in the audit trail and on the terminal."""
    main = project.main
    git(main, "config", "gitcoord.hookTimeout", "30d")
    git(main, "config", "gitcoord.on.task.added", "head -c 3000000 /dev/zero | tr '\\0' x; exit 1")
    git(main, "config", "gitcoord.health", "head -c 3000000 /dev/zero | tr '\\0' y; exit 1")
    git(main, "config", "gitcoord.healthTimeout", "30d")
    assert j(main, "task", "add", "H", "--title", "h").code == 0
    [failed] = [e["details"] for e in j(main, "log").json()["events"] if e["kind"] == "hook.failed"]
    assert failed["exit_code"] == 1 and failed["error"] is None
    assert 1000 < len(failed["output_tail"]) <= 4000
    assert j(main, "claim", "H").code == 0
    r = run_cli(main, "--json", "done", "H")
    assert r.code == 1, r.stderr
    assert len(r.stderr) < 10_000 and "yyyy" in r.stderr  # (tail in message and details)
