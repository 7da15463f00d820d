"""Leases through the real CLI in real worktrees (SPEC section 3)."""

from __future__ import annotations

from pathlib import Path

from fixtures.repos.recipes import Project, git, write
from tests.conftest import run_cli, store_dump


def lease(cwd: Path, *args: str, agent: str | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    e = dict(env or {})
    if agent:
        e["GITCOORD_AGENT"] = agent
    return run_cli(cwd, "--json", "lease", *args, env=e)


def test_grant_then_denial_names_holder_expiry_reason_and_witness(project: Project, gc) -> None:  # type: ignore[no-untyped-def]
    a, b = project.wt("wt-a"), project.wt("wt-b")
    r = gc(a, "--json", "--agent", "alice", "lease", "src/app/api.py", "--reason", "rename handler", "--ttl", "45m")
    assert r.code == 0, r.stderr
    doc = r.json()
    granted = doc["granted"][0]
    assert granted["pattern"] == "src/app/api.py"
    assert granted["mode"] == "exclusive"
    assert granted["holder"] == {"agent": "alice", "worktree": str(a), "host": "testhost"}
    assert 44 * 60 < granted["expires_in"] <= 45 * 60

    r = gc(b, "--json", "--agent", "bob", "lease", "src/app/**")
    assert r.code == 1
    assert r.stdout == ""
    err = r.err_json()["error"]
    assert err["code"] == "denied"
    conflict = err["details"]["conflicts"][0]
    assert conflict["requested"] == "src/app/**"
    assert conflict["witness"] == "src/app/api.py"
    assert conflict["lease"]["holder"]["agent"] == "alice"
    assert conflict["lease"]["reason"] == "rename handler"
    # human form names pattern, holder, worktree, expiry, reason and witness
    r = gc(b, "--agent", "bob", "lease", "src/app/**")
    assert r.code == 1
    for needle in ("src/app/**", "alice", str(a), "expires in", "rename handler", "src/app/api.py"):
        assert needle in r.stderr


def test_all_or_nothing(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert lease(a, "docs/api.md").code == 0
    before = store_dump(project.main)["leases"]
    r = lease(b, "src/lib/parse.py", "docs/")
    assert r.code == 1
    after = store_dump(project.main)["leases"]
    assert before == after  # src/lib/parse.py was not granted either
    assert run_cli(b, "--json", "leases", "--mine").json()["leases"] == []


def test_shared_leases_coexist_but_exclude_exclusive(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert lease(a, "docs/", "--shared").code == 0
    assert lease(b, "docs/guide.md", "--shared").code == 0
    r = lease(b, "docs/api.md")
    assert r.code == 1
    assert r.err_json()["error"]["details"]["conflicts"][0]["witness"] == "docs/api.md"
    r = lease(project.main, "docs/guide.md")
    assert r.code == 1
    holders = {c["lease"]["holder"]["worktree"] for c in r.err_json()["error"]["details"]["conflicts"]}
    assert holders == {str(a), str(b)}


def test_same_worktree_never_conflicts_with_itself_and_relise_renews(project: Project) -> None:
    a = project.wt("wt-a")
    first = lease(a, "src/app/", "--ttl", "10m").json()["granted"][0]
    assert lease(a, "src/app/api.py").code == 0  # overlapping own lease: fine
    again = lease(a, "src/app/", "--ttl", "50m").json()
    assert again["granted"] == []
    renewed = again["renewed"][0]
    assert renewed["id"] == first["id"]
    assert renewed["epoch"] == first["epoch"]
    assert renewed["expires_in"] > 49 * 60


def test_epochs_only_grow(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    e1 = lease(a, "README.md").json()["granted"][0]["epoch"]
    e2 = lease(b, "docs/guide.md").json()["granted"][0]["epoch"]
    run_cli(a, "release", "README.md")
    e3 = lease(b, "README.md").json()["granted"][0]["epoch"]
    assert e1 < e2 < e3


def test_base_commit_and_blobs_recorded_at_grant(project: Project) -> None:
    a = project.wt("wt-a")
    main_sha = git(project.main, "rev-parse", "main").strip()
    blob = git(project.main, "rev-parse", "main:src/app/api.py").strip()
    g = lease(a, "src/app/api.py", "src/lib/").json()["granted"]
    assert g[0]["base_commit"] == main_sha
    assert g[0]["base_blobs"] == {"src/app/api.py": blob}
    assert set(g[1]["base_blobs"]) == {"src/lib/parse.py"}


def test_expired_leases_are_not_enforced_and_stay_in_history(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert lease(a, "src/app/api.py", "--ttl", "5m").code == 0
    later = {"GITCOORD_TEST_CLOCK_OFFSET": "600"}
    assert lease(b, "src/app/api.py", env=later).code == 0
    hist = run_cli(a, "--json", "leases", "--all", env=later).json()["leases"]
    states = sorted(item["state"] for item in hist)
    assert states == ["active", "expired"]
    kinds = [e["kind"] for e in run_cli(a, "--json", "log", env=later).json()["events"]]
    assert "lease.expired" in kinds


def test_renew_extends_all_of_the_callers_leases(project: Project) -> None:
    a = project.wt("wt-a")
    lease(a, "README.md", "--ttl", "5m")
    lease(a, "docs/", "--ttl", "5m")
    r = run_cli(a, "--json", "renew", "--ttl", "2h")
    assert r.code == 0
    assert len(r.json()["renewed"]) == 2
    for item in run_cli(a, "--json", "leases", "--mine").json()["leases"]:
        assert item["expires_in"] > 119 * 60


def test_release_own_all_and_forced(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    lease(a, "README.md", agent="alice")
    lease(a, "docs/", agent="alice")
    r = run_cli(b, "release", "README.md")
    assert r.code == 1 and "--force" in r.stderr
    r = run_cli(b, "release", "src/nothing.py")
    assert r.code == 2
    r = run_cli(b, "--json", "--agent", "bob", "release", "--force", "README.md")
    assert r.code == 0
    assert r.json()["released"][0]["holder"]["agent"] == "alice"
    events = run_cli(a, "--json", "log", "--kind", "lease.force_released").json()["events"]
    assert events and events[0]["agent"] == "bob"
    assert events[0]["details"]["former_holder"]["agent"] == "alice"
    msgs = store_dump(project.main)["messages"]
    assert any("force-released your lease on README.md" in str(m) for m in msgs)
    assert run_cli(a, "--json", "release", "--all").json()["released"][0]["pattern"] == "docs/"
    assert run_cli(a, "--json", "leases").json()["leases"] == []


def test_wait_gets_the_lease_once_released(project: Project) -> None:
    import subprocess
    import sys
    import time

    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert lease(a, "README.md").code == 0
    import os

    proc = subprocess.Popen(
        [sys.executable, "-m", "gitcoord", "--json", "lease", "README.md", "--wait", "20s"],
        cwd=b,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    time.sleep(0.5)
    assert proc.poll() is None  # still waiting
    assert run_cli(a, "release", "README.md").code == 0
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    import json

    assert json.loads(out)["granted"][0]["holder"]["worktree"] == str(b)


def test_wait_gives_up_with_denial(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    lease(a, "README.md")
    r = lease(b, "README.md", "--wait", "1s")
    assert r.code == 1
    assert r.err_json()["error"]["code"] == "denied"
    # the retries are not events, the final denial is
    denials = run_cli(a, "--json", "log", "--kind", "lease.denied").json()["events"]
    assert len(denials) == 1 and denials[0]["worktree"] == str(b)


def test_grant_warns_when_worktree_copy_is_already_stale(project: Project) -> None:
    b = project.wt("wt-b")
    write(project.main, {"src/app/api.py": "def handler():\n    return 42\n"})
    git(project.main, "commit", "-qam", "main changes api")
    r = lease(b, "src/app/api.py")
    assert r.code == 0
    stale = r.json()["stale"]
    assert [s["path"] for s in stale] == ["src/app/api.py"]
    assert stale[0]["fix"] == "git rebase --autostash main"
    r = run_cli(b, "lease", "src/app/api.py")
    assert "already stale" in r.stderr and "git rebase --autostash main" in r.stderr


def test_read_records_blob_ids(project: Project) -> None:
    a = project.wt("wt-a")
    r = run_cli(a / "src", "--json", "read", "app/models.py", "../README.md")
    assert r.code == 0, r.stderr
    reads = {x["path"]: x["blob"] for x in r.json()["reads"]}
    assert reads == {
        "src/app/models.py": git(a, "rev-parse", "HEAD:src/app/models.py").strip(),
        "README.md": git(a, "rev-parse", "HEAD:README.md").strip(),
    }


def test_paths_from_subdirectories_and_absolute(project: Project) -> None:
    a = project.wt("wt-a")
    r = run_cli(a / "src" / "app", "--json", "lease", "api.py", str(a / "docs") + "/")
    assert r.code == 0, r.stderr
    assert [g["pattern"] for g in r.json()["granted"]] == ["src/app/api.py", "docs/"]


def test_leases_listing_human_and_filters(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    lease(a, "README.md", agent="alice")
    lease(b, "docs/", agent="bob")
    r = run_cli(a, "leases")
    assert r.code == 0 and "README.md" in r.stdout and "docs/" in r.stdout and "alice" in r.stdout
    mine = run_cli(b, "--json", "leases", "--mine").json()["leases"]
    assert [x["pattern"] for x in mine] == ["docs/"]


def test_gc_reaps_leases_of_worktrees_that_no_longer_exist(project: Project) -> None:
    import shutil

    a, b = project.wt("wt-a"), project.wt("wt-b")
    lease(a, "README.md", agent="alice")
    lease(b, "docs/", agent="bob")
    shutil.rmtree(a)  # gone from disk, still registered with git
    r = run_cli(project.main, "--json", "gc")
    assert r.code == 0, r.stderr
    reaped = r.json()["reaped"]
    assert [x["pattern"] for x in reaped] == ["README.md"]
    left = run_cli(project.main, "--json", "leases").json()["leases"]
    assert [x["pattern"] for x in left] == ["docs/"]
    assert lease(b, "README.md").code == 0  # the void lease no longer blocks anyone
    events = run_cli(project.main, "--json", "log", "--kind", "lease.reaped").json()["events"]
    assert events[0]["details"]["former_holder"]["worktree"] == str(a)
    # a second gc finds nothing more
    assert run_cli(project.main, "--json", "gc").json()["reaped"] == []


def test_a_lease_whose_worktree_is_gone_is_void(project: Project) -> None:
    import shutil

    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert lease(a, "README.md", agent="alice").code == 0
    assert lease(b, "README.md").code == 1
    shutil.rmtree(a)  # the worktree vanished without releasing
    r = lease(b, "README.md")
    assert r.code == 0, r.stderr  # not enforced any more, even before gc


def test_a_file_named_with_wildcard_characters_is_leased_exactly(project: Project) -> None:
    """SPEC section 2: overlap is exact. The file `docs/a*b` (escaped on the command line)
    overlaps only patterns that match that name, not everything `a*b` would match as a glob."""
    a, b = project.wt("wt-a"), project.wt("wt-b")
    r = lease(a, "docs/a\\*b", agent="alice")
    assert r.code == 0, r.stderr
    assert r.json()["granted"][0]["pattern"] == "docs/a*b"
    assert lease(b, "docs/a[xy]b", agent="bob").code == 0  # matches docs/axb, not docs/a*b
    assert lease(b, "docs/axb", agent="bob").code == 0
    r = lease(b, "docs/a?b", agent="bob")  # matches the literal name too
    assert r.code == 1
    assert r.err_json()["error"]["details"]["conflicts"][0]["witness"] == "docs/a*b"
    # and the hooks see the same: bob may commit docs/axb
    write(b, {"docs/axb": "x\n"})
    git(b, "add", "docs/axb")
    r = run_cli(b, "--json", "check", "--staged", env={"GITCOORD_AGENT": "bob"})
    assert r.code == 0, r.stderr


def test_paths_through_a_symlink_out_of_the_tree_and_odd_reads_are_bad_input(project: Project, tmp_path: Path) -> None:
    """SPEC section 2: anything that resolves outside the repository is bad input. And
    a read set holds files: a directory or a glob would record an absent file."""
    import os

    a = project.wt("wt-a")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("x\n")
    os.symlink(outside, a / "outlink")
    (a / "inlink").symlink_to(a / "src")  # a symlink that stays inside is fine
    before = store_dump(project.main)
    for args in (["lease", "outlink/secret"], ["read", "outlink/secret"], ["read", "src/app"], ["read", "src/*.py"]):
        r = run_cli(a, "--json", *args)
        assert r.code == 2, (args, r.stdout, r.stderr)
        assert store_dump(project.main) == before, args
    assert run_cli(a, "--json", "lease", "inlink/app/api.py").code == 0
    assert run_cli(a, "--json", "read", "src/app/api.py").code == 0


def test_a_file_lease_and_a_glob_lease_with_the_same_text_are_two_leases(project: Project) -> None:
    """The file `a*b` (typed a\\*b) and the glob `a*b` share their text, not their meaning:
    leasing one is never a renewal (or a mode change) of the other, and releasing one
    leaves the other. Otherwise an exclusive glob and another holder's lease inside it
    could both be active (SPEC section 3)."""
    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert lease(a, "a*b", "--shared", agent="alice").code == 0  # the glob, shared
    assert lease(b, "axb", "--shared", agent="bob").code == 0
    assert lease(a, "a*b", agent="alice").code == 1  # exclusive glob: bob shares axb
    r = lease(a, "a\\*b", agent="alice")  # the file a*b: a lease of its own
    assert r.code == 0 and [(x["pattern"], x["kind"]) for x in r.json()["granted"]] == [("a*b", "file")]
    held = run_cli(project.main, "--json", "leases").json()["leases"]
    assert sorted((x["pattern"], x["kind"], x["mode"], x["holder"]["agent"]) for x in held) == [
        ("a*b", "file", "exclusive", "alice"),
        ("a*b", "glob", "shared", "alice"),
        ("axb", "file", "shared", "bob"),
    ]
    assert run_cli(a, "release", "a\\*b", env={"GITCOORD_AGENT": "alice"}).code == 0
    held = run_cli(project.main, "--json", "leases").json()["leases"]
    assert sorted((x["pattern"], x["kind"]) for x in held) == [("a*b", "glob"), ("axb", "file")]


def test_leases_taken_in_a_bare_repository_are_not_void(project: Project, tmp_path: Path) -> None:
    """In a bare (server) repository the holder's 'worktree' is the git dir itself, with
    no .git inside: it exists, so its leases are enforced and gc leaves them alone."""
    bare = tmp_path / "server.git"
    git(tmp_path, "clone", "-q", "--bare", str(project.main), str(bare))
    # (python -m puts the cwd first on sys.path: the git dir's gitcoord/ store would shadow
    # an editable install; the hook shims set this too)
    safe = {"PYTHONSAFEPATH": "1"}
    assert run_cli(bare, "init", env=safe).code == 0
    assert lease(bare, "README.md", env=safe).code == 0
    assert run_cli(bare, "--json", "gc", env=safe).json()["reaped"] == []
    held = run_cli(bare, "--json", "leases", env=safe).json()["leases"]
    assert [x["pattern"] for x in held] == ["README.md"]
