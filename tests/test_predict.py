"""Predicted merge conflicts (SPEC section 10): `gitcoord status`, `gitcoord predict` and
`gitcoord check --predict`, in real worktrees with real commits and uncommitted work."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from fixtures.repos.recipes import Project, git, write
from tests.conftest import run_cli, run_step
from tests.test_gitrepo_merge import commit_both, snapshot

BODY = "".join(f"line {i}\n" for i in range(1, 41))  # long enough for distant edits


def status(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    r = run_cli(cwd, "--json", "status", *args, env=env)
    assert r.code in (0, 1), r.stderr
    return r.json()


def of_kind(doc: Any, kind: str) -> list[Any]:
    return [c for c in doc["conflicts"] if c["kind"] == kind]


def edit(text: str, line: int, new: str) -> str:
    lines = text.splitlines(keepends=True)
    lines[line - 1] = new + "\n"
    return "".join(lines)


def with_body(project: Project, path: str = "src/app/body.py") -> str:
    """A 40-line file committed on main and in every worktree's base."""
    write(project.main, {path: BODY})
    git(project.main, "add", path)
    git(project.main, "commit", "-qm", "body")
    for name in project.worktrees:
        git(project.wt(name), "merge", "-q", "--ff-only", "main")
    return path


def test_distant_edits_of_one_file_merge_cleanly_and_stay_an_info_overlap(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert run_cli(project.main, "init").code == 0  # (no 'hooks' error in the summary)
    path = with_body(project)
    write(a, {path: edit(BODY, 2, "alice's line 2")})
    git(a, "commit", "-qam", "alice edits the top")
    write(b, {path: edit(BODY, 39, "bob's line 39")})  # uncommitted
    doc = status(project.main)
    assert of_kind(doc, "merge_conflict") == []
    (c,) = of_kind(doc, "overlap")
    assert c["severity"] == "info" and c["paths"] == [path]
    assert "merges them cleanly" in c["summary"]
    assert doc["summary"]["info"] == 1 and doc["summary"]["errors"] == 0
    # an info is no failure for --exit-code
    assert run_cli(project.main, "status", "--exit-code").code == 0
    human = run_cli(project.main, "status", env={"COLUMNS": "200"})
    assert "· info" in human.stdout and "1 info" in human.stdout


def test_the_same_lines_are_a_merge_conflict_with_that_path(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    path = with_body(project)
    write(a, {path: edit(BODY, 20, "alice's line 20")})
    git(a, "commit", "-qam", "alice")
    write(b, {path: edit(BODY, 20, "bob's line 20")})
    git(b, "commit", "-qam", "bob")
    r = run_cli(project.main, "--json", "status", "--exit-code")
    assert r.code == 1
    doc = r.json()
    (c,) = of_kind(doc, "merge_conflict")
    assert c["severity"] == "error"
    assert c["paths"] == [path]
    assert set(c["worktrees"]) == {str(a), str(b)}
    assert [x["kind"] for x in c["details"]["conflicts"]] == ["content"]
    assert f"{path} (content)" in c["summary"]
    assert of_kind(doc, "overlap") == []  # the conflict says it all
    # the next step works: one of them leases the path first
    assert c["next_step"].startswith("gitcoord -C ") and f" lease {path}" in c["next_step"]
    step = run_step(c["next_step"])
    assert step.returncode == 0, step.stderr
    (after,) = of_kind(status(project.main), "merge_conflict")
    assert after["next_step"].endswith(f"lease {path} --wait 30m")  # the other one waits
    assert after["next_step"].split()[2] != c["next_step"].split()[2]


def test_uncommitted_changes_on_both_sides_count(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    write(a, {"docs/guide.md": "# guide by alice\n"})
    write(b, {"docs/guide.md": "# guide by bob\n"})
    (c,) = of_kind(status(project.main), "merge_conflict")
    assert c["paths"] == ["docs/guide.md"]
    # the same uncommitted change on both sides merges cleanly
    write(b, {"docs/guide.md": "# guide by alice\n"})
    doc = status(project.main)
    assert of_kind(doc, "merge_conflict") == []
    assert [x["severity"] for x in of_kind(doc, "overlap")] == ["info"]


def test_rename_against_modify_merges_and_rename_against_delete_conflicts(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    path = with_body(project)
    git(a, "mv", path, "src/app/renamed.py")
    git(a, "commit", "-qm", "alice renames")
    write(b, {path: edit(BODY, 5, "bob's line 5")})  # git follows the rename
    doc = status(project.main)
    assert of_kind(doc, "merge_conflict") == []
    (c,) = of_kind(doc, "overlap")
    assert c["severity"] == "info" and c["paths"] == [path]
    # deleted on the other side instead: rename/delete
    git(b, "checkout", "-q", "--", path)
    git(b, "rm", "-q", path)  # staged, not committed
    (c,) = of_kind(status(project.main), "merge_conflict")
    kinds = {x["kind"] for x in c["details"]["conflicts"]}
    assert kinds == {"rename/delete"}
    assert "rename/delete" in c["summary"]


def test_delete_against_modify(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    os.remove(a / "src/lib/parse.py")  # deleted in the work tree only
    write(b, {"src/lib/parse.py": "def parse(x):\n    return x.upper()\n"})
    git(b, "commit", "-qam", "bob")
    (c,) = of_kind(status(project.main), "merge_conflict")
    assert c["paths"] == ["src/lib/parse.py"]
    (x,) = c["details"]["conflicts"]
    assert x["kind"] == "modify/delete"
    assert "wt-a" in x["message"] and "wt-b" in x["message"]  # the sides by name, not by commit


def test_add_add(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    write(a, {"src/app/new.py": "A = 1\n"})
    write(b, {"src/app/new.py": "B = 2\n"})
    git(b, "add", "src/app/new.py")
    (c,) = of_kind(status(project.main), "merge_conflict")
    assert [x["kind"] for x in c["details"]["conflicts"]] == ["add/add"]


def test_a_worktree_against_a_newer_main(project: Project) -> None:
    b = project.wt("wt-b")
    write(project.main, {"src/app/api.py": "def handler():\n    return 'main'\n"})
    git(project.main, "commit", "-qam", "main moves on")
    write(b, {"src/app/api.py": "def handler():\n    return 'bob'\n"})
    git(b, "commit", "-qam", "bob")
    doc = status(project.main)
    (c,) = of_kind(doc, "merge_conflict")
    assert c["worktrees"] == [str(b)]
    assert c["details"]["against"] == "refs/heads/main"
    assert c["paths"] == ["src/app/api.py"]
    assert "with main" in c["summary"]
    assert c["next_step"] == f"git -C {b} rebase --autostash main"
    # once rebased and resolved, nothing is predicted
    subprocess.run(["git", "rebase", "-q", "main"], cwd=b, capture_output=True)
    write(b, {"src/app/api.py": "def handler():\n    return 'bob and main'\n"})
    git(b, "add", "src/app/api.py")
    subprocess.run(["git", "-c", "core.editor=true", "rebase", "--continue"], cwd=b, capture_output=True, check=True)
    assert of_kind(status(project.main), "merge_conflict") == []


def test_the_real_index_and_the_worktrees_are_unchanged(project: Project) -> None:
    """Prediction builds trees through a temporary index: every file's bytes, the index
    file's bytes, what it stages and what is untracked are the same afterwards."""
    a, b = project.wt("wt-a"), project.wt("wt-b")
    write(a, {"src/app/models.py": "class Model:\n    a = 1\n", "notes/alice.txt": "untracked\n"})
    git(a, "add", "src/app/models.py")
    write(a, {"src/app/models.py": "class Model:\n    a = 2\n"})  # staged one way, changed again
    os.remove(a / "docs/api.md")
    write(b, {"src/app/models.py": "class Model:\n    b = 1\n"})
    git(b, "commit", "-qam", "bob")
    write(b, {"docs/api.md": "# api by bob\n"})
    for wt in (project.main, a, b):
        git(wt, "status", "--porcelain")  # (git's own refresh of the stat data, before the snapshot)
    before = {str(w): snapshot(w) for w in (project.main, a, b)}
    doc = status(project.main)
    assert {tuple(c["paths"]) for c in of_kind(doc, "merge_conflict")} == {("docs/api.md", "src/app/models.py")}
    assert run_cli(project.main, "predict").code == 0
    assert run_cli(a, "check", "--predict").code == 0
    assert {str(w): snapshot(w) for w in (project.main, a, b)} == before


def test_a_repeat_status_runs_no_merge_tree(project: Project, tmp_path: Path) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    write(a, {"docs/guide.md": "# alice\n"})
    write(b, {"docs/guide.md": "# bob\n"})
    git(b, "commit", "-qam", "bob")
    write(b, {"README.md": "# bob's readme\n"})
    time.sleep(2.2)  # files changed this recently are read again each time (racy)

    def traced(name: str) -> tuple[Any, str]:
        trace = tmp_path / name
        doc = status(project.main, env={"GIT_TRACE": str(trace)})
        return doc, trace.read_text()

    first, cold = traced("cold")
    assert "merge-tree" in cold and "update-index" in cold
    (c1,) = of_kind(first, "merge_conflict")
    assert c1["details"]["cached"] is False
    second, warm = traced("warm")
    ran = [line.split("git ", 1)[1].split()[0] for line in warm.splitlines() if "built-in: git " in line]
    assert "status" in ran
    for command in ("merge-tree", "merge-base", "read-tree", "update-index", "write-tree", "commit-tree", "cat-file"):
        assert command not in ran
    (c2,) = of_kind(second, "merge_conflict")
    assert c2["details"]["cached"] is True
    assert {k: v for k, v in c2.items() if k != "details"} == {k: v for k, v in c1.items() if k != "details"}
    # new work: predicted afresh
    write(a, {"docs/guide.md": "# bob\n"})
    _, again = traced("again")
    assert "update-index" in again
    assert of_kind(status(project.main), "merge_conflict") == []


def test_a_cached_tree_git_has_pruned_is_built_again(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    write(a, {"docs/guide.md": "# alice\n"})
    write(b, {"docs/guide.md": "# bob\n"})
    time.sleep(2.2)
    assert of_kind(status(project.main), "merge_conflict")
    cache = project.main / ".git" / "gitcoord" / "predict-cache.json"
    doc = json.loads(cache.read_text())
    trees = [v for k, v in doc["entries"].items() if k.startswith("wtree:")]
    assert len(trees) == 2
    for tree in trees:  # as `git gc` prunes unreachable objects
        (project.main / ".git" / "objects" / tree[:2] / tree[2:]).unlink()
        assert subprocess.run(["git", "cat-file", "-e", tree], cwd=project.main).returncode != 0
    entries = {k: v for k, v in doc["entries"].items() if not k.startswith("merge:")}
    cache.write_text(json.dumps({"version": doc["version"], "entries": entries}))
    (c,) = of_kind(status(project.main), "merge_conflict")
    assert c["paths"] == ["docs/guide.md"] and c["details"]["cached"] is False
    assert sorted(c["details"]["trees"]) == sorted(trees)
    for tree in trees:
        assert subprocess.run(["git", "cat-file", "-e", tree], cwd=project.main).returncode == 0
    # a cache that names trees the files do not have (corrupt): predicted afresh
    doc = json.loads(cache.read_text())
    bogus = iter(["1" * 40, "2" * 40])
    entries = {k: (next(bogus) if k.startswith("wtree:") else v) for k, v in doc["entries"].items() if not k.startswith("merge:")}
    cache.write_text(json.dumps({"version": doc["version"], "entries": entries}))
    (c,) = of_kind(status(project.main), "merge_conflict")
    assert sorted(c["details"]["trees"]) == sorted(trees)


def test_predict_command(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    # (alice's file keeps its size, changed within a second of the checkout: only its
    # content tells; the temporary index must not take the stat data's word for it)
    write(a, {"docs/guide.md": "# alice\n"})
    write(b, {"docs/guide.md": "# bob\n"})
    r = run_cli(project.main, "predict")
    assert r.code == 0, r.stderr
    assert "✗ conflict  wt-a + wt-b: docs/guide.md (content)" in r.stdout
    assert "next: gitcoord -C " in r.stdout
    doc = run_cli(project.main, "predict", "--json").json()
    assert doc["against"]["ref"] == "refs/heads/main"
    assert doc["summary"] == {"merges": 1, "conflicts": 1, "clean": 0, "unknown": 0}
    (p,) = doc["predictions"]
    assert {p["ours"], p["theirs"]} == {str(a), str(b)} and p["paths"] == ["docs/guide.md"]
    assert [c["kind"] for c in doc["conflicts"]] == ["merge_conflict"]
    # against another ref: a branch that changed the same file
    git(project.main, "branch", "release", "main")
    git(project.main, "checkout", "-q", "release")
    write(project.main, {"docs/guide.md": "# release\n"})
    git(project.main, "commit", "-qam", "release guide")
    git(project.main, "checkout", "-q", "main")
    doc = run_cli(project.main, "--json", "predict", "--against", "release").json()
    assert doc["against"]["ref"] == "refs/heads/release"
    against = [x for x in doc["predictions"] if x["against_ref"]]
    assert {x["ours"] for x in against if not x["clean"]} == {str(a), str(b)}


def test_predict_against_nothing_is_bad_input_and_changes_nothing(project: Project) -> None:
    write(project.wt("wt-a"), {"docs/guide.md": "# alice\n"})
    cache = project.main / ".git" / "gitcoord" / "predict-cache.json"
    for bad in ("no-such-branch", "", "-x", "HEAD:README.md", "HEAD^{tree}"):
        r = run_cli(project.main, "--json", "predict", f"--against={bad}")
        assert r.code == 2, (bad, r.stdout, r.stderr)
        assert "names no commit" in r.err_json()["error"]["message"]
    assert not cache.exists()
    assert git(project.main, "for-each-ref", "--format=%(refname)").split() == [
        "refs/heads/main", "refs/heads/wt-a", "refs/heads/wt-b"
    ]


def test_check_predict_warns_and_never_refuses(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    commit_both(project, "src/app/util.py", "def helper():\n    return 'alice'\n", "def helper():\n    return 'bob'\n")
    r = run_cli(a, "check", "--predict")
    assert r.code == 0
    assert "warning: merge_conflict: wt-a and wt-b will conflict" in r.stderr
    assert "hint: gitcoord -C " in r.stderr
    doc = run_cli(a, "--json", "check", "--predict", "--range", "main..HEAD").json()
    assert doc["ok"] is True
    (c,) = doc["predicted_conflicts"]
    assert c["paths"] == ["src/app/util.py"] and set(c["worktrees"]) == {str(a), str(b)}
    # without --predict, nothing is predicted
    assert "predicted_conflicts" not in run_cli(a, "--json", "check").json()
    # a refusal still refuses, prediction or not
    run_cli(b, "--agent", "bob", "lease", "src/app/api.py")
    write(a, {"src/app/api.py": "x = 1\n"})
    git(a, "add", "src/app/api.py")
    assert run_cli(a, "check", "--predict").code == 1


def test_worktrees_without_common_history_are_not_guessed(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    git(a, "checkout", "-q", "--orphan", "elsewhere")
    git(a, "rm", "-rqf", ".")
    write(a, {"docs/guide.md": "# unrelated\n"})
    git(a, "add", "-A")
    git(a, "commit", "-qm", "unrelated")
    write(a, {"docs/guide.md": "# unrelated, edited\n"})
    write(b, {"docs/guide.md": "# bob\n"})
    doc = status(project.main)
    assert of_kind(doc, "merge_conflict") == []
    assert [c["severity"] for c in of_kind(doc, "overlap")] == ["warning"]  # as without prediction
    preds = run_cli(project.main, "--json", "predict").json()["predictions"]
    mine = [p for p in preds if str(a) in (p["ours"], p["theirs"])]
    assert mine and all(p["error"] == "no common history" for p in mine)

