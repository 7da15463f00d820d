"""gitcoord through the pre-commit framework: ``.pre-commit-hooks.yaml`` with the real
``pre-commit`` package, offline.

pre-commit clones the hook repository (here: a commit of this checkout in a temporary
repository) and builds a virtualenv for ``language: python`` by pip-installing it, as it
does for its users. Offline, pip finds what that needs in a directory of wheels
(:mod:`tests.wheelhouse`: gitcoord's dependencies at the versions this environment has, and
setuptools to build it with), and asks no index. So the hooks file itself is what runs,
and the test passes in a virtualenv and with a system interpreter alike, whatever that
interpreter's own site-packages hold (the hook's virtualenv does not see them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.repos.recipes import FIXED_ENV, Project
from tests.conftest import REPO_ROOT, run_cli
from tests.wheelhouse import SOURCE_FILES, Wheels, shared_wheels

# (sqlite_only: the framework's own environment has gitcoord without the postgres extra)
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

PRE_COMMIT = (sys.executable, "-m", "pre_commit")


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    return shared_wheels(tmp_path_factory)


def run(cwd: Path, *cmd: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    full.update(FIXED_ENV)
    full.update(env)
    return subprocess.run(list(cmd), cwd=cwd, env=full, capture_output=True, text=True, timeout=300, check=False)


def hook_repository(base: Path) -> tuple[Path, str]:
    """This package, committed in a repository of its own, as pre-commit users would point at it."""
    repo = base / "gitcoord-hooks"
    repo.mkdir()
    for name in (*SOURCE_FILES, ".pre-commit-hooks.yaml"):
        shutil.copy2(REPO_ROOT / name, repo / name)
    shutil.copytree(REPO_ROOT / "gitcoord", repo / "gitcoord", ignore=shutil.ignore_patterns("__pycache__"))
    env: dict[str, str] = {}
    for cmd in (("git", "init", "-q", "-b", "main"), ("git", "add", "-A"), ("git", "commit", "-q", "-m", "hooks")):
        assert run(repo, *cmd, env=env).returncode == 0
    sha = run(repo, "git", "rev-parse", "HEAD", env=env).stdout.strip()
    return repo, sha


def configure(project: Project, base: Path, hook_ids: tuple[str, ...], wheels: Wheels) -> dict[str, str]:
    repo, sha = hook_repository(base)
    hooks = "".join(f"    -   id: {h}\n" for h in hook_ids)
    (project.main / ".pre-commit-config.yaml").write_text(
        f"repos:\n-   repo: {repo}\n    rev: {sha}\n    hooks:\n{hooks}"
    )
    # (no PYTHONPATH: the hooks run the gitcoord the framework installed in its environment)
    env = dict(wheels.offline_env(), PRE_COMMIT_HOME=str(base / "pre-commit-home"))
    for cmd in (("git", "add", ".pre-commit-config.yaml"), ("git", "commit", "-q", "-m", "use gitcoord via pre-commit")):
        assert run(project.main, *cmd, env=env).returncode == 0
    return env


def test_hooks_manifest_is_valid() -> None:
    manifest = REPO_ROOT / ".pre-commit-hooks.yaml"
    r = run(REPO_ROOT, *PRE_COMMIT, "validate-manifest", str(manifest), env={})
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


def test_the_framework_builds_gitcoord_offline_and_refuses_a_leased_path(
    project: Project, tmp_path: Path, wheels: Wheels
) -> None:
    """One environment build (the slow part) serves both halves."""
    env = configure(project, tmp_path, ("gitcoord", "gitcoord-pre-push"), wheels)
    r = run(project.main, *PRE_COMMIT, "install-hooks", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    envs = list((tmp_path / "pre-commit-home").glob("repo*/py_env-*"))
    assert len(envs) == 1
    exe = envs[0] / "bin" / "gitcoord"
    # The console script in the hook's environment is this package, PYTHONPATH or not.
    v = run(project.main, str(exe), "--version", env={"PYTHONPATH": ""})
    assert v.returncode == 0 and "gitcoord" in v.stdout, v.stderr
    # ... with its dependencies installed in it, from the wheels (not seen through this
    # interpreter's site-packages)
    probe = "import os, sys, rich, pygit2; print(os.path.commonpath([rich.__file__, pygit2.__file__, sys.prefix]))"
    where = run(project.main, str(envs[0] / "bin" / "python"), "-c", probe, env={"PYTHONPATH": ""})
    assert where.returncode == 0 and Path(where.stdout.strip()) == envs[0], where.stdout + where.stderr

    from gitcoord.cli import cli

    assert "hook-impl" in cli.commands and cli.commands["hook-impl"].hidden
    r = run(project.main, *PRE_COMMIT, "install", "--hook-type", "pre-commit", env=env)
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
    r = run(project.main, *PRE_COMMIT, "install", "--hook-type", "pre-push", env=env)
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
