"""The SQLite store: location, migrations, concurrency, refusal of bad databases."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.repos.recipes import Project
from gitcoord.errors import SchemaTooNew, StoreCorrupt, StoreLocked
from gitcoord.store import SCHEMA_VERSION
from gitcoord.store.sqlite import SQLiteStore
from tests.conftest import run_cli

pytestmark = pytest.mark.sqlite_only  # the SQLite file itself; the PostgreSQL store's own tests are in test_postgres.py


def test_store_lives_in_common_git_dir_shared_by_worktrees(project: Project) -> None:
    r = run_cli(project.wt("wt-a"), "--json", "init")
    assert r.code == 0, r.stderr
    db = project.main / ".git" / "gitcoord" / "gitcoord.db"
    assert r.json()["store"] == str(db)
    assert db.exists()
    assert not (project.wt("wt-a") / ".git" / "gitcoord").exists()
    run_cli(project.wt("wt-a"), "lease", "README.md")
    seen = run_cli(project.wt("wt-b"), "--json", "leases").json()["leases"]
    assert [x["pattern"] for x in seen] == ["README.md"]


def test_wal_and_migrations_recorded(tmp_path: Path) -> None:
    s = SQLiteStore.open(tmp_path / "g" / "gitcoord.db")
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rows = s.conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
    assert s.schema_version() == SCHEMA_VERSION
    s.close()


def _open(path: str) -> int:
    s = SQLiteStore.open(Path(path))
    v = s.schema_version()
    s.close()
    return v


def _wal_pending(db: Path) -> int:
    """Frames in the WAL not yet copied back (mxFrame - nBackfill of the WAL index)."""
    import struct

    head = (db.parent / (db.name + "-shm")).read_bytes()[:100]
    return int(struct.unpack_from("=I", head, 16)[0] - struct.unpack_from("=I", head, 96)[0])


def test_the_wal_is_checkpointed_after_write_transactions_not_inside_them(tmp_path: Path) -> None:
    """Commits never checkpoint (autocheckpoint is off: a checkpoint inside COMMIT would
    hold up every queued writer); each write transaction looks afterwards, and a
    deferred one (a combiner's) waits for housekeeping()."""
    from gitcoord.store.sqlite import CHECKPOINT_FRAMES

    db = tmp_path / "g" / "gitcoord.db"
    s = SQLiteStore.open(db)
    try:
        assert s.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        s.defer_housekeeping = True
        for i in range(CHECKPOINT_FRAMES + 50):
            with s.transaction() as tx:
                tx.set_meta("k", str(i))
        assert _wal_pending(db) > CHECKPOINT_FRAMES  # deferred: nothing checkpointed yet
        s.housekeeping()
        assert _wal_pending(db) == 0
        s.defer_housekeeping = False
        for i in range(CHECKPOINT_FRAMES + 50):
            with s.transaction() as tx:
                tx.set_meta("k", str(i))
        assert _wal_pending(db) < CHECKPOINT_FRAMES  # checkpointed after a transaction
    finally:
        s.close()


def test_many_processes_open_a_fresh_store_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "fresh" / "gitcoord.db")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        versions = pool.map(_open, [path] * 16)
    assert versions == [SCHEMA_VERSION] * 16
    con = sqlite3.connect(path)
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == SCHEMA_VERSION
    con.close()


def test_schema_newer_than_code_is_refused(project: Project) -> None:
    run_cli(project.main, "init")
    db = project.main / ".git" / "gitcoord" / "gitcoord.db"
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    con.close()
    with pytest.raises(SchemaTooNew):
        SQLiteStore.open(db)
    r = run_cli(project.main, "--json", "leases")
    assert r.code == 3
    assert r.err_json()["error"]["code"] == "schema_too_new"
    assert "upgrade gitcoord" in r.err_json()["error"]["message"]


def test_corrupt_store_exit_3(project: Project) -> None:
    db = project.main / ".git" / "gitcoord" / "gitcoord.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreCorrupt):
        SQLiteStore.open(db)
    r = run_cli(project.main, "lease", "README.md")
    assert r.code == 3 and "corrupt" in r.stderr
    assert "Traceback" not in r.stderr


