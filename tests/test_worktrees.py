"""``worktree add|list|remove`` through real git (SPEC section 4)."""

from __future__ import annotations

from pathlib import Path

from fixtures.repos.recipes import Project, git, write
from tests.conftest import Result, holding_write_lock, run_inproc, store_dump


def j(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return run_inproc(cwd, "--json", *args, env=env)


def test_add_claims_creates_binds_and_prints_path(project: Project, gc) -> None:  # type: ignore[no-untyped-def]
    main = project.main
    assert j(main, "task", "add", "github:acme/api#12", "--title", "Fix login").code == 0
    # main moves on after wt-a and wt-b forked: the new worktree starts from main's tip
    write(main, {"src/app/api.py": "def handler():\n    return 2\n"})
    git(main, "commit", "-qam", "api v2")
    tip = git(main, "rev-parse", "HEAD").strip()

    r = gc(main, "worktree", "add", "github:acme/api#12", "--agent", "alice")
    assert r.code == 0, r.stderr
    path = Path(r.stdout.strip())  # human output: just the path, for cd "$(...)"
    assert path == main.parent / "main-github-acme-api-12"
    assert path.is_dir()
    assert git(path, "rev-parse", "HEAD").strip() == tip
    assert git(path, "symbolic-ref", "HEAD").strip() == "refs/heads/task/github-acme-api-12"

    # in the new worktree the agent name is bound, and it holds the task
    t = j(path, "task", "list", "--mine").json()["tasks"]
    assert [x["id"] for x in t] == ["github:acme/api#12"]
    assert t[0]["claim"]["holder"] == {"agent": "alice", "worktree": str(path), "host": "testhost"}
    assert j(path, "lease", "src/app/api.py").json()["granted"][0]["holder"]["agent"] == "alice"

    wts = {w["path"]: w for w in j(main, "worktree", "list").json()["worktrees"]}
    w = wts[str(path)]
    assert (w["agent"], w["bound"], w["branch"]) == ("alice", True, "task/github-acme-api-12")
    assert [x["id"] for x in w["tasks"]] == ["github:acme/api#12"]
    assert w["leases"] == ["src/app/api.py"]
    assert wts[str(main)]["main"] is True
    assert gc(main, "worktree", "list").code == 0

    events = j(main, "log", "--task", "github:acme/api#12").json()["events"]
    assert [e["kind"] for e in events][-2:] == ["claim.granted", "worktree.added"]


def test_add_with_explicit_path_branch_and_json(project: Project, tmp_path: Path) -> None:
    main = project.main
    j(main, "task", "add", "T-1", "--title", "x")
    target = tmp_path / "elsewhere" / "wt-t1"
    target.parent.mkdir()
    r = j(main, "worktree", "add", "T-1", "--path", str(target), "--branch", "feature/t1")
    assert r.code == 0, r.stderr
    doc = r.json()
    assert doc["path"] == str(target.resolve()) and doc["branch"] == "feature/t1"
    assert doc["agent"] == "wt-t1" and doc["bound"] is False  # no --agent: the directory name
    assert doc["claim"]["task"] == "T-1"


def test_add_refuses_a_taken_task_and_creates_nothing(project: Project) -> None:
    main, a = project.main, project.wt("wt-a")
    j(main, "task", "add", "T-1", "--title", "x")
    assert j(a, "claim", "T-1").code == 0
    before = git(main, "worktree", "list")
    r = j(main, "worktree", "add", "T-1", "--agent", "bob")
    assert r.code == 1 and "claimed by" in r.err_json()["error"]["message"]
    assert git(main, "worktree", "list") == before
    assert not (main.parent / "main-T-1").exists()


def test_add_gives_the_claim_back_when_git_fails(project: Project) -> None:
    main = project.main
    j(main, "task", "add", "T-1", "--title", "x")
    # a branch name git refuses only at creation time: an existing ref as a directory prefix
    git(main, "branch", "task")
    r = j(main, "worktree", "add", "T-1")
    assert r.code == 3, r.stderr
    t = j(main, "task", "show", "T-1").json()["task"]
    assert t["status"] == "open"
    assert t["claims"][0]["state"] == "released"
    assert j(main, "claim", "--next").json()["claimed"][0]["task"] == "T-1"


def test_remove_releases_leases_and_claims_and_refuses_dirty(project: Project, gc) -> None:  # type: ignore[no-untyped-def]
    main = project.main
    j(main, "task", "add", "T-1", "--title", "x")
    path = Path(j(main, "worktree", "add", "T-1", "--agent", "alice").json()["path"])
    assert j(path, "lease", "docs/").code == 0
    write(path, {"docs/guide.md": "# changed\n"})

    before = store_dump(main)
    r = gc(main, "--json", "worktree", "remove", str(path))
    assert r.code == 1
    assert "uncommitted changes" in r.err_json()["error"]["message"]
    assert "docs/guide.md" in r.err_json()["error"]["message"]
    assert path.is_dir() and store_dump(main) == before

    r = gc(main, "--json", "worktree", "remove", "T-1", "--force")  # by task id
    assert r.code == 0, r.stderr
    doc = r.json()
    assert doc["forced"] is True
    assert [x["pattern"] for x in doc["released_leases"]] == ["docs/"]
    assert [x["task"] for x in doc["released_claims"]] == ["T-1"]
    assert not path.exists()
    assert str(path) not in git(main, "worktree", "list")
    assert j(main, "leases").json()["leases"] == []
    assert j(main, "task", "show", "T-1").json()["task"]["status"] == "open"
    kinds = [e["kind"] for e in j(main, "log").json()["events"]]
    assert kinds[-3:] == ["lease.released", "claim.released", "worktree.removed"]


def test_remove_clean_worktree_and_refuse_main(project: Project) -> None:
    main = project.main
    j(main, "task", "add", "T-1", "--title", "x")
    path = Path(j(main, "worktree", "add", "T-1").json()["path"])
    r = j(main, "worktree", "remove", str(main))
    assert r.code == 2 and "main worktree" in r.err_json()["error"]["message"]
    assert j(main, "worktree", "remove", str(path)).code == 0
    assert not path.exists()


def test_remove_a_worktree_deleted_by_hand(project: Project) -> None:
    import shutil

    main = project.main
    j(main, "task", "add", "T-1", "--title", "x")
    path = Path(j(main, "worktree", "add", "T-1").json()["path"])
    shutil.rmtree(path)
    r = j(main, "worktree", "remove", str(path))
    assert r.code == 0, r.stderr
    assert [c["task"] for c in r.json()["released_claims"]] == ["T-1"]
    assert str(path) not in git(main, "worktree", "list")


def test_a_failed_add_gives_back_only_its_own_claim(project: Project, tmp_path: Path) -> None:
    """Two `worktree add` racing for one --path: the loser's git fails, and its undo must
    not release the claim the winner holds for that same path. Here the winner's claim
    is made first, and the loser's git is made to fail with a ref lock."""
    from gitcoord import claims, context
    from gitcoord.models import Holder

    main = project.main
    j(main, "task", "add", "RA", "--title", "a")
    j(main, "task", "add", "RB", "--title", "b")
    target = (tmp_path / "race").resolve()
    ctx = context.load(main, agent="winner")
    try:
        who = Holder(worktree=str(target), host=ctx.host, agent="winner")
        claims.claim_ids(ctx, ["RA"], holder=who, via="worktree")
    finally:
        ctx.close()
    lock = main / ".git" / "refs" / "heads" / "rb.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("")
    r = j(main, "worktree", "add", "RB", "--path", str(target), "--branch", "rb")
    assert r.code == 3, r.stderr
    assert j(main, "task", "show", "RA").json()["task"]["status"] == "claimed"
    rb = j(main, "task", "show", "RB").json()["task"]
    assert rb["status"] == "open" and rb["claims"][0]["state"] == "released"


def test_racing_adds_on_one_path_leave_the_winner_its_claim(project: Project, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    main = project.main
    for t in ("RA", "RB"):
        j(main, "task", "add", t, "--title", t)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    for round_ in range(3):
        target = tmp_path / f"race-{round_}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "gitcoord", "--json", "worktree", "add", t,
                 "--path", str(target), "--branch", f"{t.lower()}-{round_}"],
                cwd=main, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
            for t in ("RA", "RB")
        ]
        codes = [p.wait(timeout=60) for p in procs]
        assert sorted(codes)[0] == 0, codes
        tasks = {t["id"]: t for t in j(main, "task", "list").json()["tasks"]}
        for t, code in zip(("RA", "RB"), codes, strict=True):
            want = "claimed" if code == 0 else "open"
            assert tasks[t]["status"] == want, (round_, t, codes)
            if code != 0:  # the loser left no branch behind
                assert git(main, "branch", "--list", f"{t.lower()}-{round_}").strip() == ""
        assert j(main, "worktree", "remove", str(target)).code == 0


