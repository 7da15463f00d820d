"""Messages sized for an agent's context (issue 12, item 5), on a repository where a
worktree forked long ago: leasing a directory and a glob over many stale files warns
once, and commits no gitcoord hook recorded are named by their git author."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fixtures.repos.recipes import git, write
from tests.conftest import run_cli

AUTHORS = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra"]
DOCS, NEWS = 100, 30


@pytest.fixture
def forked(tmp_path: Path) -> tuple[Path, Path]:
    """main with docs/ and news/, a worktree forked at the start, then 160 commits on main
    by four authors (made before gitcoord was set up, so no hook recorded them) that
    change every docs and news file; then one commit that gitcoord's hooks record."""
    main = tmp_path / "main"
    main.mkdir()
    git(main, "init", "-q", "-b", "main")
    files = {f"docs/page{i:03d}.md": f"page {i}\n" for i in range(DOCS - 10)}
    files |= {f"docs/deep/part{i}.md": f"part {i}\n" for i in range(10)}
    files |= {f"news/{i:04d}.rst": f"news {i}\n" for i in range(NEWS)}
    files |= {"src/app.py": "x = 1\n", "news/README.txt": "not rst\n"}
    write(main, files)
    git(main, "add", "-A")
    git(main, "commit", "-qm", "layout")
    wt = tmp_path / "wt"
    git(main, "worktree", "add", "-q", "-b", "feature", str(wt), "main")
    docs = sorted(p for p in files if p.startswith("docs/"))
    news = sorted(p for p in files if p.endswith(".rst"))
    for n in range(160):
        author = AUTHORS[n % len(AUTHORS)]
        changed = {docs[n % len(docs)]: f"rev {n}\n", news[n % len(news)]: f"rev {n}\n"}
        write(main, changed)
        git(main, "commit", "-qam", f"change {n}",
            env={"GIT_AUTHOR_NAME": author, "GIT_COMMITTER_NAME": author})
    assert run_cli(main, "init").code == 0
    write(main, {"docs/page000.md": "recorded by a hook\n"})
    git(main, "commit", "-qam", "alice edits page 0", env={"GITCOORD_AGENT": "alice"})
    return main.resolve(), wt.resolve()


def test_a_glob_over_many_stale_files_warns_once(forked: tuple[Path, Path]) -> None:
    _main, wt = forked
    r = run_cli(wt, "lease", "docs/**", "news/*.rst")
    assert r.code == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    [warning] = lines
    assert warning.startswith(f"warning: {DOCS + NEWS} leased files are already stale: main changed ")
    # the first few, then a count
    assert "docs/deep/part0.md, docs/deep/part1.md, docs/deep/part2.md and 127 more" in warning
    # the newest commits, named (the hook recorded alice's; git authors for the rest), capped
    shown = re.findall(r"\b[0-9a-f]{12} \(([^)]+)\)", warning)
    assert shown[0] == "alice"
    assert set(shown[1:]) <= set(AUTHORS) and len(shown) == 3
    assert "and 158 more;" in warning  # 161 commits changed them
    assert warning.endswith("run `git rebase --autostash main` before editing them")
    assert "unknown holder" not in warning
    assert len(warning) < 400


def test_the_json_document_counts_all_and_details_the_first(forked: tuple[Path, Path]) -> None:
    _main, wt = forked
    r = run_cli(wt, "--json", "lease", "docs/", "news/*.rst")
    assert r.code == 0, r.stderr
    doc = r.json()
    assert doc["stale_count"] == DOCS + NEWS
    assert len(doc["stale"]) == 20
    assert all(len(s["commits"]) <= 5 for s in doc["stale"])
    assert doc["warning"].startswith(f"warning: {DOCS + NEWS} leased files are already stale")
    assert len(r.stdout) < 20_000


def test_one_stale_file_is_named_with_its_commits_authors(forked: tuple[Path, Path]) -> None:
    _main, wt = forked
    r = run_cli(wt, "lease", "news/0007.rst")
    assert r.code == 0
    [warning] = [line for line in r.stderr.splitlines() if line.strip()]
    assert warning.startswith("warning: news/0007.rst is already stale: main changed it in ")
    named = re.findall(r"\b[0-9a-f]{12} \(([^)]+)\)", warning)
    assert named and set(named) <= set(AUTHORS)
    assert warning.endswith("run `git rebase --autostash main` before editing")


def test_a_stale_commit_is_refused_naming_git_authors_not_unknown_holders(forked: tuple[Path, Path]) -> None:
    _main, wt = forked
    write(wt, {"news/0003.rst": "my change\n", "docs/page000.md": "mine too\n"})
    git(wt, "add", "-A")
    proc = git_commit(wt)
    assert proc[0] != 0
    err = proc[1]
    assert "commit refused" in err
    news_line = next(line for line in err.splitlines() if line.strip().startswith("news/0003.rst"))
    assert "stale read" in news_line
    assert set(re.findall(r"\b[0-9a-f]{12} \(([^)]+)\)", news_line)) <= set(AUTHORS)
    page_line = next(line for line in err.splitlines() if line.strip().startswith("docs/page000.md"))
    assert "(alice)" in page_line
    assert "unknown holder" not in err
    check = run_cli(wt, "--json", "check").json()
    commits = [c for v in check["violations"] for c in v["commits"]]
    assert all(c["holder"] or c["author"] in AUTHORS for c in commits)


def git_commit(cwd: Path) -> tuple[int, str]:
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k.startswith("GIT_CONFIG")}
    proc = subprocess.run(["git", "commit", "-qm", "mine"], cwd=cwd, env=env, capture_output=True, text=True)
    return proc.returncode, proc.stderr
