"""Stale-read facts from git (gitcoord.staleness) and holders from the audit trail."""

from __future__ import annotations

from pathlib import Path

from fixtures.repos.recipes import Project
from gitcoord import context, gitrepo, staleness
from gitcoord.models import Holder
from gitcoord.store.commits_api import CommitRecord, Rewrite
from tests.test_hooks_support import ok, setup, write

API = "src/app/api.py"


def _advance_main(p: Project) -> str:
    write(p.main, API, "# v2\ndef handler():\n    return 1\n")
    ok(p.main, "-c", "core.hooksPath=/dev/null", "commit", "-qam", "main: v2")  # unrecorded
    return ok(p.main, "rev-parse", "HEAD").strip()


def test_commit_bases_per_parent(tmp_path: Path) -> None:
    p = setup(tmp_path)
    tip = _advance_main(p)
    repo = gitrepo.discover(p.wt("wt-b"))
    fork = ok(p.main, "rev-parse", "HEAD^").strip()
    blob_m = repo.blobs_at(fork, [API])[API]
    b = staleness.commit_bases(repo, "refs/heads/main", tip, ["HEAD"], [API, "README.md"], [{API: blob_m, "README.md": "x"}])
    assert b.parents and b.parents[0].merge_base == fork
    assert b.stale(API) and not b.stale("README.md")
    # a parent that already contains the tip: nothing is stale
    b2 = staleness.commit_bases(repo, "refs/heads/main", tip, [tip], [API], [{API: blob_m}])
    assert b2.parents == [] and not b2.stale(API)
    # no integration tip: nothing to compare
    assert staleness.commit_bases(repo, "refs/heads/main", None, ["HEAD"], [API], [{}]).parents == []


def test_stale_paths_for_a_worktree_still_works(tmp_path: Path) -> None:
    p = setup(tmp_path)
    tip = _advance_main(p)
    repo = gitrepo.discover(p.wt("wt-b"))
    (s,) = staleness.stale_paths(repo, repo.head(), "refs/heads/main", [API, "README.md"])
    assert s.path == API and s.integration_tip == tip and s.commits == [tip]
    assert s.fix() == "git rebase --autostash main"


def test_commit_holders_through_the_audit_trail_and_rewrites(tmp_path: Path) -> None:
    p = setup(tmp_path)
    tip = _advance_main(p)
    a = Holder(str(p.wt("wt-a")), "testhost", "agent-a")
    ctx = context.load(p.main)
    try:
        with ctx.store().transaction() as tx:
            tx.record_commit(CommitRecord("1" * 40, a, "T-1", "commit", (), None, tx.now, None))
            tx.record_rewrite(Rewrite("1" * 40, tip, "rebase", tx.now, None))
            assert staleness.commit_holders(tx, [tip, "2" * 40]) == {tip: a}
            found = staleness.commits_and_holders(ctx.repo, tx, ok(p.main, "rev-parse", "HEAD^").strip(), tip, [API])
        assert [(o.sha, o.holder) for o in found[API]] == [(tip, a)]
        assert found[API][0].label() == f"{tip[:12]} (agent-a)"
    finally:
        ctx.close()
