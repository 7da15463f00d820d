"""A store without enforcing hooks is a trap (issue 15, item 7): every command that grants
or lists leases says so on stderr, naming the fix, and `gitcoord status` shows it as a
conflict. Real repositories, the real CLI, real hook files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fixtures.repos.recipes import Project, write
from tests.conftest import run_cli

NOT_INSTALLED = "gitcoord's git hooks are not installed in this repository"


def hooks(project: Project) -> Path:
    return project.main / ".git" / "hooks"


def test_a_lease_where_init_never_ran_warns_and_install_silences_it(project: Project) -> None:
    a = project.wt("wt-a")
    r = run_cli(a, "lease", "src/app/api.py")
    assert r.code == 0 and r.stdout.startswith("granted src/app/api.py"), r.stderr
    assert NOT_INSTALLED in r.stderr and "run `gitcoord install`" in r.stderr
    # under --json stdout stays one document; the warning is on stderr all the same
    r = run_cli(a, "--json", "lease", "docs/")
    assert r.code == 0 and [x["pattern"] for x in r.json()["granted"]] == ["docs/"]
    assert NOT_INSTALLED in r.stderr
    for args in (("leases",), ("--json", "leases"), ("renew",), ("worktree", "list")):
        r = run_cli(a, *args)
        assert r.code == 0 and NOT_INSTALLED in r.stderr, args

    assert run_cli(project.main, "install").code == 0
    for args in (("lease", "src/lib/"), ("leases",), ("renew",), ("worktree", "list")):
        r = run_cli(a, *args)
        assert r.code == 0 and "hooks" not in r.stderr, (args, r.stderr)


def test_a_denial_stays_one_error_document(project: Project) -> None:
    run_cli(project.wt("wt-a"), "lease", "README.md")
    r = run_cli(project.wt("wt-b"), "--json", "lease", "README.md")
    assert r.code == 1 and r.stdout == ""
    assert r.err_json()["error"]["code"] == "denied"


def test_an_outdated_shim_warns_and_names_the_hook(project: Project) -> None:
    assert run_cli(project.main, "init").code == 0
    shim = hooks(project) / "post-commit"
    text = shim.read_text()
    assert "# gitcoord-hook v1\n" in text
    shim.write_text(text.replace("# gitcoord-hook v1\n", "# gitcoord-hook v0\n", 1))
    r = run_cli(project.wt("wt-b"), "lease", "README.md")
    assert r.code == 0
    assert "out of date" in r.stderr and "post-commit: outdated" in r.stderr, r.stderr
    assert "run `gitcoord install`" in r.stderr
    doc = run_cli(project.main, "--json", "status").json()
    (c,) = [c for c in doc["conflicts"] if c["kind"] == "hooks"]
    # the pre-commit check still runs: a warning, not an error
    assert c["severity"] == "warning" and c["next_step"] == "gitcoord install"
    assert c["details"]["hooks"] == [{"hook": "post-commit", "path": str(shim), "state": "outdated"}]
    assert run_cli(project.main, "install").code == 0
    assert "hooks" not in run_cli(project.wt("wt-b"), "leases").stderr


def test_a_shim_whose_python_is_gone_or_a_foreign_pre_commit_hook_enforce_nothing(
    project: Project, tmp_path: Path
) -> None:
    gone = tmp_path / "old-venv" / "bin" / "python"
    gone.parent.mkdir(parents=True)
    gone.write_text("#!/bin/sh\nexit 0\n")
    gone.chmod(0o755)
    assert run_cli(project.main, "init").code == 0
    from gitcoord import gitrepo, install

    install.install(gitrepo.discover(project.main), python=str(gone), check_import=False)
    assert install.problems(gitrepo.discover(project.main)) is None  # that Python still exists
    gone.unlink()
    r = run_cli(project.wt("wt-a"), "leases")
    assert "leases are not enforced" in r.stderr and "its Python is gone" in r.stderr, r.stderr

    assert run_cli(project.main, "install").code == 0
    (hooks(project) / "pre-commit").unlink()
    (hooks(project) / "pre-commit").mkdir()  # not even a file: the check never fails a command
    r = run_cli(project.wt("wt-a"), "leases")
    assert r.code == 0 and "pre-commit: not gitcoord's" in r.stderr, r.stderr
    (hooks(project) / "pre-commit").rmdir()
    write(project.main, {".git/hooks/pre-commit": "#!/bin/sh\nexit 0\n"})
    (hooks(project) / "pre-commit").chmod(0o755)
    r = run_cli(project.wt("wt-a"), "--json", "status", "--exit-code")
    assert r.code == 1
    (c,) = [c for c in r.json()["conflicts"] if c["kind"] == "hooks"]
    assert c["severity"] == "error" and "pre-commit: not gitcoord's" in c["summary"]
    assert set(c["worktrees"]) == {str(project.main), str(project.wt("wt-a")), str(project.wt("wt-b"))}


def test_status_shows_missing_hooks_as_a_conflict_with_the_next_step(project: Project) -> None:
    run_cli(project.wt("wt-a"), "lease", "src/app/api.py")
    r = run_cli(project.main, "--json", "status", "--exit-code")
    assert r.code == 1
    doc = r.json()
    (c,) = doc["conflicts"]
    assert c["kind"] == "hooks" and c["severity"] == "error"
    assert c["summary"].startswith(NOT_INSTALLED) and c["next_step"] == "gitcoord install"
    assert {h["state"] for h in c["details"]["hooks"]} == {"missing"}
    # a filter keeps it: every worktree's commits go unchecked
    doc = run_cli(project.main, "--json", "status", "--worktree", str(project.wt("wt-b"))).json()
    assert [c["kind"] for c in doc["conflicts"]] == ["hooks"]
    human = run_cli(project.main, "status", env={"COLUMNS": "200"})
    assert "hooks: " + NOT_INSTALLED in human.stdout and "next: gitcoord install" in human.stdout
    # the next step, run as shown, clears it
    assert run_cli(project.main, *c["next_step"].split()[1:]).code == 0
    r = run_cli(project.main, "--json", "status", "--exit-code")
    assert r.code == 0 and r.json()["conflicts"] == []


def test_the_pre_commit_framework_running_gitcoord_counts_as_installed(project: Project) -> None:
    """`.pre-commit-hooks.yaml` is the other way in: the framework's own hook, with one of
    our hook ids in the worktree's config."""
    config = project.main / ".pre-commit-config.yaml"
    config.write_text("repos:\n-   repo: local\n    hooks:\n    -   id: trailing-whitespace\n")
    env = dict(os.environ, PRE_COMMIT_HOME=str(project.main.parent / "pre-commit-home"))
    proc = subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=project.main, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pre-commit.com" in (hooks(project) / "pre-commit").read_text()
    r = run_cli(project.main, "leases")
    assert "pre-commit: not gitcoord's" in r.stderr, r.stderr  # the framework runs no hook of ours
    config.write_text(
        "repos:\n-   repo: https://example.invalid/gitcoord\n    rev: v0.1.0\n    hooks:\n    -   id: gitcoord\n"
    )
    r = run_cli(project.main, "leases")
    assert r.code == 0 and "hooks" not in r.stderr, r.stderr
    assert run_cli(project.main, "--json", "status").json()["conflicts"] == []