def test_locked_store_times_out_with_exit_3(project: Project) -> None:
    run_cli(project.main, "init")
    db = project.main / ".git" / "gitcoord" / "gitcoord.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3,sys,time;c=sqlite3.connect(sys.argv[1],isolation_level=None);"
            "c.execute('BEGIN IMMEDIATE');print('locked',flush=True);time.sleep(30)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        r = run_cli(project.main, "--json", "lease", "README.md", env={"GITCOORD_BUSY_TIMEOUT": "0.5"})
        assert r.code == 3
        assert r.err_json()["error"]["code"] == "store_locked"
        assert time.monotonic() - t0 < 20
        with pytest.raises(StoreLocked):
            s = SQLiteStore.open(db)
            s.conn.execute("PRAGMA busy_timeout = 100")
            with s.transaction():
                pass
    finally:
        holder.kill()
        holder.wait()


def test_network_filesystem_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitcoord.errors import StoreError
    from gitcoord.store import sqlite as sqlite_mod

    monkeypatch.setattr(sqlite_mod, "filesystem_type", lambda p: "nfs4")
    with pytest.raises(StoreError, match="network filesystem"):
        SQLiteStore.open(tmp_path / "nfs" / "gitcoord.db")
    assert not (tmp_path / "nfs").exists()


def test_filesystem_type_reads_proc_mounts(tmp_path: Path) -> None:
    from gitcoord.store.sqlite import filesystem_type

    assert filesystem_type(tmp_path) is not None


def test_init_reports_store_and_hooks(project: Project) -> None:
    r = run_cli(project.wt("wt-b"), "init")
    assert r.code == 0, r.stderr
    assert str(project.main / ".git" / "gitcoord" / "gitcoord.db") in r.stdout
    assert f"git hooks for every worktree in {project.main / '.git' / 'hooks'}: pre-commit" in r.stdout
    assert (project.main / ".git" / "hooks" / "pre-commit").exists()


def test_a_store_that_was_made_and_is_gone_or_empty_is_not_silently_made_anew(project: Project) -> None:
    """Deleting or truncating the database must not start a new, empty history behind
    everyone's back: commands exit 3 and change nothing; `gitcoord init` starts anew,
    and says so."""
    main = project.main
    assert run_cli(main, "lease", "README.md").code == 0
    db = main / ".git" / "gitcoord" / "gitcoord.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"")  # truncated
    r = run_cli(main, "--json", "leases")
    assert r.code == 3 and "is empty" in r.err_json()["error"]["message"]
    assert db.read_bytes() == b""
    db.unlink()  # deleted
    r = run_cli(main, "--json", "lease", "docs/")
    assert r.code == 3 and "is gone" in r.err_json()["error"]["message"]
    assert not db.exists()
    r = run_cli(main, "init")
    assert r.code == 0 and "new, empty one" in r.stderr
    assert run_cli(main, "--json", "leases").json()["leases"] == []
    assert run_cli(main, "init").code == 0  # and from then on, as before


def _hold_a_writer_turn(db: str) -> None:
    """A writer that takes its turn and the write lock, then never finishes."""
    s = SQLiteStore.open(Path(db))
    with s.transaction():
        print("holding", flush=True)
        time.sleep(60)


def test_the_busy_timeout_bounds_the_whole_wait_queue_included(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC section 7: a busy timeout. A writer behind a stuck one waits its turn in the
    fair queue, then for SQLite's lock: the two together stay within the timeout, not
    twice it (the error says it waited that long)."""
    run_cli(project.main, "init")
    db = project.main / ".git" / "gitcoord" / "gitcoord.db"
    stuck = subprocess.Popen(
        [sys.executable, "-c", f"from tests.test_store import _hold_a_writer_turn as h; h({str(db)!r})"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    try:
        assert stuck.stdout is not None and stuck.stdout.readline().strip() == "holding"
        monkeypatch.setenv("GITCOORD_BUSY_TIMEOUT", "2")
        s = SQLiteStore.open(db)
        t0 = time.monotonic()
        with pytest.raises(StoreLocked, match="waited 2s"), s.transaction():
            pass
        waited = time.monotonic() - t0
        s.close()
        assert 1.5 < waited < 3.5  # (twice the timeout, 4 s, before)
    finally:
        stuck.kill()
        stuck.wait()