def test_add_refuses_paths_git_cannot_use_and_changes_nothing(project: Project, tmp_path: Path) -> None:
    import shutil

    main = project.main
    j(main, "task", "add", "T-1", "--title", "x")
    j(main, "task", "add", "T-2", "--title", "y")
    gone = Path(j(main, "worktree", "add", "T-2").json()["path"])
    shutil.rmtree(gone)  # still registered with git
    write(main, {"notes.txt": "x\n"})
    git(main, "checkout", "-q", "-b", "side")
    git(main, "checkout", "-q", "main")
    before, branches = store_dump(main), git(main, "branch", "--list")
    for args in (
        ["--path", str(main / "notes.txt" / "wt")],  # under a file
        ["--path", str(gone)],  # a registered worktree whose directory is gone
        ["--path", str(main / "inner" / "wt")],  # inside a worktree, not ignored there
        ["--branch", "@{-1}"],  # expanded by `check-ref-format --branch`
    ):
        r = j(main, "worktree", "add", "T-1", *args)
        assert r.code == 2, (args, r.stderr)
        assert store_dump(main) == before, args
        assert git(main, "branch", "--list") == branches, args
    # inside a worktree in a directory it ignores: fine
    write(main, {".gitignore": ".worktrees/\n"})
    r = j(main, "worktree", "add", "T-1", "--path", str(main / ".worktrees" / "t1"))
    assert r.code == 0, r.stderr


