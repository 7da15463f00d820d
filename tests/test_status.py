"""`gitcoord status`: a scenario for each conflict kind, in real worktrees."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from fixtures.repos.recipes import Project, git, write
from tests.conftest import run_cli, run_step


def status(cwd, *args, env=None):  # type: ignore[no-untyped-def]
    return run_cli(cwd, "--json", "status", *args, env=env)


def kinds(doc) -> list[str]:  # type: ignore[no-untyped-def]
    return [c["kind"] for c in doc["conflicts"]]


def test_clean_repository_has_no_conflicts_and_exit_code_0(project: Project) -> None:
    assert run_cli(project.main, "init").code == 0
    run_cli(project.main, "lease", "README.md")
    r = status(project.main, "--exit-code")
    assert r.code == 0, r.stderr
    doc = r.json()
    assert doc["conflicts"] == []
    assert {w["path"] for w in doc["worktrees"]} == {str(project.main), str(project.wt("wt-a")), str(project.wt("wt-b"))}
    assert [x["pattern"] for x in doc["leases"]] == ["README.md"]
    human = run_cli(project.main, "status", "--exit-code")
    assert human.code == 0 and "no conflicts" in human.stdout


def test_changes_on_a_path_another_worktree_leases(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    run_cli(a, "--agent", "alice", "lease", "src/app/api.py", "--reason", "rename")
    write(b, {"src/app/api.py": "def handler():\n    return 'bob'\n"})
    r = status(project.main, "--exit-code")
    assert r.code == 1
    (c,) = [c for c in r.json()["conflicts"] if c["kind"] == "lease_violation"]
    assert c["severity"] == "error"
    assert c["paths"] == ["src/app/api.py"]
    assert c["worktrees"] == [str(b), str(a)]
    assert "alice" in c["summary"] and "uncommitted" in c["summary"]
    assert c["next_step"].startswith(f"gitcoord -C {b} lease src/app/api.py")
    # committed but unmerged counts too
    git(b, "commit", "-qam", "bob edits api")
    (c,) = [c for c in status(project.main).json()["conflicts"] if c["kind"] == "lease_violation"]
    assert "unmerged" in c["summary"]
    human = run_cli(project.main, "status", env={"COLUMNS": "250"})
    assert "lease_violation" in human.stdout and "src/app/api.py" in human.stdout
    assert f"next: gitcoord -C {b} lease src/app/api.py" in human.stdout


def test_shared_co_owners_do_not_conflict(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    run_cli(a, "lease", "docs/", "--shared")
    run_cli(b, "lease", "docs/", "--shared")
    write(b, {"docs/guide.md": "# changed\n"})
    assert "lease_violation" not in kinds(status(project.main).json())


def test_same_path_changed_in_two_worktrees_without_lease(project: Project) -> None:
    """Without merge prediction (tests/test_predict.py has it), an overlap is a warning."""
    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert run_cli(project.main, "init").code == 0
    write(a, {"docs/guide.md": "# a\n"})
    write(b, {"docs/guide.md": "# b\n"})
    git(b, "commit", "-qam", "b guide")
    doc = status(project.main, "--no-predict").json()
    (c,) = [c for c in doc["conflicts"] if c["kind"] == "overlap"]
    assert c["severity"] == "warning"
    assert c["paths"] == ["docs/guide.md"]
    assert set(c["worktrees"]) == {str(a), str(b)}
    assert " lease docs/guide.md" in c["next_step"]
    # once one of them leases it, it is a lease conflict instead
    run_cli(a, "lease", "docs/guide.md")
    doc = status(project.main, "--no-predict").json()
    assert kinds(doc) == ["lease_violation"]
    # (and git says the two will conflict when merged)
    assert kinds(status(project.main).json()) == ["lease_violation", "merge_conflict"]


def test_stale_base(project: Project) -> None:
    b = project.wt("wt-b")
    write(project.main, {"src/lib/parse.py": "def parse(x):\n    return x.strip()\n"})
    git(project.main, "commit", "-qam", "main: parse strips")
    newer = git(project.main, "rev-parse", "HEAD").strip()
    write(b, {"src/lib/parse.py": "def parse(x):\n    return x.lower()\n"})
    doc = status(project.main).json()
    (c,) = [c for c in doc["conflicts"] if c["kind"] == "stale_base"]
    assert c["paths"] == ["src/lib/parse.py"]
    assert c["worktrees"] == [str(b)]
    assert c["next_step"] == f"git -C {b} rebase --autostash main"
    assert c["details"]["stale"][0]["commits"] == [newer]
    wt = {w["path"]: w for w in doc["worktrees"]}
    assert wt[str(b)]["behind"] == 1 and wt[str(b)]["dirty"] == 1
    # a leased (not yet changed) file that moved is stale too
    write(project.main, {"docs/api.md": "# api v2\n"})
    git(project.main, "commit", "-qam", "main: api docs")
    run_cli(b, "lease", "docs/api.md")
    (c,) = [c for c in status(project.main).json()["conflicts"] if c["kind"] == "stale_base"]
    assert c["paths"] == ["src/lib/parse.py", "docs/api.md"] or set(c["paths"]) == {"src/lib/parse.py", "docs/api.md"}
    # after the rebase the base is fresh
    git(b, "stash", "-q")
    git(b, "rebase", "-q", "main")
    assert "stale_base" not in kinds(status(project.main).json())


def test_expired_lease_with_unmerged_work_is_abandoned(project: Project) -> None:
    a = project.wt("wt-a")
    run_cli(a, "--agent", "alice", "lease", "README.md", "--ttl", "5m")
    write(a, {"README.md": "# half done\n"})
    assert "abandoned" not in kinds(status(project.main).json())
    later = {"GITCOORD_TEST_CLOCK_OFFSET": "900"}
    doc = status(project.main, env=later).json()
    (c,) = [c for c in doc["conflicts"] if c["kind"] == "abandoned"]
    assert c["worktrees"] == [str(a)] and c["paths"] == ["README.md"]
    assert "alice" in c["summary"] and "expired" in c["summary"]
    assert c["next_step"] == f"gitcoord -C {a} lease README.md"
    # with the work committed and merged away, nothing is abandoned
    git(a, "checkout", "-q", "--", "README.md")
    assert "abandoned" not in kinds(status(project.main, env=later).json())


def test_recent_refusals_bypasses_and_violations(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert run_cli(project.main, "init").code == 0  # installs the hooks
    run_cli(a, "--agent", "alice", "lease", "src/app/api.py")
    write(b, {"src/app/api.py": "x = 1\n"})
    git(b, "add", "-A")
    refused = subprocess.run(["git", "commit", "-qm", "bob"], cwd=b, capture_output=True, text=True)
    assert refused.returncode != 0
    subprocess.run(["git", "commit", "-qm", "bob anyway", "--no-verify"], cwd=b, capture_output=True, text=True, check=True)
    sha = git(b, "rev-parse", "HEAD").strip()
    doc = status(project.main).json()
    ks = kinds(doc)
    assert "refusal" in ks and "violation" in ks
    (v,) = [c for c in doc["conflicts"] if c["kind"] == "violation"]
    assert v["severity"] == "error" and sha in v["details"]["shas"]
    assert v["next_step"] == f"gitcoord check --range {sha}^..{sha}"
    # outside the window they are history, not conflicts
    old = status(project.main, "--since", "1s", env={"GITCOORD_TEST_CLOCK_OFFSET": "120"}).json()
    assert not {"refusal", "violation"} & set(kinds(old))


def test_filters(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert run_cli(project.main, "init").code == 0
    run_cli(a, "--agent", "alice", "lease", "src/app/api.py")
    write(b, {"src/app/api.py": "x = 2\n"})
    doc = run_cli(project.main, "--json", "status", "--worktree", str(project.main)).json()
    assert [w["path"] for w in doc["worktrees"]] == [str(project.main)]
    assert doc["conflicts"] == []
    doc = run_cli(project.main, "--json", "status", "--agent", "alice").json()
    assert [w["path"] for w in doc["worktrees"]] == [str(a)]
    assert kinds(doc) == ["lease_violation"]  # alice is involved as the holder


def test_human_view_fits_80_columns(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    run_cli(a, "--agent", "alice", "lease", "src/app/api.py")
    write(b, {"src/app/api.py": "x = 3\n"})
    r = run_cli(project.main, "status", env={"COLUMNS": "80"})
    assert r.code == 0
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    for section in ("Conflicts", "Worktrees", "Leases"):
        assert section in r.stdout
    assert "\x1b[" not in r.stdout  # plain when not a terminal


def test_watch_refreshes_until_interrupted(project: Project) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitcoord", "status", "--watch", "0.3"],
        cwd=project.main,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    assert proc.stdout is not None
    seen = _read_until(proc.stdout.fileno(), lambda text: text.count("gitcoord status") >= 2)
    assert proc.poll() is None  # still running
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (seen + out).count(b"gitcoord status") >= 2  # refreshed at least once


def _read_until(fd: int, done: Callable[[str], bool], limit: float = 60.0) -> bytes:
    """What a running process writes to ``fd``, until ``done`` says enough (a slow machine
    may take seconds for the first frame)."""
    import select

    out = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and not done(out.decode(errors="replace")):
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


def test_watch_in_a_terminal_redraws_in_place(project: Project) -> None:
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # child: the real CLI on a terminal
        os.chdir(project.main)
        os.execv(sys.executable, [sys.executable, "-m", "gitcoord", "status", "--watch", "0.3"])
    out = _read_until(fd, lambda text: text.count("gitcoord status") >= 2)
    os.kill(pid, signal.SIGINT)
    _, wstatus = os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode(errors="replace")
    assert os.WIFEXITED(wstatus) and os.WEXITSTATUS(wstatus) == 0
    assert text.count("gitcoord status") >= 2
    assert "\x1b[" in text  # cursor movement / colour: redrawn in place


def test_leases_of_a_vanished_worktree_are_void_and_point_to_gc(project: Project) -> None:
    import shutil

    a, b = project.wt("wt-a"), project.wt("wt-b")
    run_cli(a, "--agent", "alice", "lease", "src/app/api.py")
    write(b, {"src/app/api.py": "x = 4\n"})
    shutil.rmtree(a)
    doc = status(project.main).json()
    assert "lease_violation" not in kinds(doc)  # void: not enforced
    (c,) = [c for c in doc["conflicts"] if c["kind"] == "abandoned"]
    assert c["worktrees"] == [str(a)] and c["next_step"] == "gitcoord gc"
    run_cli(project.main, "gc")
    assert "abandoned" not in kinds(status(project.main).json())


def test_new_files_in_new_directories_are_seen_one_by_one(project: Project) -> None:
    """git status folds an untracked directory into `dir/`: status must still see each
    new file, both for leases on them and for overlaps between worktrees."""
    main, a, b = project.main, project.wt("wt-a"), project.wt("wt-b")
    assert run_cli(a, "--agent", "alice", "lease", "src/new/mod.py", "src/**/*.rs").code == 0
    write(b, {"src/new/mod.py": "x = 1\n", "src/rs/lib.rs": "fn main() {}\n"})
    doc = status(main).json()
    violated = sorted(p for c in doc["conflicts"] if c["kind"] == "lease_violation" for p in c["paths"])
    assert violated == ["src/new/mod.py", "src/rs/lib.rs"]
    write(main, {"src/new/other.py": "y = 2\n"})  # another file in the same new directory
    doc = status(main).json()
    assert [c for c in doc["conflicts"] if c["kind"] == "overlap"] == []


def test_status_of_a_worktree_that_is_not_there_is_bad_input(project: Project) -> None:
    r = status(project.main, "--worktree", "/no/such/worktree")
    assert r.code == 2 and "no worktree" in r.err_json()["error"]["message"]


def test_a_worktree_whose_git_file_is_gone_does_not_break_status(project: Project) -> None:
    """One broken worktree (its directory there, its .git file gone: git calls it
    prunable) must not take the whole view down; its leases are void, for gc."""
    a, b = project.wt("wt-a"), project.wt("wt-b")
    run_cli(a, "--agent", "alice", "lease", "src/app/")
    (a / ".git").unlink()
    write(b, {"src/app/api.py": "x = 5\n"})
    r = status(project.main)
    assert r.code == 0, r.stderr
    doc = r.json()
    assert [w["exists"] for w in doc["worktrees"] if w["path"] == str(a)] == [False]
    assert "lease_violation" not in kinds(doc)
    assert [c["next_step"] for c in doc["conflicts"] if c["kind"] == "abandoned"] == ["gitcoord gc"]


def test_a_locked_worktree_that_is_away_keeps_its_leases(project: Project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`git worktree lock`: absent (a removable disk), not gone. Its leases stay
    enforced, status does not call it abandoned, and gc leaves them alone."""
    a, b = project.wt("wt-a"), project.wt("wt-b")
    run_cli(a, "--agent", "alice", "lease", "src/app/")
    git(project.main, "worktree", "lock", "--reason", "on a removable disk", str(a))
    a.rename(tmp_path / "unplugged")
    write(b, {"src/app/api.py": "x = 6\n"})
    doc = status(project.main).json()
    assert "abandoned" not in kinds(doc) and "lease_violation" in kinds(doc)
    run_cli(project.main, "gc")
    assert [x["pattern"] for x in run_cli(project.main, "--json", "leases").json()["leases"]] == ["src/app/"]


