"""Helpers for the hook scenario tests (no tests here).

Real repositories (``fixtures.repos.recipes.small_project``: ``main`` plus linked worktrees
``wt-a`` and ``wt-b``), the real hooks as ``gitcoord init`` installs them, real ``git``.
Hooks run the interpreter that installed them with this checkout on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fixtures.repos.recipes import FIXED_ENV, Project, small_project
from tests.conftest import REPO_ROOT, Result, run_inproc, store_sql

API = "src/app/api.py"
API_REASON = "refactor api"


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(FIXED_ENV)
    # Commits in a scenario happen within one second: distinct dates keep SHAs distinct.
    env.pop("GIT_AUTHOR_DATE", None)
    env.pop("GIT_COMMITTER_DATE", None)
    env["GIT_CONFIG_GLOBAL"] = os.environ.get("GIT_CONFIG_GLOBAL", "")
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["PYTHONPATH"] = str(REPO_ROOT)
    if extra:
        env.update(extra)
    return env


def sh(cwd: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run git as a user would (hooks included); never raises."""
    return subprocess.run(
        ["git", *args], cwd=cwd, env=git_env(env), input=input, capture_output=True, text=True,
        check=False, timeout=120,
    )


def ok(cwd: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> str:
    proc = sh(cwd, *args, env=env, input=input)
    assert proc.returncode == 0, f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def refused(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git, expect a gitcoord refusal; return stderr."""
    proc = sh(cwd, *args, env=env)
    assert proc.returncode != 0, f"git {' '.join(args)} unexpectedly succeeded:\n{proc.stdout}{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


def cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """The CLI's real entry point, in this process (the hooks run as real subprocesses)."""
    return run_inproc(cwd, *args, env=env)


def cli_ok(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    r = cli(cwd, *args, env=env)
    assert r.code == 0, f"gitcoord {' '.join(args)} -> {r.code}\n{r.stdout}{r.stderr}"
    return r


def write(wt: Path, rel: str, text: str) -> None:
    p = wt / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def head(wt: Path) -> str:
    return ok(wt, "rev-parse", "HEAD").strip()


def setup(tmp_path: Path, linked: tuple[str, ...] = ("wt-a", "wt-b")) -> Project:
    """The small project with the store created and the hooks installed (``gitcoord init``)."""
    project = small_project(tmp_path, linked=linked)
    cli_ok(project.main, "init")
    return project


# The ``project`` fixtures of the hook test modules (import the one a module needs).
@pytest.fixture(name="project")
def hooked_project(tmp_path: Path) -> Project:
    """The small project, initialised, hooks installed."""
    return setup(tmp_path)


@pytest.fixture(name="project")
def leased_project(tmp_path: Path) -> Project:
    """The same, with wt-a holding an exclusive lease on API."""
    p = setup(tmp_path)
    lease(p.wt("wt-a"), API, "--reason", API_REASON)
    return p


def common_dir(project: Project) -> Path:
    return project.main / ".git"


def db_path(project: Project) -> Path:
    return common_dir(project) / "gitcoord" / "gitcoord.db"


def journal_lines(project: Project) -> list[str]:
    p = common_dir(project) / "gitcoord" / "journal"
    return p.read_text().splitlines() if p.exists() else []


def events(cwd: Path, *kinds: str) -> list[dict[str, Any]]:
    """The audit trail (draining the journal first, as any gitcoord command does)."""
    args = ["--json", "log"]
    for k in kinds:
        args += ["--kind", k]
    out: list[dict[str, Any]] = cli_ok(cwd, *args).json()["events"]
    return out


def commit_rows(project: Project) -> dict[str, dict[str, Any]]:
    rows = store_sql(project.main, "SELECT * FROM commits")
    return {r["sha"]: dict(zip(r.keys(), r)) for r in rows}


def rewrite_rows(project: Project) -> list[tuple[str, str, str]]:
    rows = store_sql(project.main, "SELECT old_sha, new_sha, kind FROM rewrites ORDER BY rowid")
    return [(r[0], r[1], r[2]) for r in rows]


def lease(wt: Path, *patterns: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = cli_ok(wt, "--json", "lease", *patterns, env=env).json()
    return out


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
