"""gitrepo's merge primitives, against git's own answers, in real repositories: merge-tree
for many pairs, the merge bases of many pairs, and the tree of a worktree's uncommitted
work built through a temporary index (the real index and files untouched)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from fixtures.repos.recipes import Project, git, write


def snapshot(root: Path) -> dict[str, Any]:
    """Every file's bytes in a worktree (its .git file or directory's index included),
    and what its index stages."""
    files: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for f in filenames:
            p = Path(dirpath) / f
            files[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    git_dir = Path(git(root, "rev-parse", "--absolute-git-dir").strip())
    index = git_dir / "index"
    return {
        "files": files,
        "index": hashlib.sha256(index.read_bytes()).hexdigest() if index.exists() else None,
        "staged": git(root, "ls-files", "-s", "-z"),
        "untracked": git(root, "ls-files", "-o", "--exclude-standard", "-z"),
    }


def commit_both(project: Project, path: str, alice: str, bob: str) -> None:
    """wt-a commits ``alice`` as ``path``, wt-b commits ``bob``."""
    for name, text in (("wt-a", alice), ("wt-b", bob)):
        write(project.wt(name), {path: text})
        git(project.wt(name), "commit", "-qam", name)


def test_the_fallback_one_merge_at_a_time_keeps_the_other_results(project: Project) -> None:
    """A pair git cannot merge (here: a commit that does not exist) fails alone."""
    from gitcoord.gitrepo import GitError, discover

    commit_both(project, "docs/guide.md", "# alice\n", "# bob\n")
    repo = discover(project.main)
    ha, hb = repo.rev_parse("wt-a"), repo.rev_parse("wt-b")
    assert ha and hb
    out = repo.merge_tree([(ha, hb), ("f" * 40, hb), (ha, repo.rev_parse("main") or "")])
    assert isinstance(out[1], GitError)
    first, third = out[0], out[2]
    assert not isinstance(first, GitError) and not first.clean and first.paths == ("docs/guide.md",)
    assert not isinstance(third, GitError) and third.clean


def test_merge_bases_of_many_pairs_are_gits_own(project: Project) -> None:
    """Two git processes for every pair give what `git merge-base --all` gives a pair at
    a time, criss-cross merges (two best common ancestors) and ancestors included."""
    from gitcoord.gitrepo import discover

    main = project.main
    n = 0

    def commit(branch: str) -> None:
        nonlocal n
        n += 1
        git(main, "checkout", "-q", branch)
        write(main, {f"f{n}.txt": f"{n}\n"})
        git(main, "add", "-A")
        git(main, "commit", "-qm", f"c{n}")

    git(main, "branch", "x", "main")
    git(main, "branch", "y", "main")
    commit("x")
    commit("y")
    git(main, "checkout", "-q", "x")
    git(main, "merge", "-q", "--no-edit", "y")  # criss-cross: x and y merge each other
    git(main, "checkout", "-q", "y")
    git(main, "merge", "-q", "--no-edit", "x~1")
    commit("x")
    commit("y")
    git(main, "branch", "z", "x~2")
    commit("z")
    commit("main")
    git(main, "checkout", "-q", "main")
    repo = discover(main)
    names = ["main", "main~1", "x", "x~1", "x~2", "y", "y~1", "z", "wt-a"]
    shas = {name: repo.rev_parse(name) or "" for name in names}
    pairs = [(shas[a], shas[b]) for i, a in enumerate(names) for b in names[i + 1 :] if shas[a] != shas[b]]
    many = repo.merge_bases_many(pairs)
    assert any(len(v) == 2 for v in many.values())  # (the criss-cross is there)
    for a, b in pairs:
        assert many[(a, b)] == repo.merge_bases(a, b), (a, b)


def test_the_tree_of_uncommitted_work_is_what_git_add_all_would_commit(project: Project, tmp_path: Path) -> None:
    """Staged, unstaged (the same file both ways), deleted, untracked in a new directory,
    an executable bit: the tree equals the one `git add -A && git write-tree` gives in a
    copy of the worktree; the worktree itself is unchanged, byte for byte."""
    import shutil

    from gitcoord.gitrepo import discover

    a = project.wt("wt-a")
    write(a, {"src/app/models.py": "class Model:\n    a = 1\n"})
    git(a, "add", "src/app/models.py")
    write(a, {"src/app/models.py": "class Model:\n    a = 2\n", "new/deep/file.txt": "new\n"})
    os.remove(a / "docs/api.md")
    os.chmod(a / "src/lib/parse.py", 0o755)
    git(a, "status", "--porcelain")
    before = snapshot(a)
    repo = discover(a)
    dirty, _ = repo.worktree_status()
    tree = repo.worktree_tree(dirty)
    assert snapshot(a) == before
    copy = tmp_path / "copy"
    shutil.copytree(a, copy, symlinks=True)
    env = {"GIT_DIR": str(repo.git_dir), "GIT_WORK_TREE": str(copy), "GIT_INDEX_FILE": str(tmp_path / "index")}
    shutil.copy2(repo.git_dir / "index", tmp_path / "index")
    git(copy, "add", "-A", env=env)
    assert git(copy, "write-tree", env=env).strip() == tree
    assert snapshot(a) == before


def test_synthetic_commits_are_what_commit_tree_writes(project: Project) -> None:
    from gitcoord.gitrepo import discover

    repo = discover(project.main)
    head = repo.rev_parse("HEAD") or ""
    tree = git(project.main, "rev-parse", "HEAD^{tree}").strip()
    fixed = {
        "GIT_AUTHOR_NAME": "gitcoord", "GIT_AUTHOR_EMAIL": "gitcoord@localhost", "GIT_AUTHOR_DATE": "@0 +0000",
        "GIT_COMMITTER_NAME": "gitcoord", "GIT_COMMITTER_EMAIL": "gitcoord@localhost", "GIT_COMMITTER_DATE": "@0 +0000",
    }
    by_git = [
        git(project.main, "commit-tree", "--no-gpg-sign", *parent, "-m", "gitcoord: uncommitted changes", tree, env=fixed).strip()
        for parent in (["-p", head], [])
    ]
    assert repo.synthetic_commits([(tree, head), (tree, None)]) == by_git
    assert git(project.main, "for-each-ref", "--format=%(objectname)").split().count(by_git[0]) == 0  # no ref