def test_next_steps_that_work(project: Project) -> None:
    """A shared lease is co-owned at once with --shared (an exclusive request would wait
    for it to end); a bypass's log step finds it whatever --since was; --worktree keeps
    that worktree's agent's messages; installed hook files are nobody's work."""
    a, b = project.wt("wt-a"), project.wt("wt-b")
    run_cli(a, "--agent", "alice", "lease", "docs/", "--shared")
    write(b, {"docs/guide.md": "# b\n"})
    (c,) = [c for c in status(project.main).json()["conflicts"] if c["kind"] == "lease_violation"]
    assert c["next_step"].endswith("lease docs/guide.md --shared")
    step = run_step(c["next_step"])
    assert step.returncode == 0, step.stderr
    assert "lease_violation" not in kinds(status(project.main).json())

    run_cli(a, "--agent", "alice", "send", "wt-b", "hello")
    doc = run_cli(project.main, "--json", "status", "--worktree", str(b)).json()
    assert doc["messages"] == {"wt-b": 1}


def test_a_bypass_is_found_by_its_next_step_from_any_window(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert run_cli(project.main, "init").code == 0
    run_cli(a, "--agent", "alice", "lease", "src/app/api.py")
    write(b, {"src/app/api.py": "x = 7\n"})
    env = {**os.environ, "GITCOORD_BYPASS": "agreed"}
    subprocess.run(["git", "commit", "-qam", "bob"], cwd=b, capture_output=True, env=env, check=True)
    later = {"GITCOORD_TEST_CLOCK_OFFSET": str(3 * 86400)}
    (c,) = [c for c in status(project.main, "--since", "7d", env=later).json()["conflicts"] if c["kind"] == "bypass"]
    r = run_cli(project.main, "--json", *c["next_step"].split()[1:], env=later)
    assert [e["kind"] for e in r.json()["events"]] == ["commit.bypassed"]


def test_installed_hooks_in_a_relative_hooks_path_are_nobodys_work(project: Project) -> None:
    git(project.main, "config", "core.hooksPath", ".githooks")
    write(project.main, {".githooks/pre-commit": "#!/bin/sh\nexit 0\n"})
    git(project.main, "add", ".githooks")
    git(project.main, "commit", "-qm", "team hooks")
    for wt in ("wt-a", "wt-b"):
        git(project.wt(wt), "merge", "-q", "--ff-only", "main")
    assert run_cli(project.main, "install").code == 0
    r = status(project.main, "--exit-code")
    assert r.code == 0 and r.json()["conflicts"] == []
    assert [w["dirty"] for w in r.json()["worktrees"]] == [0, 0, 0]


def test_last_activity_is_what_the_worktree_did_not_its_leases_running_out(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    run_cli(a, "--agent", "alice", "lease", "src/app/api.py", "--ttl", "1m")

    def active(env=None) -> str:  # type: ignore[no-untyped-def]
        return next(w["last_activity"] for w in status(project.main, env=env).json()["worktrees"] if w["path"] == str(a))

    before = active()
    later = {"GITCOORD_TEST_CLOCK_OFFSET": "3600"}
    run_cli(b, "--agent", "bob", "lease", "docs/", env=later)  # reaps alice's lease, under her name
    assert active(later) == before


def test_work_left_behind_by_a_claim_taken_over_stays_in_view(project: Project) -> None:
    """docs/status.md: abandoned = a lease or claim expired while its worktree still has
    unmerged work; that stays so once another holder takes the task over."""
    a, b = project.wt("wt-a"), project.wt("wt-b")
    run_cli(project.main, "task", "add", "T-1", "--title", "one")
    assert run_cli(a, "--agent", "alice", "claim", "T-1", "--ttl", "1m").code == 0
    write(a, {"docs/t1.md": "alice's work\n"})
    git(a, "add", "docs/t1.md")
    git(a, "commit", "-qm", "alice: T-1")
    later = {"GITCOORD_TEST_CLOCK_OFFSET": "3600"}
    assert run_cli(b, "--agent", "bob", "claim", "T-1", env=later).code == 0
    doc = status(project.main, env=later).json()
    (c,) = [c for c in doc["conflicts"] if c["kind"] == "abandoned"]
    assert c["worktrees"] == [str(a)] and c["next_step"] == "gitcoord task show T-1"
    assert next(w["agent"] for w in doc["worktrees"] if w["path"] == str(a)) == "alice"
