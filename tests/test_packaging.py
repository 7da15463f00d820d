"""gitcoord installed the way Python users install it (issue 15): a wheel built from this
checkout, in an empty virtualenv, and ``pipx install .``. Each gives a working
``gitcoord``: init, hooks whose shims run that environment's interpreter, a lease, a
commit in a second worktree refused by those hooks, status, shell completion.

Offline: pip installs from :mod:`tests.wheelhouse` (the wheel, and gitcoord's dependencies
at the versions this environment has) and asks no index. Nothing here sees this checkout:
no PYTHONPATH, and the commands run from that environment's ``bin``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fixtures.repos.recipes import FIXED_ENV, small_project
from gitcoord import __version__
from tests.wheelhouse import Wheels, gitcoord_wheel, shared_wheels

# What is installed is the package alone (no extras): its store is SQLite.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    return shared_wheels(tmp_path_factory)


def run(cwd: Path, *cmd: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PYTHON", "VIRTUAL_ENV"))}
    full.update(FIXED_ENV)
    full.update(env or {})
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=full, capture_output=True, text=True, timeout=600, check=False)


def ok(cwd: Path, *cmd: str | Path, env: dict[str, str] | None = None) -> str:
    proc = run(cwd, *cmd, env=env)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def works(gitcoord: Path, python: Path, base: Path) -> None:
    """The whole tool from that environment: ``gitcoord`` is its console script and
    ``python`` its interpreter, which the installed hooks must run."""
    env = {"PATH": f"{gitcoord.parent}{os.pathsep}{os.environ['PATH']}"}
    # that environment's gitcoord, not this checkout
    where = ok(base, python, "-c", "import gitcoord, sys; print(gitcoord.__file__); print(sys.prefix)", env=env)
    module, prefix = where.splitlines()
    assert Path(module).is_relative_to(prefix) and Path(prefix) == python.parent.parent
    assert ok(base, gitcoord, "--version", env=env).strip() == f"gitcoord, version {__version__}"

    project = small_project(base / "repo")
    a, b = project.wt("wt-a"), project.wt("wt-b")
    init = run(project.main, gitcoord, "init", env=env)
    assert init.returncode == 0 and "warning" not in init.stderr, init.stdout + init.stderr
    shim = (project.main / ".git" / "hooks" / "pre-commit").read_text()
    assert f"PYTHON='{python}'\n" in shim  # the shims run that environment's interpreter

    lease = run(a, gitcoord, "--agent", "alice", "lease", "src/app/api.py", "--reason", "rename", env=env)
    assert lease.returncode == 0 and lease.stdout.startswith("granted src/app/api.py"), lease.stderr
    assert "hooks" not in lease.stderr  # installed, current: no warning

    (b / "src/app/api.py").write_text("def handler():\n    return 'bob'\n")
    ok(b, "git", "add", "src/app/api.py", env=env)
    head = ok(b, "git", "rev-parse", "HEAD", env=env)
    refused = run(b, "git", "commit", "-m", "bob edits a leased file", env=env)
    assert refused.returncode != 0
    assert "src/app/api.py" in refused.stderr and "alice" in refused.stderr, refused.stderr
    assert ok(b, "git", "rev-parse", "HEAD", env=env) == head
    (b / "docs/guide.md").write_text("# bob's guide\n")
    ok(b, "git", "reset", "-q", "--", "src/app/api.py", env=env)
    ok(b, "git", "add", "docs/guide.md", env=env)
    ok(b, "git", "commit", "-q", "-m", "bob edits his own file", env=env)

    doc = json.loads(ok(project.main, gitcoord, "--json", "status", env=env))
    assert [x["pattern"] for x in doc["leases"]] == ["src/app/api.py"]
    assert [c["kind"] for c in doc["conflicts"]] == ["lease_violation", "refusal"]  # bob's edit, still dirty
    audit = json.loads(ok(project.main, gitcoord, "--json", "log", env=env))
    kinds = [e["kind"] for e in audit["events"]]
    assert "commit.refused" in kinds and "commit.recorded" in kinds, kinds

    # shell completion through the console script
    comp = ok(
        project.main, gitcoord,
        env={**env, "_GITCOORD_COMPLETE": "bash_complete", "COMP_WORDS": "gitcoord lea", "COMP_CWORD": "1"},
    )
    assert comp.splitlines() == ["plain,lease", "plain,leases"]


def test_the_wheel_carries_the_metadata_users_and_indexes_read(wheels: Wheels) -> None:
    with zipfile.ZipFile(gitcoord_wheel(wheels)) as whl:
        names = whl.namelist()
        meta = whl.read(f"gitcoord-{__version__}.dist-info/METADATA").decode()
    lines = meta.splitlines()
    assert "License-Expression: MIT" in lines and not any(x.startswith("License: ") for x in lines)
    assert f"gitcoord-{__version__}.dist-info/licenses/LICENSE" in names
    assert "Classifier: Topic :: Software Development :: Version Control :: Git" in lines
    extras = {x.split(": ", 1)[1] for x in lines if x.startswith("Provides-Extra: ")}
    assert extras == {"postgres", "mcp", "all", "test"}
    assert 'Requires-Dist: psycopg[binary]>=3.1; extra == "postgres"' in lines
    assert 'Requires-Dist: mcp>=2.3; extra == "mcp"' in lines
    assert "gitcoord/templates/agents.md" in names  # the protocol init --agents writes
    assert "gitcoord/cli/__init__.py" in names and not any(n.startswith(("tests/", "fixtures/")) for n in names)


def test_a_wheel_in_an_empty_virtualenv_gives_a_working_gitcoord(wheels: Wheels, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    ok(tmp_path, sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    assert run(tmp_path, python, "-c", "import click").returncode != 0  # empty indeed
    ok(tmp_path, python, "-m", "pip", "install", "--quiet", gitcoord_wheel(wheels), env=wheels.offline_env())
    works(venv / "bin" / "gitcoord", python, tmp_path)


def test_pipx_install_gives_a_working_gitcoord(wheels: Wheels, tmp_path: Path) -> None:
    env = {
        **wheels.offline_env(),
        "PIPX_HOME": str(tmp_path / "pipx"),
        "PIPX_BIN_DIR": str(tmp_path / "bin"),
        "PIPX_MAN_DIR": str(tmp_path / "man"),
    }
    # `pipx install .` in a checkout (a copy: a build writes into its source tree)
    ok(wheels.source.parent, sys.executable, "-m", "pipx", "install", wheels.source, env=env)
    works(tmp_path / "bin" / "gitcoord", tmp_path / "pipx" / "venvs" / "gitcoord" / "bin" / "python", tmp_path)
