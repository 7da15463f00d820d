"""Hooks fail closed when the store is broken, and GITCOORD_BYPASS is the audited way out
(issue 3, item 7). No traceback ever reaches the user."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fixtures.repos.recipes import Project
from gitcoord import hookimpl
from tests.conftest import holding, holding_write_lock
from tests.test_hooks_support import (
    API,
    cli_ok,
    db_path,
    events,
    head,
    journal_lines,
    leased_project,  # noqa: F401 (the project fixture)
    ok,
    refused,
    sh,
    write,
)

FAST = {"GITCOORD_BUSY_TIMEOUT": "1"}



def _remove_store(project: Project) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path(project)) + suffix).unlink(missing_ok=True)


@pytest.mark.sqlite_only  # (the PostgreSQL server down: test_postgres.py)
def test_missing_store_refuses_naming_the_bypass_which_is_journaled(project: Project) -> None:
    b = project.wt("wt-b")
    _remove_store(project)
    write(b, "docs/guide.md", "# any change\n")
    ok(b, "add", "-A")
    err = refused(b, "commit", "-m", "store gone")
    assert "cannot check this commit" in err and "is gone" in err  # (it was made, then lost)
    assert 'GITCOORD_BYPASS="<reason>" git commit' in err and "gitcoord init" in err
    assert not db_path(project).exists()  # a hook never creates a store silently
    proc = sh(b, "commit", "-q", "-m", "store gone, bypassed", env={"GITCOORD_BYPASS": "store lost"})
    assert proc.returncode == 0, proc.stderr
    assert "bypass recorded in the journal" in proc.stderr
    assert any(line.startswith("event\t") and "commit.bypassed" in line for line in journal_lines(project))
    # once the store is back, the journal drains into it: the bypass and the commit
    cli_ok(project.main, "init")
    bypass = events(b, "commit.bypassed")
    assert bypass and bypass[-1]["details"]["reason"] == "store lost"
    assert head(b) in {e["shas"][0] for e in events(b, "commit.recorded")}


@pytest.mark.sqlite_only
def test_corrupt_store_refuses_and_a_no_verify_commit_is_checked_later(project: Project, tmp_path: Path) -> None:
    b = project.wt("wt-b")
    good = tmp_path / "good.db"
    cli_ok(project.main, "leases")  # checkpoint-free copy below: WAL mode, copy all parts
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(db_path(project)) + suffix)
        if src.exists():
            shutil.copy(src, str(good) + suffix)
    _remove_store(project)
    db_path(project).write_bytes(b"this is not a database\n" * 100)
    write(b, API, "x = 1\n")
    ok(b, "add", "-A")
    err = refused(b, "commit", "-m", "corrupt")
    assert "corrupt" in err and "GITCOORD_BYPASS" in err
    assert err.count("is corrupt") == 1, err  # said once
    # --no-verify: the commit exists, cannot be checked now, is journaled as unverified
    proc = sh(b, "commit", "-q", "-m", "unchecked", "--no-verify")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert "cannot be checked now" in proc.stderr
    sha = head(b)
    assert any(line.startswith(f"unverified\t{sha}") for line in journal_lines(project))
    # the store comes back: the drain checks the commit against A's lease and records it
    _remove_store(project)
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(good) + suffix)
        if src.exists():
            shutil.copy(src, str(db_path(project)) + suffix)
    violation = events(b, "commit.violation")
    assert violation and violation[-1]["shas"] == [sha]
    assert violation[-1]["details"]["violations"][0]["lease"]["holder"]["agent"] == "wt-a"


@contextmanager
def holding_lock(db: Path, *pragmas: str) -> Iterator[None]:
    """Another process holding the store's write lock (BEGIN IMMEDIATE) until released."""
    code = (
        "import sqlite3, sys\n"
        f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        + "".join(f"c.execute({p!r}).fetchall()\n" for p in pragmas)
        + "c.execute('BEGIN IMMEDIATE')\n"
        "c.execute(\"INSERT INTO meta(key, value) VALUES ('lock-test', 'x')\")\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    with holding(code):
        yield


def test_locked_store_still_enforces_leases_and_pre_push_fails_closed(project: Project, tmp_path: Path) -> None:
    b = project.wt("wt-b")
    bare = tmp_path / "origin.git"
    ok(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    ok(project.main, "remote", "add", "origin", str(bare))
    write(b, "docs/guide.md", "# b\n")
    ok(b, "commit", "-qam", "b: guide")
    with holding_write_lock(project.main):
        # Reads see the last committed state (WAL): a commit on A's lease is still refused;
        # the refusal cannot be written now and goes to the journal.
        write(b, API, "x = 2\n")
        t0 = time.monotonic()
        err = refused(b, "commit", "-qam", "b: api", env=FAST)
        assert "leased by wt-a" in err
        assert time.monotonic() - t0 < 20
        assert any("commit.refused" in line for line in journal_lines(project))
        ok(b, "checkout", "-q", "--", API)
        # a clean commit goes through: nothing to write
        write(b, "docs/api.md", "# b api docs\n")
        ok(b, "commit", "-qam", "b: docs", env=FAST)
        # pre-push must drain and record: locked past the timeout, it refuses
        err = refused(b, "push", "-q", "origin", "wt-b", env=FAST)
        assert "locked by another process" in err and "GITCOORD_BUSY_TIMEOUT" in err
        assert 'GITCOORD_BYPASS="<reason>" git push' in err
        proc = sh(b, "push", "-q", "origin", "wt-b", env={**FAST, "GITCOORD_BYPASS": "db maintenance"})
        assert proc.returncode == 0, proc.stderr
    # released: the journal drains, bypass and refusal included
    assert events(b, "push.bypassed")[-1]["details"]["reason"] == "db maintenance"
    assert events(b, "commit.refused")


@pytest.mark.sqlite_only  # (PostgreSQL never locks readers out)
def test_store_locked_against_readers_refuses_the_commit(project: Project) -> None:
    b = project.wt("wt-b")
    write(b, "docs/guide.md", "# b\n")
    ok(b, "add", "-A")
    with holding_lock(db_path(project), "PRAGMA locking_mode = EXCLUSIVE"):
        err = refused(b, "commit", "-m", "b", env=FAST)
    assert "locked" in err and "GITCOORD_BYPASS" in err


def test_internal_error_is_logged_never_shown_as_a_traceback(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(state: hookimpl._State) -> int:
        hookimpl._context(state)
        raise RuntimeError("something unexpected")

    monkeypatch.chdir(project.wt("wt-b"))
    monkeypatch.setitem(hookimpl._HANDLERS, "pre-push", boom)
    assert hookimpl.main(["pre-push", "origin", "url"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" in err and "GITCOORD_BYPASS" in err
    log = project.main / ".git" / "gitcoord" / "hooks.log"
    assert "RuntimeError: something unexpected" in log.read_text()
    # post-* hooks never fail the (already made) commit
    monkeypatch.setitem(hookimpl._HANDLERS, "post-merge", boom)
    assert hookimpl.main(["post-merge", "0"]) == 0


def test_unknown_hooks_and_empty_argv() -> None:
    assert hookimpl.main(["post-checkout", "a", "b", "1"]) == 0
    assert hookimpl.main([]) == 2
