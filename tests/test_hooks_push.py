"""Pushes through the real hooks: pre-push in the clones, pre-receive in a shared bare
repository (SPEC section 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.repos.recipes import Project
from tests.conftest import store_sql
from tests.test_hooks_support import (
    cli,
    cli_ok,
    commit_rows,
    events,
    head,
    lease,
    ok,
    refused,
    setup,
    sh,
    write,
)

API = "src/app/api.py"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """The small project with a local bare remote ``origin`` that has main."""
    p = setup(tmp_path)
    bare = tmp_path / "origin.git"
    ok(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    ok(p.main, "remote", "add", "origin", str(bare))
    ok(p.main, "push", "-q", "origin", "main")
    return p


def test_push_of_a_commit_touching_anothers_lease_is_refused(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    lease(a, API, "--reason", "api owner")
    write(b, API, "x = 1\n")
    ok(b, "commit", "-qam", "b: sneaks past pre-commit", "--no-verify")
    sha = head(b)
    err = refused(b, "push", "-q", "origin", "wt-b")
    assert "push refused: 1 violation" in err
    assert f"{API} [{sha[:12]}]: leased by wt-a" in err and "reason: api owner" in err
    assert "gitcoord send wt-a" in err and 'GITCOORD_BYPASS="<reason>" git push' in err
    assert not ok(b, "ls-remote", "origin", "refs/heads/wt-b").strip()
    refusal = events(b, "push.refused")[-1]
    assert refusal["shas"] == [sha] and refusal["agent"] == "wt-b"
    # the bypass lets it through, recorded
    proc = sh(b, "push", "-q", "origin", "wt-b", env={"GITCOORD_BYPASS": "agreed with A"})
    assert proc.returncode == 0, proc.stderr
    assert events(b, "push.bypassed")[-1]["details"]["reason"] == "agreed with A"
    assert ok(b, "ls-remote", "origin", "refs/heads/wt-b").split()[0] == sha


def test_pushed_shas_are_recorded_and_only_new_commits_are_checked(project: Project) -> None:
    a = project.wt("wt-a")
    lease(a, API)
    write(a, API, "a = 1\n")
    ok(a, "commit", "-qam", "a: api 1")
    first = head(a)
    ok(a, "push", "-q", "origin", "wt-a")
    pushed = events(a, "push.recorded")[-1]
    assert pushed["shas"] == [first] and pushed["agent"] == "wt-a"
    assert pushed["details"]["updates"][0]["remote_ref"] == "refs/heads/wt-a"
    write(a, API, "a = 2\n")
    ok(a, "commit", "-qam", "a: api 2")
    second = head(a)
    ok(a, "push", "-q", "origin", "wt-a")
    assert events(a, "push.recorded")[-1]["shas"] == [second]
    # a force push of a rewritten branch checks the rewritten commits
    ok(a, "commit", "--amend", "-q", "-m", "a: api 2, reworded")
    ok(a, "push", "-q", "-f", "origin", "wt-a")
    assert events(a, "push.recorded")[-1]["shas"] == [head(a)]
    # a deletion adds nothing and is not refused
    ok(a, "push", "-q", "origin", ":wt-a")


def test_a_commit_is_checked_as_its_makers_wherever_it_is_pushed_from(project: Project) -> None:
    """The main worktree pushes wt-a's branch: wt-a's commit on its own lease passes."""
    a = project.wt("wt-a")
    lease(a, API)
    write(a, API, "a = 3\n")
    ok(a, "commit", "-qam", "a: api 3")
    ok(project.main, "push", "-q", "origin", "wt-a")


def test_merges_are_checked_against_each_parent(project: Project) -> None:
    a, b, m = project.wt("wt-a"), project.wt("wt-b"), project.main
    lease(a, API)
    write(a, API, "def handler():\n    return 'a'\n")
    ok(a, "commit", "-qam", "a: api")
    # main merges A's work and pushes: A's commit is A's, the merge adds nothing of its own
    ok(m, "merge", "-q", "--no-ff", "--no-edit", "wt-a")
    ok(m, "push", "-q", "origin", "main")
    # B merges main cleanly: the api change is A's, not B's
    write(b, "docs/guide.md", "# b\n")
    ok(b, "commit", "-qam", "b: guide")
    ok(b, "merge", "-q", "--no-edit", "main")
    ok(b, "push", "-q", "origin", "wt-b")
    # an evil merge: B slips an api edit into a merge's resolution, skipping the hooks
    ok(a, "commit", "-q", "--allow-empty", "-m", "a: marker")
    write(m, "README.md", "# demo, main\n")
    ok(m, "commit", "-qam", "main: readme")
    ok(b, "merge", "-q", "--no-commit", "main")
    write(b, API, "def handler():\n    return 'evil'\n")
    ok(b, "add", API)
    ok(b, "commit", "-q", "--no-edit", "--no-verify")
    merge = head(b)
    assert len(ok(b, "log", "-1", "--format=%P").split()) == 2
    err = refused(b, "push", "-q", "origin", "wt-b")
    assert f"{API} [{merge[:12]}]: leased by wt-a" in err


def test_stale_commit_is_refused_against_the_remotes_integration_ref(project: Project) -> None:
    b, m = project.wt("wt-b"), project.main
    write(m, API, "# v2\ndef handler():\n    return 1\n")
    ok(m, "commit", "-qam", "main: api v2")
    ok(m, "push", "-q", "origin", "main")
    write(b, API, "def handler():\n    return 'b'\n")
    ok(b, "commit", "-qam", "b: stale", "--no-verify")
    err = refused(b, "push", "-q", "origin", "wt-b")
    assert "stale read: origin/main changed it" in err and "git rebase --autostash origin/main" in err


def test_check_push_reports_what_a_push_would(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    lease(a, API)
    write(b, API, "x = 2\n")
    ok(b, "commit", "-qam", "b: unchecked", "--no-verify")
    r = cli(b, "check", "--push", "origin", "--json")
    assert r.code == 1
    assert r.json()["violations"][0]["lease"]["holder"]["agent"] == "wt-a"
    assert cli(a, "check", "--push", "origin").code == 0


# ---------------------------------------------------------------- pre-receive
@pytest.fixture
def server(tmp_path: Path) -> Project:
    """A shared bare repository with gitcoord's store and pre-receive; the clone's
    worktrees use the bare repository's store."""
    p = setup(tmp_path)
    bare = tmp_path / "shared.git"
    ok(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    cli_ok(bare, "init")  # in a bare repository: the store and the server-side hook
    assert (bare / "hooks" / "pre-receive").exists()
    ok(bare, "config", "receive.advertisePushOptions", "true")
    shared_db = bare / "gitcoord" / "gitcoord.db"
    ok(p.main, "config", "gitcoord.store", str(shared_db))
    ok(p.main, "remote", "add", "origin", str(bare))
    ok(p.main, "push", "-q", "origin", "main")
    return p


def test_pre_receive_refuses_a_push_that_skipped_every_client_hook(server: Project, tmp_path: Path) -> None:
    a, b = server.wt("wt-a"), server.wt("wt-b")
    lease(a, API)
    write(b, API, "x = 3\n")
    ok(b, "commit", "-qam", "b: no hooks at all", "--no-verify")
    proc = sh(b, "push", "--no-verify", "origin", "wt-b")
    assert proc.returncode != 0
    assert "push refused" in proc.stderr and f"{API}" in proc.stderr and "leased by wt-a" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not ok(b, "ls-remote", "origin", "refs/heads/wt-b").strip()
    assert events(b, "receive.refused")[-1]["subject"] == "refs/heads/wt-b"
    # a bypass reaches the server only as a push option, and is recorded there
    ok(b, "push", "-q", "--no-verify", "-o", "GITCOORD_BYPASS=hotfix approved", "origin", "wt-b")
    assert events(b, "receive.bypassed")[-1]["details"]["reason"] == "hotfix approved"


def test_pre_receive_passes_clean_pushes_and_records_them(server: Project) -> None:
    a = server.wt("wt-a")
    lease(a, API)
    write(a, API, "a = 1\n")
    ok(a, "commit", "-qam", "a: api")
    ok(a, "push", "-q", "origin", "wt-a")
    received = events(a, "receive.recorded")[-1]
    assert received["shas"] == [head(a)]


def test_require_recorded_refuses_commits_the_audit_trail_never_saw(server: Project, tmp_path: Path) -> None:
    bare = tmp_path / "shared.git"
    ok(bare, "config", "gitcoord.requireRecorded", "true")
    b = server.wt("wt-b")
    # a commit made with the hooks switched off is never recorded
    write(b, "docs/guide.md", "# unseen\n")
    ok(b, "-c", "core.hooksPath=/dev/null", "commit", "-qam", "b: hooks off")
    unseen = head(b)
    assert unseen not in commit_rows_of(bare)
    err = refused(b, "push", "--no-verify", "origin", "wt-b")
    assert f"{unseen[:12]}: commit never recorded" in err
    # recorded commits (journaled, drained by the next gitcoord command) go through
    ok(b, "reset", "-q", "--hard", "HEAD^")
    write(b, "docs/guide.md", "# seen\n")
    ok(b, "commit", "-qam", "b: hooks on")
    cli_ok(b, "leases")  # drains the journal into the shared store
    assert head(b) in commit_rows_of(bare)
    ok(b, "push", "-q", "--no-verify", "origin", "wt-b")


def commit_rows_of(bare: Path) -> set[str]:
    return {r[0] for r in store_sql(bare, "SELECT sha FROM commits")}


def test_commit_rows_name_the_holder(project: Project) -> None:
    a = project.wt("wt-a")
    write(a, "docs/api.md", "# a\n")
    ok(a, "commit", "-qam", "a: docs")
    cli_ok(a, "leases")
    row = commit_rows(project)[head(a)]
    assert row["worktree"] == str(a) and row["agent"] == "wt-a" and row["source"] == "commit"


@pytest.mark.parametrize("name", ["w\ttab", "w\\slash", "w\rcr", "w\u2028ls", '"quoted"'])
def test_a_worktree_path_with_a_tab_or_backslash_records_its_commits_as_its_own(
    project: Project, tmp_path: Path, name: str
) -> None:
    """SPEC sections 5 and 6: a commit event names its worktree, and only another
    holder's lease refuses a push. The journal is tab-separated; a worktree path that
    would break a line must not credit the commit to a phantom holder (whose own
    leased path the push would then refuse)."""
    wt = tmp_path / name
    ok(project.main, "worktree", "add", "-q", "-b", "odd", str(wt), "main")
    lease(wt, API, env={"GITCOORD_AGENT": "c"})
    write(wt, API, "mine\n")
    ok(wt, "commit", "-qam", "c edits its own lease", env={"GITCOORD_AGENT": "c"})
    ok(wt, "push", "-q", "origin", "odd", env={"GITCOORD_AGENT": "c"})
    recorded = events(wt, "commit.recorded")[-1]
    assert recorded["worktree"] == str(wt) and recorded["agent"] == "c"
    assert recorded["shas"] == [head(wt)]


def test_a_push_to_an_untracked_remote_checks_the_integration_line_under_any_name(
    project: Project, tmp_path: Path
) -> None:
    """SPEC section 5: pre-push checks every commit not yet on the remote. With no
    remote-tracking refs (a URL, a fresh remote) a side branch trusts the local main,
    but a push of main itself must be checked however it is spelled."""
    lease(project.wt("wt-a"), API)
    write(project.main, API, "x = 1\n")
    ok(project.main, "commit", "-qam", "main: sneaks past pre-commit", "--no-verify")
    fresh = tmp_path / "fresh.git"
    ok(tmp_path, "init", "-q", "--bare", "-b", "main", str(fresh))
    assert f"{API} [" in refused(project.main, "push", "-q", str(fresh), "HEAD:main")
    ok(project.main, "branch", "x")
    assert f"{API} [" in refused(project.main, "push", "-q", str(fresh), "x")
    assert not ok(project.main, "ls-remote", str(fresh)).strip()
    # a side branch off a clean main still trusts it: only its own commit is checked
    b = project.wt("wt-b")
    write(b, "docs/b.md", "b\n")
    ok(b, "add", "docs/b.md")
    ok(b, "commit", "-qm", "b: docs")
    ok(b, "push", "-q", str(fresh), "wt-b")
    assert events(b, "push.recorded")[-1]["shas"] == [head(b)]
