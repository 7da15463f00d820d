"""gitcoord through the pre-commit framework: ``.pre-commit-hooks.yaml`` with the real
``pre-commit`` package, offline.

pre-commit clones the hook repository (here: a commit of this checkout in a temporary
repository) and builds a virtualenv for ``language: python`` by pip-installing it. That works
without network with three settings, kept as they are so the hooks file itself is what runs:
virtualenv seeds pip and setuptools from its own bundled wheels; the virtualenv sees this
interpreter's site-packages (click, rich, pygit2 and filelock are installed there), so pip
finds every dependency installed; and pip neither asks an index nor builds in an isolated
environment (which would download setuptools).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.repos.recipes import FIXED_ENV, Project
from tests.conftest import REPO_ROOT, run_cli

pytestmark = pytest.mark.slow

OFFLINE = {
    "VIRTUALENV_SYSTEM_SITE_PACKAGES": "1",
    "PIP_NO_INDEX": "1",
    "PIP_NO_BUILD_ISOLATION": "0",  # pip reads this negative option inverted: "0" turns isolation off
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}


def run(cwd: Path, *cmd: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    full.update(FIXED_ENV)
    full.update(env)
    return subprocess.run(list(cmd), cwd=cwd, env=full, capture_output=True, text=True, timeout=300, check=False)


def hook_repository(base: Path) -> tuple[Path, str]:
    """This package, committed in a repository of its own, as pre-commit users would point at it."""
    repo = base / "gitcoord-hooks"
    repo.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        if (REPO_ROOT / name).exists():
            shutil.copy2(REPO_ROOT / name, repo / name)
    if not (repo / "README.md").exists():
        (repo / "README.md").write_text("# gitcoord\n")  # pyproject names it as the readme
    shutil.copytree(REPO_ROOT / "gitcoord", repo / "gitcoord", ignore=shutil.ignore_patterns("__pycache__"))
    env: dict[str, str] = {}
    for cmd in (("git", "init", "-q", "-b", "main"), ("git", "add", "-A"), ("git", "commit", "-q", "-m", "hooks")):
        assert run(repo, *cmd, env=env).returncode == 0
    sha = run(repo, "git", "rev-parse", "HEAD", env=env).stdout.strip()
    return repo, sha


def configure(project: Project, base: Path, hook_ids: tuple[str, ...]) -> dict[str, str]:
    repo, sha = hook_repository(base)
    hooks = "".join(f"    -   id: {h}\n" for h in hook_ids)
    (project.main / ".pre-commit-config.yaml").write_text(
        f"repos:\n-   repo: {repo}\n    rev: {sha}\n    hooks:\n{hooks}"
    )
    env = dict(OFFLINE, PRE_COMMIT_HOME=str(base / "pre-commit-home"), PYTHONPATH=str(REPO_ROOT))
    for cmd in (("git", "add", ".pre-commit-config.yaml"), ("git", "commit", "-q", "-m", "use gitcoord via pre-commit")):
        assert run(project.main, *cmd, env=env).returncode == 0
    return env


def test_hooks_manifest_is_valid() -> None:
    manifest = REPO_ROOT / ".pre-commit-hooks.yaml"
    r = run(REPO_ROOT, "pre-commit", "validate-manifest", str(manifest), env={})
    assert r.returncode == 0, r.stdout + r.stderr
    text = manifest.read_text()
    for needle in (
        "id: gitcoord\n",
        "entry: gitcoord hook-impl pre-commit\n",
        "stages: [pre-commit, pre-merge-commit]",
        "id: gitcoord-pre-push\n",
        "entry: gitcoord hook-impl pre-push\n",
        "stages: [pre-push]",
        "pass_filenames: false",
        "always_run: true",
        "language: python",
    ):
        assert needle in text, needle


def test_the_framework_builds_gitcoord_offline_and_refuses_a_leased_path(project: Project, tmp_path: Path) -> None:
    """One environment build (the slow part) serves both halves."""
    env = configure(project, tmp_path, ("gitcoord", "gitcoord-pre-push"))
    r = run(project.main, "pre-commit", "install-hooks", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    envs = list((tmp_path / "pre-commit-home").glob("repo*/py_env-*"))
    assert len(envs) == 1
    exe = envs[0] / "bin" / "gitcoord"
    # The console script in the hook's environment is this package, PYTHONPATH or not.
    v = run(project.main, str(exe), "--version", env={"PYTHONPATH": ""})
    assert v.returncode == 0 and "gitcoord" in v.stdout, v.stderr

    from gitcoord.cli import cli

    assert "hook-impl" in cli.commands and cli.commands["hook-impl"].hidden
    r = run(project.main, "pre-commit", "install", "--hook-type", "pre-commit", env=env)
    assert r.returncode == 0, r.stdout + r.stderr

    lease = run_cli(project.wt("wt-a"), "lease", "src/app/api.py", "--reason", "refactor", env=env)
    assert lease.code == 0, lease.stderr
    (project.main / "src/app/api.py").write_text("def handler():\n    return 2\n")
    assert run(project.main, "git", "add", "src/app/api.py", env=env).returncode == 0
    refused = run(project.main, "git", "commit", "-m", "touch a leased path", env=env)
    assert refused.returncode != 0
    out = refused.stdout + refused.stderr
    assert "gitcoord (leases and stale reads)" in out and "src/app/api.py" in out
    head = run(project.main, "git", "log", "-1", "--format=%s", env=env).stdout.strip()
    assert head == "use gitcoord via pre-commit"

    assert run(project.main, "git", "reset", "-q", "--", "src/app/api.py", env=env).returncode == 0
    (project.main / "docs/guide.md").write_text("# guide, revised\n")
    assert run(project.main, "git", "add", "docs/guide.md", env=env).returncode == 0
    passed = run(project.main, "git", "commit", "-m", "an unleased path", env=env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "gitcoord (leases and stale reads)" in passed.stdout + passed.stderr

    # pre-push through the framework (PRE_COMMIT_* variables, no stdin): a commit that
    # skipped the pre-commit check is refused at the push
    r = run(project.main, "pre-commit", "install", "--hook-type", "pre-push", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    bare = tmp_path / "remote.git"
    assert run(tmp_path, "git", "init", "-q", "--bare", str(bare), env=env).returncode == 0
    assert run(project.main, "git", "remote", "add", "origin", str(bare), env=env).returncode == 0
    first = run(project.main, "git", "push", "-q", "--no-verify", "origin", "main", env=env)  # setup
    assert first.returncode == 0, first.stdout + first.stderr
    (project.main / "src/app/api.py").write_text("def handler():\n    return 3\n")
    assert run(project.main, "git", "commit", "-qam", "skip the check", "--no-verify", env=env).returncode == 0
    pushed = run(project.main, "git", "push", "origin", "main", env=env)
    assert pushed.returncode != 0, pushed.stdout + pushed.stderr
    assert "src/app/api.py" in pushed.stdout + pushed.stderr
    remote_head = run(bare, "git", "rev-parse", "main", env=env).stdout.strip()
    assert remote_head == run(project.main, "git", "rev-parse", "main~1", env=env).stdout.strip()
