"""Shared fixtures: isolated git config, real repositories with linked worktrees, two
ways to run the CLI (a real subprocess, and in-process through ``cli.main``), and both
stores.

Every test runs twice, on SQLite and on PostgreSQL (``store_kind``; ids end in
``[sqlite]`` / ``[postgres]``), unless marked: ``sqlite_only`` (it is about the SQLite
store itself: its file, WAL, locks, fair writer queue, combining, the hook fast path),
``postgres_only``, or ``no_store`` (it never opens a store). On PostgreSQL a session-wide
throwaway server (one per xdist worker, :mod:`fixtures.pgserver`) holds a fresh project per
test, named in ``GITCOORD_STORE`` / ``GITCOORD_PROJECT``, which subprocesses, git and its
hooks inherit. ``GITCOORD_TEST_POSTGRES=skip`` skips the PostgreSQL runs; without it, a
machine lacking the server binaries fails them, saying what to install.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from fixtures.pgserver import PGServer, ServerUnavailable
from fixtures.repos.recipes import Project, small_project

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
        if k.startswith(("GITCOORD_", "GIT_", "PG")) and k != "GITCOORD_TEST_POSTGRES":
            del os.environ[k]
    os.environ["HOME"] = str(home)
    os.environ["GIT_CONFIG_GLOBAL"] = str(gitconfig)
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"
    os.environ["GITCOORD_HOST"] = "testhost"
    os.environ["GITCOORD_BUSY_TIMEOUT"] = "20"
    yield
    os.environ.clear()
    os.environ.update(saved)


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "sqlite_only: about the SQLite store itself (its file, WAL, locks, fair queue, combining, fast path): SQLite only",
        "postgres_only: about the PostgreSQL store itself: PostgreSQL only",
        "no_store: never opens a store: runs once",
    ):
        config.addinivalue_line("markers", line)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test on both stores, unless marked otherwise (ids: [sqlite], [postgres])."""
    if "store_kind" not in metafunc.fixturenames:
        return
    marked = metafunc.definition.get_closest_marker
    if marked("sqlite_only") or marked("no_store"):
        return
    kinds = ["postgres"] if marked("postgres_only") else ["sqlite", "postgres"]
    metafunc.parametrize("store_kind", kinds, indirect=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PGServer]:
    """This worker's PostgreSQL server, started on first use, stopped at the session's end
    (and at exit, should the session die first)."""
    if os.environ.get("GITCOORD_TEST_POSTGRES") == "skip":
        pytest.skip("GITCOORD_TEST_POSTGRES=skip: the PostgreSQL store is not tested")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.fail("psycopg is needed for the PostgreSQL tests: pip install -e '.[test]'")
    try:
        server = PGServer().start()
    except ServerUnavailable as e:
        pytest.fail(str(e))
    try:
        yield server
    finally:
        server.stop()


_projects = itertools.count(1)


@pytest.fixture(autouse=True)
def store_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """The store this test runs on: ``sqlite``, or ``postgres`` with a fresh project."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        yield kind
        return
    server: PGServer = request.getfixturevalue("pg_server")
    project = f"test-{os.getpid()}-{next(_projects)}"
    with env_set({"GITCOORD_STORE": server.url, "GITCOORD_PROJECT": project}):
        yield kind


@contextmanager
def env_set(values: dict[str, str]) -> Iterator[None]:
    """These environment variables, for this process and what it starts, until the block
    ends."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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


def _context(main: Path) -> Any:
    from gitcoord import context

    ctx = context.load(main)
    ctx.drain_journal = False
    return ctx


def store_dump(main: Path) -> dict[str, Any]:
    """Every row of every table of the repository's store, whichever it is, to prove an
    operation changed nothing."""
    ctx = _context(main)
    try:
        with ctx.store().snapshot() as tx:
            return tx.dump()
    finally:
        ctx.close()


def store_sql(main: Path, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Run one statement (``?`` placeholders) straight on the repository's store, whichever
    it is, outside gitcoord and committed at once (what tampering and damage tests do);
    its rows, read by position or column name."""
    ctx = _context(main)
    try:
        cur = ctx.store(create=False).conn.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []
    finally:
        ctx.close()


@contextmanager
def holding_write_lock(cwd: Path) -> Iterator[None]:
    """Another process inside a write transaction on the repository's store (whichever
    it is: SQLite's write lock, PostgreSQL's project lock) until the block ends; it
    writes, and rolls back."""
    code = (
        "import sys\n"
        "from gitcoord import context\n"
        "ctx = context.load(sys.argv[1])\n"
        "ctx.drain_journal = False\n"
        "with ctx.store().transaction() as tx:\n"
        "    tx.set_meta('lock-test', 'x')\n"
        "    print('locked', flush=True)\n"
        "    sys.stdin.read()\n"
        "    raise SystemExit(0)  # (rolled back: it changes nothing)\n"
    )
    with holding(code, str(cwd)):
        yield


@contextmanager
def holding(code: str, *args: str) -> Iterator[None]:
    """Python ``code`` running in another process, which prints ``locked`` once it holds
    what it takes and keeps it until its stdin closes (when the block ends)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)


def run_step(command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a next step as a user pastes it into a shell: ``gitcoord`` is the console script
    of the interpreter running the tests (its bin directory first on PATH), whatever else
    the PATH holds."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True)
