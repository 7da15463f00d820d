"""The hook journal: what the shims append is drained into the store, exactly once."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fixtures.repos.recipes import Project
from gitcoord import context, journal
from tests.test_hooks_support import (
    API,
    cli_ok,
    commit_rows,
    common_dir,
    events,
    head,
    hooked_project,  # noqa: F401 (the project fixture)
    journal_lines,
    lease,
    ok,
    rewrite_rows,
    sh,
    write,
)


def test_parse_lines_of_every_kind() -> None:
    e = journal.parse_line("post-commit\t" + "a" * 40 + "\t/w\t1700000000\n")
    assert e is not None and (e.kind, e.sha, e.worktree, e.time) == ("post-commit", "a" * 40, "/w", 1700000000.0)
    e = journal.parse_line("post-merge\t" + "b" * 40 + "\t/w\t1\t1")
    assert e is not None and e.squash
    e = journal.parse_line("post-merge\t" + "b" * 40 + "\t/w\t1\t0")
    assert e is not None and not e.squash
    e = journal.parse_line("post-rewrite\tamend\t" + "c" * 40 + "\t" + "d" * 40 + "\t/w\t2")
    assert e is not None and (e.rewrite, e.old_sha, e.sha) == ("amend", "c" * 40, "d" * 40)
    e = journal.parse_line('event\t{"kind": "commit.bypassed", "time": 3}')
    assert e is not None and e.event["kind"] == "commit.bypassed"
    tree = "e" * 40
    e = journal.parse_line(f"post-commit\t{'a' * 40}\t/w\t1\tagent-a\t{tree}\n")
    assert e is not None and (e.agent, e.checked_tree) == ("agent-a", tree)
    e = journal.parse_line(f"post-commit\t{'a' * 40}\t/w\t1\t\t{tree}")
    assert e is not None and (e.agent, e.checked_tree) == (None, tree)
    for bad in ("", "post-commit\tonly", "event\tnot json", "what\tever\tthis\tis", 'event\t{"no": "kind"}'):
        assert journal.parse_line(bad) is None


def test_drain_records_once_even_when_a_line_repeats(project: Project) -> None:
    a = project.wt("wt-a")
    write(a, "docs/guide.md", "# a\n")
    ok(a, "commit", "-qam", "a: guide")
    sha = head(a)
    line = journal_lines(project)[-1]
    journal.append_raw(common_dir(project), (line + "\n").encode())  # a replayed line
    assert len(journal_lines(project)) == 2
    recorded = events(a, "commit.recorded")
    assert [e["shas"] for e in recorded] == [[sha]]
    assert recorded[0]["details"]["source"] == "commit"
    assert not journal_lines(project)
    # a crashed drain's leftover file is drained by the next one, harmlessly
    leftover = common_dir(project) / "gitcoord" / "journal.draining-00000000000000000001-1"
    leftover.write_text(line + "\n")
    assert [e["shas"] for e in events(a, "commit.recorded")] == [[sha]]
    assert not leftover.exists()


def test_lines_appended_while_draining_are_kept(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    a = project.wt("wt-a")
    write(a, "docs/guide.md", "# a\n")
    ok(a, "commit", "-qam", "a: guide")
    late = f"post-commit\t{'f' * 40}\t{a}\t{int(time.time())}\n"
    real_apply = journal._apply

    def apply_and_a_late_writer(ctx, entries, result):  # type: ignore[no-untyped-def]
        # a shim that opened the file before it was moved aside appends to it now
        (draining,) = (common_dir(project) / "gitcoord").glob("journal.draining-*")
        with draining.open("a") as f:
            f.write(late)
        real_apply(ctx, entries, result)

    monkeypatch.setattr(journal, "_apply", apply_and_a_late_writer)
    ctx = context.load(a)
    try:
        ctx.drain_journal = False
        result = journal.drain(ctx)
    finally:
        ctx.close()
    assert result.commits == 1
    assert journal_lines(project) == [late.rstrip("\n")]


def test_amend_and_rebase_map_old_shas_to_new(project: Project) -> None:
    a, m = project.wt("wt-a"), project.main
    write(a, "docs/guide.md", "# a 1\n")
    ok(a, "commit", "-qam", "a: one")
    first = head(a)
    ok(a, "commit", "--amend", "-q", "-m", "a: one, reworded")
    amended = head(a)
    write(a, "docs/api.md", "# a 2\n")
    ok(a, "commit", "-qam", "a: two")
    second = head(a)
    write(m, "README.md", "# main moves\n")
    ok(m, "commit", "-qam", "main: readme")
    ok(a, "rebase", "-q", "main")
    rebased = ok(a, "log", "--format=%H", "-2").split()[::-1]
    cli_ok(a, "leases")  # drain
    rows = rewrite_rows(project)
    assert (first, amended, "amend") in rows
    assert (amended, rebased[0], "rebase") in rows and (second, rebased[1], "rebase") in rows
    commits = commit_rows(project)
    for sha in (first, amended, second, *rebased):
        assert commits[sha]["worktree"] == str(a)
    assert commits[rebased[1]]["source"] == "rebase"
    rewritten = events(a, "commit.rewritten")
    assert [e["shas"] for e in rewritten][-1] == [second, rebased[1]]


def test_a_merge_that_skipped_pre_merge_commit_is_checked_when_drained(project: Project) -> None:
    a, b, m = project.wt("wt-a"), project.wt("wt-b"), project.main
    write(b, API, "def handler():\n    return 1\n\n\ndef b():\n    pass\n")
    ok(b, "commit", "-qam", "b: api")
    write(m, API, "# main\ndef handler():\n    return 1\n")
    ok(m, "commit", "-qam", "main: api")
    lease(a, API)
    ok(b, "merge", "-q", "--no-edit", "--no-verify", "main")
    merge = head(b)
    assert journal_lines(project)[-1].startswith(f"post-merge\t{merge}")
    v = events(b, "commit.violation")
    assert v and v[-1]["shas"] == [merge]
    assert commit_rows(project)[merge]["source"] == "merge"


def test_the_shim_journals_the_checked_tree_and_the_drain_holds_the_commit_to_it(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    lease(a, API)
    write(b, "docs/guide.md", "# b\n")
    ok(b, "commit", "-qam", "b: guide")
    fine = head(b)
    # the shim took the pass of this `git commit` and journaled the tree it checked
    line = journal_lines(project)[-1].split("\t")
    assert line[:3] == ["post-commit", fine, str(b)] and line[5] == ok(b, "rev-parse", f"{fine}^{{tree}}").strip()
    cli_ok(b, "leases")  # drain: the commit's tree is the one checked
    assert commit_rows(project)[fine]["source"] == "commit" and not events(b, "commit.violation")
    # Commits no hook saw, each journaled as a shim would with a pass: the drain records
    # the one whose tree is the checked one as checked, and checks the other (the index
    # changed after its check) as a commit no hook checked.
    no_hooks = ("-c", f"core.hooksPath={project.main.parent / 'no-hooks'}")
    trees = []
    for n in (1, 2):
        write(b, API, f"def handler():\n    return 'b{n}'\n")
        ok(b, *no_hooks, "commit", "-qam", f"b: api {n}")
        trees.append(ok(b, "rev-parse", "HEAD^{tree}").strip())
    first, second = ok(b, "rev-parse", "HEAD~1", "HEAD").split()
    now = int(time.time())
    journal.append_raw(common_dir(project), (
        f"post-commit\t{first}\t{b}\t{now}\t\t{trees[0]}\n"
        f"post-commit\t{second}\t{b}\t{now}\t\t{trees[0]}\n"
    ).encode())
    assert [e["shas"] for e in events(b, "commit.violation")] == [[second]]
    rows = commit_rows(project)
    assert (rows[first]["source"], rows[second]["source"]) == ("commit", "unverified")


def test_a_squash_or_fast_forward_merge_records_no_commit_of_its_own(project: Project) -> None:
    a, m = project.wt("wt-a"), project.main
    write(a, "docs/guide.md", "# a\n")
    ok(a, "commit", "-qam", "a: guide")
    sha = head(a)
    ok(m, "merge", "-q", "--ff-only", "wt-a")
    assert journal_lines(project)[-1].startswith(f"post-merge\t{sha}")
    cli_ok(m, "leases")
    assert commit_rows(project)[sha]["worktree"] == str(a)  # still A's commit


def test_post_merge_and_post_rewrite_hook_impl_journal_like_the_shims(project: Project) -> None:
    """When a shim cannot journal, it hands over to hook-impl, which journals the same lines."""
    from tests.test_hooks_support import git_env

    a = project.wt("wt-a")
    write(a, "docs/guide.md", "# a\n")
    ok(a, "commit", "-qam", "a: guide")
    old = head(a)
    cli_ok(a, "leases")
    import subprocess
    import sys

    env = git_env()
    subprocess.run([sys.executable, "-m", "gitcoord", "hook-impl", "post-merge", "0"], cwd=a, env=env, check=True)
    subprocess.run(
        [sys.executable, "-m", "gitcoord", "hook-impl", "post-rewrite", "amend"],
        cwd=a, env=env, input=f"{old} {old}\n", text=True, check=True,
    )
    kinds = [line.split("\t")[0] for line in journal_lines(project)]
    assert kinds == ["post-merge", "post-rewrite"]
    assert journal_lines(project)[1].split("\t")[1:4] == ["amend", old, old]


def test_no_journal_no_work(project: Project) -> None:
    assert not journal.pending(common_dir(project))
    ctx = context.load(project.main)
    try:
        assert journal.drain(ctx).entries == 0
    finally:
        ctx.close()


def test_sh_commit_in_the_main_worktree_is_journaled_too(project: Project) -> None:
    write(project.main, "docs/guide.md", "# human\n")
    assert sh(project.main, "commit", "-qam", "human: guide").returncode == 0
    assert journal_lines(project)[-1].split("\t")[2] == str(project.main)


def test_python_post_commit_after_a_passed_pre_commit_only_journals(project: Project) -> None:
    """The pre-commit framework runs `hook-impl post-commit` (no shell fast path): when
    pre-commit passed this very tree, the commit is journaled, not checked a second time."""
    import subprocess
    import sys

    a = project.wt("wt-a")
    write(a, "docs/guide.md", "# a\n")
    ok(a, "commit", "-qam", "a edits the guide")
    sha = head(a)
    cli_ok(a, "leases")  # drain what the shim journaled
    git_dir = Path(ok(a, "rev-parse", "--absolute-git-dir").strip())
    tree = ok(a, "rev-parse", "HEAD^{tree}").strip()
    # (left by "the git process" running the hook: here, this test process)
    (git_dir / "gitcoord-precommit-ok").write_text(f"{tree} {os.getpid()}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.run(
        [sys.executable, "-m", "gitcoord", "hook-impl", "post-commit"],
        cwd=a, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (git_dir / "gitcoord-precommit-ok").read_text() == ""  # consumed
    assert any(line.startswith(f"post-commit\t{sha}\t") for line in journal_lines(project))


def test_journal_lines_read_as_written_old_and_new() -> None:
    """Fields a line cannot hold raw are JSON-quoted; everything else (every line the
    shims write, and lines of older versions) is taken as it is, backslashes included."""
    from gitcoord import journal

    sha = "a" * 40
    old = journal.parse_line(f"post-commit\t{sha}\t/tmp/wt\\new\t1700000000\tci\\bot")
    assert old is not None and (old.worktree, old.agent) == ("/tmp/wt\\new", "ci\\bot")
    for worktree, agent in [("/tmp/a\tb", "x\ry"), ('/tmp/"q"', '"ag"'), ("/tmp/a\u2028b", "z\nz")]:
        line = f"post-commit\t{sha}\t{journal._field(worktree)}\t1\t{journal._field(agent)}"
        assert "\n" not in line and "\r" not in line
        e = journal.parse_line(line)
        assert e is not None and e.worktree == worktree
        assert e.agent == (agent if agent.isprintable() else None)
