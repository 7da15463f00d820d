"""Shared fixtures: isolated git config, real repositories with linked worktrees, and
two ways to run the CLI (a real subprocess, and in-process through ``cli.main``)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from fixtures.repos.recipes import Project, git, small_project

settings.register_profile("ci", deadline=None, print_blob=True)
settings.load_profile("ci")

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _isolated_git_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No user or system git config, no GITCOORD_* leaking in from the developer's shell."""
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n"
        "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n"
        "[advice]\n\tdetachedHead = false\n"
    )
    saved = dict(os.environ)
    for k in list(os.environ):
        if k.startswith(("GITCOORD_", "GIT_")):
            del os.environ[k]
    os.environ["HOME"] = str(home)
    os.environ["GIT_CONFIG_GLOBAL"] = str(gitconfig)
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"
    os.environ["GITCOORD_HOST"] = "testhost"
    os.environ["GITCOORD_BUSY_TIMEOUT"] = "20"
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A main worktree (branch main) and linked worktrees wt-a and wt-b."""
    return small_project(tmp_path)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def err_json(self) -> Any:
        return json.loads(self.stderr)


def run_cli(cwd: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    """Run ``python -m gitcoord`` as a real subprocess."""
    full = dict(os.environ)
    if env:
        full.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "gitcoord", *args],
        cwd=cwd,
        env=full,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_inproc(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run the CLI's real entry point in this process (stdout and stderr kept apart)."""
    from gitcoord import cli

    out, err = io.StringIO(), io.StringIO()
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    code = 0
    try:
        if env:
            os.environ.update(env)
        os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                cli.main(list(args))
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture(params=["subprocess", "inproc"])
def gc(request: pytest.FixtureRequest) -> Any:
    """The CLI, run both ways."""
    return run_cli if request.param == "subprocess" else run_inproc


def store_dump(main: Path) -> dict[str, Any]:
    """Every row of every table, to prove an operation changed nothing."""
    from gitcoord.store.sqlite import SQLiteStore

    path = Path(git(main, "rev-parse", "--git-common-dir").strip())
    if not path.is_absolute():
        path = main / path
    store = SQLiteStore.open(path / "gitcoord" / "gitcoord.db")
    try:
        with store.snapshot() as tx:
            return tx.dump()
    finally:
        store.close()