def test_remove_a_missing_worktree_touches_no_other_and_refuses_locked(project: Project) -> None:
    import shutil

    main = project.main
    for t in ("T-1", "T-2", "T-3"):
        j(main, "task", "add", t, "--title", t)
    p1, p2, p3 = (Path(j(main, "worktree", "add", t).json()["path"]) for t in ("T-1", "T-2", "T-3"))
    shutil.rmtree(p1)
    shutil.rmtree(p2)  # another vanished worktree: not ours to forget
    assert j(main, "worktree", "remove", str(p1)).code == 0
    listed = git(main, "worktree", "list")
    assert str(p1) not in listed and str(p2) in listed

    git(main, "worktree", "lock", str(p3))
    before = store_dump(main)
    r = j(main, "worktree", "remove", str(p3))
    assert r.code == 1 and "locked" in r.err_json()["error"]["message"]
    assert p3.is_dir() and store_dump(main) == before
    assert j(main, "worktree", "remove", str(p3), "--force").code == 0
    assert str(p3) not in git(main, "worktree", "list")


def test_remove_changes_nothing_when_the_store_cannot_be_written(project: Project) -> None:
    """One operation, all or nothing: with the store locked, `worktree remove` fails
    (exit 3) and the worktree, its work and its claim are all still there."""
    main = project.main
    j(main, "task", "add", "T-1", "--title", "x")
    path = Path(j(main, "worktree", "add", "T-1").json()["path"])
    write(path, {"notes.txt": "uncommitted work\n"})
    before = store_dump(main)
    with holding_write_lock(main):
        r = j(main, "worktree", "remove", "--force", str(path), env={"GITCOORD_BUSY_TIMEOUT": "0.3"})
    assert r.code == 3 and r.err_json()["error"]["code"] == "store_locked"
    assert (path / "notes.txt").read_text() == "uncommitted work\n"
    assert str(path) in git(main, "worktree", "list")
    assert store_dump(main) == before


def test_remove_from_inside_and_twice_at_once(project: Project) -> None:
    """`worktree remove` run from inside the worktree it removes works (git runs from the
    common dir); two removes racing: one removes it, the other changes nothing."""
    import subprocess
    import sys

    main = project.main
    j(main, "task", "add", "T-1", "--title", "x")
    path = Path(j(main, "worktree", "add", "T-1").json()["path"])
    r = j(path, "worktree", "remove", str(path))
    assert r.code == 0, r.stderr
    assert not path.exists() and not list(path.parent.glob(".*gitcoord-removing*"))
    assert str(path) not in git(main, "worktree", "list")

    j(main, "task", "add", "T-2", "--title", "y")
    path = Path(j(main, "worktree", "add", "T-2").json()["path"])
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gitcoord", "--json", "worktree", "remove", str(path)],
            cwd=main, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]
    codes = sorted(p.wait(timeout=120) for p in procs)
    for p in procs:
        assert p.stdout is not None and p.stderr is not None
        p.stdout.close()
        p.stderr.close()
    assert codes[0] == 0 and not path.exists()
    removed = [e for e in j(main, "log", "--kind", "worktree.removed").json()["events"] if e["subject"] == str(path)]
    assert len(removed) == 1


def test_remove_keeps_gits_check_for_submodules(project: Project, tmp_path: Path) -> None:
    """git refuses to remove a worktree with a submodule inside (its unpushed commits
    live in the worktree's git dir): so does `worktree remove`, changing nothing."""
    main = project.main
    sub = tmp_path / "sub"
    git(tmp_path, "init", "-q", "-b", "main", str(sub))
    git(sub, "commit", "-q", "--allow-empty", "-m", "s")
    j(main, "task", "add", "T-1", "--title", "x")
    path = Path(j(main, "worktree", "add", "T-1").json()["path"])
    git(path, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "sub")
    git(path, "commit", "-qm", "with a submodule")
    before = store_dump(main)
    r = j(main, "worktree", "remove", str(path))
    assert r.code != 0 and "submodule" in r.stderr
    assert path.is_dir() and str(path) in git(main, "worktree", "list")
    assert store_dump(main) == before
