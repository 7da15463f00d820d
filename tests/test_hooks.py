"""Commits through the real hooks: leases enforced in every worktree (SPEC section 5).

Agent A works in wt-a, agent B in wt-b, a human in the main worktree; ``gitcoord init``
installed the hooks. Every test is a short story told with real ``git`` commands.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from fixtures.repos.recipes import Project
from tests.test_hooks_support import (
    API,
    cli,
    cli_ok,
    commit_rows,
    common_dir,
    events,
    head,
    journal_lines,
    lease,
    leased_project,  # noqa: F401 (the project fixture)
    ok,
    refused,
    setup,
    sh,
    write,
)


def test_b_commit_touching_a_lease_is_refused_naming_the_holder(project: Project) -> None:
    b = project.wt("wt-b")
    write(b, API, "def handler():\n    return 'b'\n")
    ok(b, "add", API)
    err = refused(b, "commit", "-m", "b edits the api")
    assert "commit refused: 1 violation" in err
    line = next(x for x in err.splitlines() if x.strip().startswith(API))
    assert "leased by wt-a" in line and str(project.wt("wt-a")) in line
    assert "[exclusive]" in line and "expires in" in line and "reason: refactor api" in line
    assert f"git restore --staged -- {API}" in err
    assert "GITCOORD_BYPASS" in err
    # nothing was committed, and the refusal is in the audit trail
    assert ok(b, "log", "-1", "--format=%s").strip() == "initial layout"
    refusals = events(b, "commit.refused")
    assert refusals and refusals[-1]["agent"] == "wt-b"
    assert refusals[-1]["details"]["violations"][0]["lease"]["holder"]["agent"] == "wt-a"


def test_the_holder_commits_and_the_commit_is_journaled_then_recorded(project: Project) -> None:
    a = project.wt("wt-a")
    write(a, API, "def handler():\n    return 'a'\n")
    ok(a, "commit", "-qam", "a edits the api")
    sha = head(a)
    lines = journal_lines(project)
    assert lines and lines[-1].split("\t")[:3] == ["post-commit", sha, str(a)]
    before = cli_ok(a, "--json", "leases", "--mine").json()["leases"][0]["expires_at"]
    # the next gitcoord command drains the journal: the commit, its holder and paths
    recorded = events(a, "commit.recorded")
    assert [e["shas"] for e in recorded] == [[sha]]
    assert recorded[0]["agent"] == "wt-a" and recorded[0]["worktree"] == str(a)
    assert not journal_lines(project)
    assert commit_rows(project)[sha]["worktree"] == str(a)
    renewed = events(a, "lease.renewed")
    assert renewed and renewed[-1]["shas"] == [sha] and renewed[-1]["details"]["via"] == "commit"
    after = cli_ok(a, "--json", "leases", "--mine").json()["leases"][0]["expires_at"]
    assert after >= before


def test_commit_all_and_commit_path_are_checked(project: Project) -> None:
    b = project.wt("wt-b")
    write(b, API, "x = 1\n")
    err = refused(b, "commit", "-a", "-m", "commit -a")
    assert API in err
    # `git commit PATH` commits through a temporary index (GIT_INDEX_FILE)
    err = refused(b, "commit", "-m", "commit path", "--", API)
    assert API in err
    # an unrelated path goes through while the leased one stays modified
    write(b, "src/app/util.py", "def helper():\n    return 3\n")
    ok(b, "commit", "-q", "-m", "util only", "--", "src/app/util.py")
    assert ok(b, "show", "--name-only", "--format=", "HEAD").split() == ["src/app/util.py"]


def test_amend_is_checked_against_the_parent_of_head(project: Project) -> None:
    b = project.wt("wt-b")
    # B commits the api with --no-verify, then amends the message only.
    write(b, API, "x = 2\n")
    ok(b, "commit", "-qam", "sneaky", "--no-verify")
    # Amending keeps the api change in the commit: refused even though the index equals HEAD.
    err = refused(b, "commit", "--amend", "-m", "reworded")
    assert API in err
    assert API in refused(b, "-c", "alias.ci=commit", "ci", "--amend", "-m", "via an alias")
    # amending a clean commit passes
    ok(b, "reset", "-q", "--hard", "HEAD^")
    write(b, "docs/guide.md", "# guide 2\n")
    ok(b, "commit", "-qam", "guide")
    ok(b, "commit", "--amend", "-q", "-m", "guide, reworded")


def test_rename_of_a_leased_file_is_refused_on_both_sides(project: Project) -> None:
    b, a = project.wt("wt-b"), project.wt("wt-a")
    ok(b, "mv", API, "src/app/endpoints.py")
    err = refused(b, "commit", "-m", "rename away")
    assert f"  {API}:" in err
    ok(b, "reset", "-q", "--hard")
    # the destination side: A leases a new path, B renames a file onto it
    lease(a, "src/app/new_name.py")
    ok(b, "mv", "src/app/util.py", "src/app/new_name.py")
    err = refused(b, "commit", "-m", "rename onto")
    assert "src/app/new_name.py:" in err and "src/app/util.py" not in err.split("fix:")[0]


def test_deletion_and_mode_change_of_leased_files_are_refused(project: Project) -> None:
    b = project.wt("wt-b")
    ok(b, "rm", "-q", API)
    assert API in refused(b, "commit", "-m", "delete")
    ok(b, "reset", "-q", "--hard")
    p = b / API
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    ok(b, "add", API)
    assert ok(b, "diff", "--cached", "--name-status").startswith("M")
    assert API in refused(b, "commit", "-m", "mode")


def test_directory_and_glob_leases_cover_what_they_match(tmp_path: Path) -> None:
    p = setup(tmp_path)
    a, b = p.wt("wt-a"), p.wt("wt-b")
    lease(a, "docs/", "src/**/*.py")
    write(b, "docs/new.md", "new\n")
    write(b, "src/lib/parse.py", "def parse(x):\n    return 2\n")
    write(b, "README.md", "# demo 2\n")
    ok(b, "add", "-A")
    err = refused(b, "commit", "-m", "three files")
    assert "docs/new.md: leased by wt-a" in err and "as docs/ [exclusive]" in err
    assert "src/lib/parse.py: leased by wt-a" in err and "as src/**/*.py" in err
    assert "README.md:" not in err


def test_submodule_pointer_change_is_a_touched_path(tmp_path: Path) -> None:
    p = setup(tmp_path)
    sub = tmp_path / "subrepo"
    sub.mkdir()
    ok(sub, "init", "-q", "-b", "main")
    write(sub, "f", "1\n")
    ok(sub, "add", "f")
    ok(sub, "commit", "-qm", "s1")
    m = p.main
    ok(m, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "vendor/sub")
    ok(m, "commit", "-qm", "add submodule")
    lease(p.wt("wt-a"), "vendor/sub")
    write(sub, "f", "2\n")
    ok(sub, "commit", "-qam", "s2")
    ok(m / "vendor/sub", "pull", "-q", "origin", "main")
    ok(m, "add", "vendor/sub")
    err = refused(m, "commit", "-m", "bump submodule")
    assert "vendor/sub: leased by wt-a" in err


def test_shared_leases_are_co_ownership(tmp_path: Path) -> None:
    p = setup(tmp_path)
    a, b = p.wt("wt-a"), p.wt("wt-b")
    lease(a, "docs/api.md", "--shared")
    write(b, "docs/api.md", "# api b\n")
    ok(b, "add", "-A")
    assert "docs/api.md: leased by wt-a" in refused(b, "commit", "-m", "no lease")
    lease(b, "docs/api.md", "--shared")
    ok(b, "commit", "-q", "-m", "co-owner")


def test_require_lease_refuses_unleased_paths(tmp_path: Path) -> None:
    p = setup(tmp_path)
    b = p.wt("wt-b")
    ok(p.main, "config", "gitcoord.requireLease", "true")
    write(b, "docs/guide.md", "# g\n")
    ok(b, "add", "-A")
    err = refused(b, "commit", "-m", "unleased")
    assert "docs/guide.md" in err and "requireLease" in err
    assert "gitcoord lease docs/guide.md" in err
    lease(b, "docs/guide.md")
    ok(b, "commit", "-q", "-m", "leased now")


def test_no_verify_commit_is_recorded_as_a_violation_and_announced(project: Project) -> None:
    b = project.wt("wt-b")
    write(b, API, "x = 3\n")
    proc = sh(b, "commit", "-qam", "skip the check", "--no-verify")
    assert proc.returncode == 0  # the commit exists
    assert "VIOLATION" in proc.stderr and "!!!!" in proc.stderr and "leased by wt-a" in proc.stderr
    assert "Traceback" not in proc.stderr
    sha = head(b)
    v = events(b, "commit.violation")
    assert v and v[-1]["shas"] == [sha] and v[-1]["agent"] == "wt-b"
    assert v[-1]["details"]["violations"][0]["rule"] == "lease"
    assert commit_rows(project)[sha]["violation"] == 1


def test_bypass_lets_one_commit_through_and_is_recorded(project: Project) -> None:
    b = project.wt("wt-b")
    write(b, API, "x = 4\n")
    proc = sh(b, "commit", "-qam", "urgent fix", env={"GITCOORD_BYPASS": "prod is down"})
    assert proc.returncode == 0, proc.stderr
    assert "NOT refused" in proc.stderr
    bypass = events(b, "commit.bypassed")
    assert bypass and bypass[-1]["details"]["reason"] == "prod is down"
    # the post-commit shim took the fast path (the pre-commit pass covers this commit)
    assert [e["shas"] for e in events(b, "commit.recorded")][-1] == [head(b)]
    assert not events(b, "commit.violation")
    # the next commit is checked again
    write(b, API, "x = 5\n")
    refused(b, "commit", "-qam", "again")


def test_merge_is_refused_by_pre_merge_commit(tmp_path: Path) -> None:
    p = setup(tmp_path)
    a, b, m = p.wt("wt-a"), p.wt("wt-b"), p.main
    # B changes the api on its branch (no lease yet), main changes it too (different lines)
    write(b, API, "def handler():\n    return 1\n\n\ndef extra():\n    return 'b'\n")
    ok(b, "commit", "-qam", "b: extra")
    write(m, API, "# header\ndef handler():\n    return 1\n")
    ok(m, "commit", "-qam", "main: header")
    lease(a, API)
    # the merge touches the api relative to both parents: pre-merge-commit refuses
    proc = sh(b, "merge", "--no-edit", "main")
    assert proc.returncode != 0
    assert "pre-merge-commit" not in proc.stderr or "Traceback" not in proc.stderr
    assert f"{API}: leased by wt-a" in proc.stderr
    assert ok(b, "rev-parse", "-q", "--verify", "MERGE_HEAD").strip()  # merge left pending
    # concluding it by hand goes through pre-commit, which sees the merge too
    err = refused(b, "commit", "--no-edit")
    assert f"{API}: leased by wt-a" in err
    ok(b, "merge", "--abort")
    # a merge that only brings in main's side of files B did not touch passes
    ok(b, "reset", "-q", "--hard", "HEAD^")
    write(b, "docs/guide.md", "# b guide\n")
    ok(b, "commit", "-qam", "b: guide")
    ok(b, "merge", "-q", "--no-edit", "main")
    assert len(ok(b, "log", "-1", "--format=%P").split()) == 2


def test_a_lease_whose_worktree_is_gone_is_void(project: Project) -> None:
    b = project.wt("wt-b")
    write(b, API, "z = 1\n")
    ok(b, "add", API)
    refused(b, "commit", "-m", "b")
    ok(project.main, "worktree", "remove", "--force", str(project.wt("wt-a")))
    ok(b, "commit", "-q", "-m", "b, wt-a is gone")


def test_linked_worktree_added_after_install_is_enforced(project: Project) -> None:
    late = project.main.parent / "wt-late"
    ok(project.main, "worktree", "add", "-q", "-b", "late", str(late), "main")
    write(late, API, "late = 1\n")
    assert "leased by wt-a" in refused(late, "commit", "-qam", "late")


def test_foreign_hook_runs_first_and_gitcoord_still_enforces(tmp_path: Path) -> None:
    from fixtures.repos.recipes import small_project

    p = small_project(tmp_path)
    hook = p.main / ".git" / "hooks" / "pre-commit"
    marker = tmp_path / "foreign-ran"
    hook.write_text(f"#!/bin/sh\necho ran >> '{marker}'\nexit 0\n")
    hook.chmod(0o755)
    cli_ok(p.main, "init")
    lease(p.wt("wt-a"), API)
    b = p.wt("wt-b")
    write(b, API, "y = 1\n")
    refused(b, "commit", "-qam", "b")
    assert marker.read_text().count("ran") == 1
    cli_ok(p.main, "uninstall")
    assert hook.read_text().startswith("#!/bin/sh\necho ran")
    ok(b, "commit", "-qam", "b, hooks gone")


def test_hook_impl_never_imports_heavy_modules(project: Project) -> None:
    """The hook path imports neither click, rich, pygit2 nor GitPython -- on the fast path
    (a clean commit) and on the full one (a refusal)."""
    import subprocess
    import sys

    probe = (
        "import sys, runpy\n"
        "sys.argv = ['gitcoord', 'hook-impl', 'pre-commit']\n"
        "try:\n    runpy.run_module('gitcoord', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "heavy = [m for m in ('click', 'rich', 'pygit2', 'git') if m in sys.modules]\n"
        "sys.stderr.write(f'\\nexit={code} heavy={heavy}\\n')\n"
    )
    from tests.test_hooks_support import git_env

    for wt, expect in ((project.wt("wt-a"), 0), (project.wt("wt-b"), 1)):
        write(wt, API, f"x = {expect}\n")
        ok(wt, "add", API)
        env = git_env()
        proc = subprocess.run([sys.executable, "-c", probe], cwd=wt, env=env, capture_output=True, text=True)
        assert f"exit={expect} heavy=[]" in proc.stderr, proc.stderr


def test_store_dir_holds_no_crash_log_after_normal_use(project: Project, store_kind: str) -> None:
    b = project.wt("wt-b")
    write(b, "docs/guide.md", "# fine\n")
    ok(b, "commit", "-qam", "fine")
    assert not (common_dir(project) / "gitcoord" / "hooks.log").exists()
    assert cli(b, "leases").code == 0
    if store_kind == "sqlite":
        assert os.path.exists(common_dir(project) / "gitcoord" / "gitcoord.db")


def test_a_boolean_key_written_without_value_is_true(project: Project) -> None:
    """`[gitcoord] requireLease` with no `= true` is true for git, so for us too (never
    a silent pass): both the fast path and the full check refuse an unleased path."""
    cfg = common_dir(project) / "config"
    cfg.write_text(cfg.read_text() + "[gitcoord]\n\trequireLease\n")
    b = project.wt("wt-b")
    write(b, "docs/guide.md", "# b edits an unleased file\n")
    ok(b, "add", "docs/guide.md")
    err = refused(b, "commit", "-qm", "unleased")
    assert "docs/guide.md" in err


def test_a_pass_left_by_an_aborted_commit_never_covers_a_no_verify_retry(project: Project) -> None:
    """pre-commit passed, then the commit aborted (empty message); meanwhile another
    worktree leased the path. Retrying the same tree with --no-verify is a violation:
    the old pass belonged to another `git commit`."""
    a, b = project.wt("wt-a"), project.wt("wt-b")
    write(b, "docs/guide.md", "# b's guide\n")
    ok(b, "add", "docs/guide.md")
    aborted = sh(b, "commit", "-m", "")
    assert aborted.returncode != 0 and "empty commit message" in aborted.stderr
    lease(a, "docs/guide.md")
    proc = sh(b, "commit", "-q", "-m", "retry, unchecked", "--no-verify")
    assert proc.returncode == 0
    assert "VIOLATION" in proc.stderr and "docs/guide.md" in proc.stderr
    v = events(b, "commit.violation")
    assert v and v[-1]["shas"] == [head(b)]


def test_commits_are_recorded_under_the_agent_git_ran_for(project: Project) -> None:
    """GITCOORD_AGENT names the agent of a commit, on the journal fast path too (SPEC
    section 1: --agent, else GITCOORD_AGENT, else the bound name, else the directory)."""
    a = project.wt("wt-a")
    write(a, API, "def handler():\n    return 'agent'\n")
    ok(a, "commit", "-qam", "by claude", env={"GITCOORD_AGENT": "claude-7"})
    sha = head(a)
    assert journal_lines(project)[-1].split("\t")[4] == "claude-7"
    recorded = [e for e in events(a, "commit.recorded") if e["shas"] == [sha]]
    assert recorded and recorded[0]["agent"] == "claude-7"
    # a name that would break a journal line is left out: the directory name stands in
    for i, odd in enumerate(["a\tb", "bo\rb", '"q"']):
        write(a, API, f"def handler():\n    return {i}\n")
        ok(a, "commit", "-qam", "odd name", env={"GITCOORD_AGENT": odd})
        sha = head(a)
        recorded = [e for e in events(a, "commit.recorded") if e["shas"] == [sha]]
        assert recorded and recorded[0]["agent"] == "wt-a", odd


def test_the_printed_fix_works_for_amend_and_commit_a(project: Project) -> None:
    """The refusal names the one command that fixes it; for `--amend` and `-a` the
    plain `git restore --staged` would change nothing (SPEC section 5)."""
    a, b = project.wt("wt-a"), project.wt("wt-b")
    write(b, "docs/guide.md", "# b's guide\n")
    write(b, "src/app/util.py", "def helper():\n    return 8\n")
    ok(b, "commit", "-qam", "b edits the guide and util")
    lease(a, "docs/guide.md")  # too late for that commit: amending it is refused
    err = refused(b, "commit", "--amend", "--no-edit")
    assert "git reset -q HEAD^ -- docs/guide.md" in err
    ok(b, "reset", "-q", "HEAD^", "--", "docs/guide.md")
    ok(b, "commit", "-q", "--amend", "--no-edit")  # the guide is out of the commit now
    assert ok(b, "show", "--format=", "--name-only", "HEAD").split() == ["src/app/util.py"]
    err = refused(b, "commit", "-qam", "again, with -a")
    assert "git stash push -- docs/guide.md" in err
    # naming paths, git commits from an index of its own: the fix is to name fewer
    write(b, "src/app/util.py", "def helper():\n    return 10\n")
    err = refused(b, "commit", "-qm", "by name", "docs/guide.md", "src/app/util.py")
    assert "name only your other paths to git commit (not docs/guide.md)" in err
    assert "restore --staged" not in err
    ok(b, "commit", "-qm", "by name", "src/app/util.py")
    ok(b, "stash", "push", "-q", "--", "docs/guide.md")
    write(b, "src/app/util.py", "def helper():\n    return 9\n")
    ok(b, "commit", "-qam", "the rest")


def test_commits_a_rebase_makes_unchecked_are_checked_when_recorded(project: Project) -> None:
    """SPEC section 5: a commit no check passed is recorded as a violation when it breaks
    a rule. Inside a rebase that includes an exec commit made with --no-verify and a
    conflict resolution (git commits it without pre-commit); post-commit journals them
    and the next drain checks them against the leases."""
    b = project.wt("wt-b")
    write(b, "docs/b.md", "b\n")
    ok(b, "add", "docs/b.md")
    ok(b, "commit", "-qm", "b: docs")
    ok(b, "rebase", "-q", "--exec", f"echo evil >> {API} && git commit -qam sneaky --no-verify", "HEAD~1")
    sneaky = head(b)
    assert [e["shas"] for e in events(b, "commit.violation")] == [[sneaky]]
    assert commit_rows(project)[sneaky]["violation"] == 1
    assert commit_rows(project)[sneaky]["source"] == "rebase"

    ok(b, "checkout", "-q", "-b", "b2", "main")
    write(b, "docs/c.md", "mine\n")
    ok(b, "add", "docs/c.md")
    ok(b, "commit", "-qm", "b: c")
    write(project.main, "docs/c.md", "theirs\n")
    ok(project.main, "add", "docs/c.md")
    ok(project.main, "commit", "-qm", "main: c")
    assert sh(b, "rebase", "-q", "main").returncode != 0  # conflict on docs/c.md
    write(b, "docs/c.md", "resolved\n")
    write(b, API, "sneaked in with the resolution\n")
    ok(b, "add", "docs/c.md", API)
    ok(b, "rebase", "--continue", env={"GIT_EDITOR": "true"})
    resolved = head(b)
    assert [e["shas"] for e in events(b, "commit.violation")][-1] == [resolved]


def test_git_am_is_checked_like_a_commit_and_recorded(project: Project) -> None:
    """SPEC section 5: a commit touching another holder's lease is refused, however it
    is made. `git am` runs no pre-commit or post-commit but pre-applypatch and
    post-applypatch: those check and record each applied patch."""
    a, b = project.wt("wt-a"), project.wt("wt-b")
    write(a, API, "patched by a\n")
    ok(a, "commit", "-qam", "a: api")  # a holds the lease: fine
    patch = ok(a, "format-patch", "-1", "--stdout")
    proc = sh(b, "am", "-q", input=patch)
    assert proc.returncode != 0 and "leased by wt-a" in proc.stderr
    assert "git am --skip" in proc.stderr and 'GITCOORD_BYPASS="<reason>" git am --continue' in proc.stderr
    assert events(b, "commit.refused")[-1]["agent"] == "wt-b"
    ok(b, "am", "--abort")
    # a patch that leaves the lease alone is applied and recorded, with its own pass
    write(a, "docs/a.md", "doc\n")
    ok(a, "add", "docs/a.md")
    ok(a, "commit", "-qm", "a: docs")
    ok(b, "am", "-q", input=ok(a, "format-patch", "-1", "--stdout"))
    assert journal_lines(project)[-1].split("\t")[:3] == ["post-commit", head(b), str(b)]
    assert events(b, "commit.recorded")[-1]["shas"] == [head(b)]  # (drains the journal)
    assert commit_rows(project)[head(b)]["violation"] == 0
    # `git rebase --apply` runs the same hooks for its picks: journaled, checked at the drain
    before = head(b)
    ok(project.main, "commit", "-q", "--allow-empty", "-m", "main moves on")
    ok(b, "rebase", "-q", "--apply", "main")
    assert journal_lines(project)[-2].split("\t")[:2] == ["rebased", head(b)]
    events(b)
    assert head(b) != before and commit_rows(project)[head(b)]["source"] == "rebase"
