"""The pre-commit fast path passes only what the full check passes (gitcoord.fastpath).

It proves a commit clean with parallel git processes and one store snapshot, evaluating
the globs and directory leases near the staged paths and the stale-read predicate itself;
only a real match (or what it cannot decide) goes to the full check. These tests pin both
halves of that promise, in process and through the installed hooks of a real repository;
tests/test_fastpath_verdicts.py compares the lease verdicts on generated lease sets.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fixtures.repos.recipes import Project
from gitcoord import checks, context, fastpath, gitrepo, hookenv, store
from gitcoord.store import hookread, migrations
from gitcoord.store import sqlite as sqlite_store
from tests.test_hooks_support import (
    API,
    cli_ok,
    db_path,
    hooked_project,  # noqa: F401 (the project fixture)
    journal_lines,
    lease,
    ok,
    sh,
    write,
)

pytestmark = pytest.mark.sqlite_only  # the pre-commit fast path reads SQLite only


def fast(wt: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.chdir(wt)
    return fastpath.pre_commit()


def full_passes(wt: Path) -> bool:
    ctx = context.load(wt)
    try:
        return not checks.check_staged(ctx).errors
    finally:
        ctx.close()


def stage(wt: Path, rel: str, text: str) -> None:
    write(wt, rel, text)
    ok(wt, "add", rel)


def test_a_clean_commit_passes_fast_and_leaves_the_checked_tree(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    b = project.wt("wt-b")
    stage(b, API, "x = 1\n")
    ok_file = project.main / ".git" / "worktrees" / "wt-b" / hookenv.OK_FILE
    ok_file.unlink(missing_ok=True)
    assert fast(b, monkeypatch)
    first, common, top = ok_file.read_text().splitlines()
    tree, by, when = first.split()
    assert tree == ok(b, "write-tree").strip() and by.isdigit()  # the tree, and git's pid
    assert abs(int(when) - time.time()) < 60
    # where the post-commit shim journals, so that it need not ask git
    assert (Path(common), Path(top)) == (project.main / ".git", b)
    assert full_passes(b)


def test_own_leases_and_others_leases_elsewhere_keep_the_fast_path(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    lease(b, API)
    lease(a, "docs/", "src/lib/parse.py")
    stage(b, API, "x = 2\n")
    assert fast(b, monkeypatch) and full_passes(b)


def test_others_globs_and_directories_nearby_that_match_nothing_staged_keep_the_fast_path(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    # keyed at the staged path's directory and at its ancestors, and beside them
    lease(a, "src/app/*.txt", "src/**/test_*.py", "**/*.md", "src/app/[!a]*.py", "src/app/ap?.pyc")
    lease(a, "src/lib/", "src/app/api.py.d/", "tests/")
    stage(b, API, "x = 2\n")
    assert fast(b, monkeypatch) and full_passes(b)


@pytest.mark.parametrize(
    "situation",
    ["others-lease", "others-glob", "others-dir", "stale", "read-set", "require-lease", "bypass",
     "store-missing", "merging", "no-main"],
)
def test_the_fast_path_hands_over_whenever_it_cannot_prove_clean(
    project: Project, monkeypatch: pytest.MonkeyPatch, situation: str
) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    stage(b, API, "x = 3\n")
    full_should_pass = True
    if situation == "others-lease":
        lease(a, API)
        full_should_pass = False
    elif situation == "others-glob":
        lease(a, "src/**/a?i.py")
        full_should_pass = False
    elif situation == "others-dir":
        lease(a, "src/")
        full_should_pass = False
    elif situation == "stale":
        write(project.main, API, "# main moved\n")
        ok(project.main, "commit", "-qam", "main moves the api")
        full_should_pass = False
    elif situation == "read-set":
        cli_ok(b, "read", "README.md")
    elif situation == "require-lease":
        ok(b, "config", "gitcoord.requireLease", "true")
        full_should_pass = False
    elif situation == "bypass":
        monkeypatch.setenv("GITCOORD_BYPASS", "why not")
    elif situation == "store-missing":
        for suffix in ("", "-wal", "-shm"):
            Path(str(db_path(project)) + suffix).unlink(missing_ok=True)
    elif situation == "merging":
        head = ok(b, "rev-parse", "HEAD").strip()
        (project.main / ".git" / "worktrees" / "wt-b" / "MERGE_HEAD").write_text(head + "\n")
    elif situation == "no-main":
        ok(project.main, "branch", "-m", "main", "trunk")
    assert not fast(b, monkeypatch)
    if situation not in ("store-missing", "merging"):
        assert full_passes(b) == full_should_pass


def test_a_branch_behind_main_stays_fast_when_nothing_it_touches_changed_there(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    b, m = project.wt("wt-b"), project.main
    write(m, "README.md", "# main moved\n")
    ok(m, "commit", "-qam", "main: readme")
    api_commit_base = ok(m, "rev-parse", "HEAD").strip()
    write(m, "docs/api.md", "# api docs v2\n")
    ok(m, "commit", "-qam", "main: api docs")
    stage(b, API, "x = 5\n")
    assert fast(b, monkeypatch) and full_passes(b)
    # a path main changed, but this branch already has main's version of it: fresh
    ok(b, "reset", "-q", "--hard")
    ok(b, "cherry-pick", ok(m, "rev-parse", "HEAD").strip())
    stage(b, "docs/api.md", "# api docs v2\n\nmore\n")
    assert fast(b, monkeypatch) and full_passes(b)
    # deleting a path main changed since the fork: stale, for both
    ok(b, "reset", "-q", "--hard", api_commit_base + "~1")
    ok(b, "rm", "-q", "README.md")
    assert not fast(b, monkeypatch) and not full_passes(b)


def test_integration_guess_agrees_with_the_repository(project: Project) -> None:
    common = str(project.main / ".git")
    repo = gitrepo.discover(project.main)
    assert fastpath._integration_guess(common, None) == repo.integration_ref() == "refs/heads/main"
    assert fastpath._integration_guess(common, "refs/heads/dev") == "refs/heads/dev"
    ok(project.main, "branch", "develop")
    ok(project.main, "update-ref", "refs/remotes/origin/develop", "HEAD")
    ok(project.main, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/develop")
    assert fastpath._integration_guess(common, None) == repo.integration_ref() == "refs/heads/develop"


def test_store_helpers_agree_with_the_sqlite_store(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in (None, "3", "0.5", "junk"):
        if value is None:
            monkeypatch.delenv("GITCOORD_BUSY_TIMEOUT", raising=False)
        else:
            monkeypatch.setenv("GITCOORD_BUSY_TIMEOUT", value)
        assert hookread.busy_timeout() == sqlite_store.busy_timeout()
    monkeypatch.setenv("GITCOORD_TEST_CLOCK_OFFSET", "3600")
    assert abs(hookread.now() - sqlite_store.default_clock().now()) < 5
    assert hookread.SCHEMA_VERSION == migrations.LATEST
    common = Path("/r/repo/.git")
    assert store.sqlite_file(str(common), None) == str(store.sqlite_path(common))
    for url in ("sqlite:///srv/x.db", "/srv/x.db", "rel/x.db", "~/x.db", "sqlite://rel/y.db"):
        assert store.sqlite_file(str(common), url) == str(store.sqlite_url_path(url, common))


def test_amend_flag_parsing() -> None:
    assert hookenv.amend_flag(["--amend"])
    assert hookenv.amend_flag(["-q", "--am", "-m", "x"])
    assert not hookenv.amend_flag(["-m", "--amend"])  # a message, not the option
    assert not hookenv.amend_flag(["--amend", "--no-amend"])
    assert not hookenv.amend_flag(["--", "--amend"])
    assert not hookenv.amend_flag(["-a", "--all"])


def test_merging_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_REFLOG_ACTION", "merge feature other")
    assert hookenv.merging_names() == ["feature", "other"]
    monkeypatch.setenv("GIT_REFLOG_ACTION", "pull --no-rebase origin main")
    assert hookenv.merging_names() == ["FETCH_HEAD"]


def test_the_commit_path_opens_no_store_it_would_have_to_create(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path(project)) + suffix).unlink(missing_ok=True)
    assert not fast(project.wt("wt-b"), monkeypatch)
    assert not os.path.exists(db_path(project))


@pytest.mark.parametrize("where", ["main", "wt-b", "wt-b+GIT_DIR"])
def test_locating_the_repository_without_git_agrees_with_rev_parse(
    project: Project, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    wt = project.wt(where.split("+")[0])
    monkeypatch.chdir(wt)
    monkeypatch.delenv("GIT_DIR", raising=False)
    repo = gitrepo.discover(wt)
    if where.endswith("GIT_DIR"):
        monkeypatch.setenv("GIT_DIR", str(repo.git_dir))
    found = hookenv.locate()
    assert found is not None
    git_dir, common, top = found
    assert (Path(git_dir).resolve(), Path(common).resolve(), Path(top).resolve()) == (
        repo.git_dir, repo.common_dir, repo.root
    )
    monkeypatch.setenv("GIT_WORK_TREE", str(wt))
    assert hookenv.locate() is None  # unusual set-ups: ask git


def test_paths_given() -> None:
    assert hookenv.paths_given(["-m", "x", "src/a.py"]) and hookenv.paths_given(["-o", "a"])
    assert hookenv.paths_given(["-qm", "x", "--", "-odd-name"])
    assert not hookenv.paths_given(["-m", "src/a.py"]) and not hookenv.paths_given(["-am", "x"])
    assert not hookenv.paths_given(["--amend", "--no-edit"]) and not hookenv.paths_given(["-m", "x", "--"])


def test_all_flag() -> None:
    assert hookenv.all_flag(["-a"]) and hookenv.all_flag(["-am", "msg"]) and hookenv.all_flag(["--all"])
    assert hookenv.all_flag(["-qa"]) and hookenv.all_flag(["-m", "x", "-a"])
    assert not hookenv.all_flag(["-m", "-a"])  # a message, not the option
    assert not hookenv.all_flag(["-ma"])  # the message is "a"
    assert not hookenv.all_flag(["--amend"]) and not hookenv.all_flag(["--", "-a"])


# ---------------------------------------------------------------------------------------
# Through the installed hooks: a real `git commit` in a linked worktree. Which path decided
# is read from the hook's own import trace (PYTHONPROFILEIMPORTTIME): the full check cannot
# run without importing gitcoord.checks, and the fast path never imports it.
# ---------------------------------------------------------------------------------------


def traced_commit(wt: Path, msg: str) -> tuple[int, set[str], str]:
    """``git commit`` through the installed hooks: exit code, the modules the hook's
    Python imported, and what it said (the import trace left out)."""
    proc = sh(wt, "commit", "-q", "-m", msg, env={"PYTHONPROFILEIMPORTTIME": "1"})
    modules: set[str] = set()
    said: list[str] = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:"):
            modules.add(line.rsplit("|", 1)[1].strip())
        else:
            said.append(line)
    return proc.returncode, modules, "\n".join(said)


def test_a_nearby_glob_or_directory_lease_that_matches_nothing_takes_the_fast_path(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    lease(a, "src/app/*.txt", "src/**/test_*.py", "src/app/[!a]*.py", "src/app/ap?.pyc", "*.md")
    lease(a, "src/lib/", "tests/", "src/app/api.py.d/")
    stage(b, API, "x = 1\n")
    code, modules, said = traced_commit(b, "b edits the api beside a's leases")
    assert code == 0, said
    assert "gitcoord.fastpath" in modules and "gitcoord.checks" not in modules
    sha = ok(b, "rev-parse", "HEAD").strip()
    # the fast path's pass let the post-commit shim journal the commit without Python
    assert journal_lines(project)[-1].split("\t")[:3] == ["post-commit", sha, str(b)]


def test_a_branch_behind_main_takes_the_fast_path_when_main_changed_nothing_it_commits(project: Project) -> None:
    b, m = project.wt("wt-b"), project.main
    for i in range(3):
        write(m, "README.md", f"# main moved {i}\n")
        ok(m, "commit", "-qam", f"main moves {i}")
    stage(b, API, "x = 1\n")
    code, modules, said = traced_commit(b, "b, three commits behind main")
    assert code == 0, said
    assert "gitcoord.fastpath" in modules and "gitcoord.checks" not in modules
    assert sh(b, "merge-base", "--is-ancestor", "main", "HEAD").returncode == 1  # still behind


@pytest.mark.parametrize("match", ["glob", "dir", "file", "stale"])
def test_a_real_match_goes_to_the_full_check_and_is_refused(project: Project, match: str) -> None:
    a, b, m = project.wt("wt-a"), project.wt("wt-b"), project.main
    lease(a, "src/app/*.txt", "tests/")  # near, matching nothing
    write(m, "README.md", "# main moved\n")
    ok(m, "commit", "-qam", "main moves the readme")
    if match == "glob":
        lease(a, "src/**/a[p]?.py")
    elif match == "dir":
        lease(a, "src/app/")
    elif match == "file":
        lease(a, API)
    else:
        write(m, API, "# main's api\n")
        ok(m, "commit", "-qam", "main moves the api")
    stage(b, API, "x = 1\n")
    code, modules, said = traced_commit(b, "b edits the api")
    assert code == 1
    assert "gitcoord.fastpath" in modules and "gitcoord.checks" in modules
    assert "commit refused: 1 violation" in said
    assert ("stale read" if match == "stale" else "leased by wt-a") in said
    assert ok(b, "log", "-1", "--format=%s").strip() == "initial layout"


def test_a_shared_lease_goes_to_the_full_check_which_lets_co_owners_commit(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    lease(a, "src/app/", "--shared")
    lease(b, "src/**/*.py", "--shared")
    stage(b, API, "x = 1\n")
    code, modules, said = traced_commit(b, "b co-owns src/app")
    assert code == 0, said
    assert "gitcoord.checks" in modules  # a shared lease to weigh: the full check decided


def test_after_a_fast_pass_the_post_commit_shim_starts_no_process(project: Project, tmp_path: Path) -> None:
    import json

    b = project.wt("wt-b")
    stage(b, API, "x = 1\n")
    trace = tmp_path / "trace2.json"
    proc = sh(b, "commit", "-q", "-m", "b: api", env={"GIT_TRACE2_EVENT": str(trace)})
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    post = next(e for e in events if e["event"] == "child_start" and e["argv"][0].endswith("post-commit"))
    during: list[list[str]] = []
    for e in events[events.index(post) + 1 :]:
        if e["event"] == "child_exit" and e.get("child_id") == post["child_id"] and e["sid"] == post["sid"]:
            break
        if e["event"] == "start":
            during.append(e["argv"])
    assert during == []  # no git (nor Python: that would be a child of git's, or start git)
    sha = ok(b, "rev-parse", "HEAD").strip()
    tree = ok(b, "rev-parse", "HEAD^{tree}").strip()
    line = journal_lines(project)[-1].split("\t")
    assert (line[0], line[1], line[2], line[5]) == ("post-commit", sha, str(b), tree)


@pytest.mark.parametrize(
    ("main_changes", "stale"),
    [("src/app/util.py", False), (API, True), ("README.md", True), ("docs/guide.md", False)],
)
def test_many_staged_paths_are_checked_for_staleness_through_their_directories(
    project: Project, monkeypatch: pytest.MonkeyPatch, main_changes: str, stale: bool
) -> None:
    b, m = project.wt("wt-b"), project.main
    write(m, main_changes, "# main's version\n")
    ok(m, "commit", "-qam", f"main changes {main_changes}")
    for i in range(fastpath._MAX_PATHSPECS + 6):  # more than are named to git one by one
        write(b, f"src/gen/m{i:03d}.py", f"x = {i}\n")
    write(b, API, "x = 'b'\n")
    if main_changes == "README.md":  # a path at the top: no directory narrows the diff
        write(b, "README.md", "# b's readme\n")
    ok(b, "add", "-A")
    assert fast(b, monkeypatch) is not stale
    assert full_passes(b) is not stale
