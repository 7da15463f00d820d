"""The PostgreSQL store itself: projects sharing a database, hosts sharing a project,
racing processes, the server going away, and what bad URLs, credentials and project keys
do. (Everything else runs on PostgreSQL too: every test runs on both stores.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.pgserver import PASSWORD, PASSWORD_ROLE, PGServer
from fixtures.repos.recipes import Project, git, small_project
from gitcoord.store import SCHEMA_VERSION
from tests.conftest import env_set, run_cli, store_dump, store_sql
from tests.test_hooks_support import API, cli_ok, head, lease, ok, refused, sh, write

pytestmark = pytest.mark.postgres_only


def j(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return run_cli(cwd, "--json", *args, env=env)


def grant_password_role(main: Path, server: PGServer) -> None:
    """What an administrator does for a role of its own per host or agent: the right to
    register projects and make their schemas."""
    cli_ok(main, "init")  # (the registry exists from here on)
    server.sql(f"GRANT CREATE ON DATABASE postgres TO {PASSWORD_ROLE}")
    server.sql(f"GRANT USAGE, CREATE ON SCHEMA gitcoord TO {PASSWORD_ROLE}")
    server.sql(f"GRANT SELECT, INSERT ON gitcoord.projects TO {PASSWORD_ROLE}")


def registry(server: PGServer) -> dict[str, str]:
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as conn:
        try:
            return dict(conn.execute("SELECT name, schema_name FROM gitcoord.projects").fetchall())  # type: ignore[arg-type]
        except psycopg.errors.UndefinedTable:
            return {}


# ---------------------------------------------------------------- projects
def test_projects_sharing_a_database_never_see_each_other(tmp_path: Path, pg_server: PGServer) -> None:
    one = small_project(tmp_path / "one")
    two = small_project(tmp_path / "two")
    env_two = {"GITCOORD_PROJECT": "another project/ü"}
    assert run_cli(one.wt("wt-a"), "lease", API).code == 0
    assert run_cli(one.main, "task", "add", "T-1", "--title", "one's task").code == 0
    assert run_cli(one.main, "send", "--all", "hello one").code == 0
    # the same paths, the same task id, in the other project: all free
    assert j(two.wt("wt-b"), "lease", API, env=env_two).code == 0
    assert j(two.main, "leases", env=env_two).json()["leases"][0]["holder"]["worktree"] == str(two.wt("wt-b"))
    assert j(two.main, "task", "add", "T-1", "--title", "two's", env=env_two).code == 0
    assert [t["title"] for t in j(two.main, "task", "list", env=env_two).json()["tasks"]] == ["two's"]
    assert j(two.wt("wt-a"), "inbox", env=env_two).json()["messages"] == []
    events_two = j(two.main, "log", env=env_two).json()["events"]
    assert [e["kind"] for e in events_two] == ["lease.granted", "task.added"]
    assert [e["seq"] for e in events_two] == [1, 2]  # a chain of its own
    assert j(one.main, "audit", "verify").json()["ok"] and j(two.main, "audit", "verify", env=env_two).json()["ok"]
    schemas = registry(pg_server)
    assert schemas[os.environ["GITCOORD_PROJECT"]] != schemas["another project/ü"]


def test_a_project_key_with_odd_characters_works_or_is_bad_input(project: Project, pg_server: PGServer) -> None:
    odd = "x'; DROP SCHEMA gitcoord CASCADE; --\"quoted\" \\ ü"
    r = j(project.main, "lease", "README.md", env={"GITCOORD_PROJECT": odd})
    assert r.code == 0, r.stderr
    assert odd in registry(pg_server)  # stored as given; the registry is intact
    before = registry(pg_server)
    for bad in ("tab\there", "new\nline", "x" * 201):
        r = j(project.main, "lease", "README.md", env={"GITCOORD_PROJECT": bad})
        assert r.code == 2 and "gitcoord.project" in r.err_json()["error"]["message"]
    assert registry(pg_server) == before
    r = j(project.main, "lease", "README.md", env={"GITCOORD_PROJECT": ""})
    assert r.code == 2 and "gitcoord.project" in r.err_json()["error"]["message"]


def test_the_project_key_comes_from_git_config_and_the_environment_overrides_it(project: Project) -> None:
    env_project = os.environ.pop("GITCOORD_PROJECT")
    try:
        git(project.main, "config", "gitcoord.project", "from-config")
        assert run_cli(project.main, "lease", "README.md").code == 0
        assert j(project.main, "store", "info").json()["project"] == "from-config"
        assert run_cli(project.main, "lease", "docs/", env={"GITCOORD_PROJECT": env_project}).code == 0
        doc = j(project.main, "store", "info", env={"GITCOORD_PROJECT": env_project}).json()
        assert doc["project"] == env_project
    finally:
        os.environ["GITCOORD_PROJECT"] = env_project


def test_the_schema_mirrors_the_sqlite_schema(project: Project, tmp_path: Path) -> None:
    from gitcoord.store.sqlite import SQLiteStore

    cli_ok(project.main, "init")
    pg = {t: sorted(c for c in cols.split(",") if c != "rowid") for t, cols in _columns_pg(project.main).items()}
    lite = SQLiteStore.open(tmp_path / "mirror.db")
    try:
        with lite.snapshot() as tx:
            names = [r[0] for r in tx.conn.execute(tx.TABLES).fetchall()]
            sqlite_cols = {n: sorted(r[1] for r in tx.conn.execute(f'PRAGMA table_info("{n}")').fetchall()) for n in names}
    finally:
        lite.close()
    assert pg == sqlite_cols
    versions = [r[0] for r in store_sql(project.main, "SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def _columns_pg(main: Path) -> dict[str, str]:
    rows = store_sql(
        main,
        "SELECT table_name, string_agg(column_name, ',') FROM information_schema.columns"
        " WHERE table_schema = current_schema() GROUP BY table_name",
    )
    return {r[0]: r[1] for r in rows}


def test_a_schema_newer_than_this_gitcoord_is_refused(project: Project) -> None:
    cli_ok(project.main, "init")
    store_sql(project.main, "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, 'future', 0)", (SCHEMA_VERSION + 1,))
    r = j(project.main, "lease", "README.md")
    assert r.code == 3 and r.err_json()["error"]["code"] == "schema_too_new"


def test_first_commands_racing_on_a_new_project_make_it_once(project: Project, pg_server: PGServer) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gitcoord", "--json", "task", "add", f"T-{i}", "--title", "t"],
            cwd=project.main, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(6)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, outs
    assert list(registry(pg_server)).count(os.environ["GITCOORD_PROJECT"]) == 1
    assert len(j(project.main, "task", "list").json()["tasks"]) == 6
    assert j(project.main, "store", "info").json()["schema_version"] == SCHEMA_VERSION


# ---------------------------------------------------------------- identity
def test_every_event_records_the_database_role(project: Project, pg_server: PGServer) -> None:
    grant_password_role(project.main, pg_server)
    url = pg_server.url_for(PASSWORD_ROLE, PASSWORD)
    env = {"GITCOORD_STORE": url, "GITCOORD_PROJECT": f"roles-{os.getpid()}-{time.time_ns()}"}
    assert run_cli(project.wt("wt-a"), "lease", API, env=env).code == 0
    assert run_cli(project.wt("wt-b"), "lease", API, env=env).code == 1  # a denial is an event too
    events = j(project.main, "log", env=env).json()["events"]
    assert [e["role"] for e in events] == [PASSWORD_ROLE, PASSWORD_ROLE]
    assert j(project.main, "audit", "verify", env=env).json()["ok"]
    # the role is hashed: changing it is tampering
    store_sql_env(project.main, env, "UPDATE events SET role = 'someone' WHERE seq = 1")
    assert [p["seq"] for p in j(project.main, "audit", "verify", env=env).json()["problems"]] == [1]
    exported = run_cli(project.main, "export", env=env).stdout
    assert json.loads(exported)["events"][0]["role"] == "someone"


def store_sql_env(main: Path, env: dict[str, str], sql: str) -> None:
    with env_set(env):
        store_sql(main, sql)


# ---------------------------------------------------------------- passwords
def test_a_password_never_shows(project: Project, pg_server: PGServer, tmp_path: Path) -> None:
    grant_password_role(project.main, pg_server)
    url = pg_server.url_for(PASSWORD_ROLE, PASSWORD)
    redacted = pg_server.url_for(PASSWORD_ROLE)
    seen = tmp_path / "hook-saw"
    git(project.main, "config", "gitcoord.on.lease", f"cat /proc/$$/cmdline > {seen}; env >> {seen}")
    env = {"GITCOORD_STORE": url, "GITCOORD_PROJECT": f"pw-{os.getpid()}-{time.time_ns()}"}
    outputs = []
    for args in (["init"], ["lease", API], ["store", "info"], ["--json", "store", "info"], ["log"], ["export"], ["status"]):
        r = run_cli(project.wt("wt-a"), *args, env=env)
        assert r.code == 0, (args, r.stderr)
        outputs.append(r.stdout + r.stderr)
    assert any(redacted in o for o in outputs)
    # a wrong password, a malformed URL: errors name the store, never the password
    for bad in (url.replace(PASSWORD, "not-" + PASSWORD + "-either"), url.replace("127.0.0.1", "[127.0.0.1")):
        r = run_cli(project.wt("wt-a"), "leases", env={**env, "GITCOORD_STORE": bad})
        assert r.code == 3
        outputs.append(r.stdout + r.stderr)
    write(project.wt("wt-b"), API, "x = 1\n")
    proc = sh(project.wt("wt-b"), "commit", "-qam", "b", env={**env, "GITCOORD_STORE": url.replace(PASSWORD, "wrong")})
    assert proc.returncode != 0 and redacted in proc.stderr and "GITCOORD_BYPASS" in proc.stderr
    outputs.append(proc.stderr)
    logs = [p.read_text() for p in (project.main / ".git" / "gitcoord").glob("*.log")]
    hook_saw = seen.read_text()
    cmdline = hook_saw.split("\n", 1)[0]
    assert "GITCOORD_STORE=" + url in hook_saw  # hooks inherit the environment: that is fine
    for text in [*outputs, *logs, cmdline]:
        assert PASSWORD not in text and "wrong" not in text.replace("wrong password", ""), text


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "url, says",
    [
        ("postgresql://gitcoord@[::1/postgres", "malformed"),
        ("postgresql://gitcoord@no-such-host.invalid:5432/postgres", "unreachable"),
        ("postgresql://gitcoord@127.0.0.1:1/postgres", "unreachable"),
    ],
)
def test_bad_store_urls_are_exit_3_and_write_nothing(project: Project, url: str, says: str) -> None:
    before = store_dump(project.main) if run_cli(project.main, "init").code == 0 else None
    t0 = time.monotonic()
    r = j(project.main, "lease", "README.md", env={"GITCOORD_STORE": url})
    assert r.code == 3 and says in r.err_json()["error"]["message"], r.stderr
    assert time.monotonic() - t0 < 30
    assert store_dump(project.main) == before


def test_a_dead_server_does_not_hang_a_commit(project: Project) -> None:
    """A server that accepts the connection and never answers: bounded by the connect
    timeout (GITCOORD_CONNECT_TIMEOUT), then the hook refuses, naming the bypass."""
    import socket

    cli_ok(project.main, "init")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"postgresql://gitcoord:pw@127.0.0.1:{silent.getsockname()[1]}/postgres"
        b = project.wt("wt-b")
        write(b, "docs/guide.md", "# b\n")
        t0 = time.monotonic()
        proc = sh(b, "commit", "-qam", "b", env={"GITCOORD_STORE": url, "GITCOORD_CONNECT_TIMEOUT": "2"})
        took = time.monotonic() - t0
    assert proc.returncode == 1 and "GITCOORD_BYPASS" in proc.stderr and ":pw@" not in proc.stderr
    assert took < 20, took
    r = j(project.main, "leases", env={"GITCOORD_CONNECT_TIMEOUT": "never"})
    assert r.code == 2 and "gitcoord.connectTimeout" in r.err_json()["error"]["message"]


# ---------------------------------------------------------------- racing hosts
RACER = """
import sys, time
from gitcoord import context, leases
from gitcoord.errors import Denied, GitcoordError
start = float(sys.argv[2])
ctx = context.load(sys.argv[1])
ctx.store()  # connected and ready: the race is the lease alone
holder = ctx.holder()
while time.time() < start:
    time.sleep(0.0005)
try:
    leases.acquire(ctx, [sys.argv[3]])
    print("granted")
except Denied:
    print("denied")
except GitcoordError as e:
    print("error", e)
"""


def test_two_hosts_leasing_overlapping_patterns_at_the_same_instant_one_wins(project: Project) -> None:
    cli_ok(project.main, "init")
    a, b = project.wt("wt-a"), project.wt("wt-b")
    for round_ in range(4):
        start = time.time() + 1.5
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", RACER, str(wt), str(start), pattern],
                env={**os.environ, "GITCOORD_HOST": host},
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for wt, host, pattern in ((a, "host-a", "src/app/"), (b, "host-b", "src/**/*.py"))
        ]
        outs = [p.communicate(timeout=120) for p in procs]
        results = sorted(o[0].strip() for o in outs)
        assert results == ["denied", "granted"], (round_, outs)
        active = j(project.main, "leases").json()["leases"]
        assert len(active) == 1
        assert run_cli(project.main, "release", "--force", active[0]["pattern"]).code == 0
    assert j(project.main, "audit", "verify").json()["ok"]


# ---------------------------------------------------------------- many hosts, one project
@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """A bare repository and two clones of it on "two hosts", sharing one project through
    git config alone (gitcoord.store, gitcoord.project): none in the environment."""
    url, name = os.environ.pop("GITCOORD_STORE"), os.environ.pop("GITCOORD_PROJECT")
    try:
        seed = small_project(tmp_path / "seed", linked=())
        bare = tmp_path / "shared.git"
        ok(tmp_path, "clone", "-q", "--bare", str(seed.main), str(bare))
        for key, value in (("gitcoord.store", url), ("gitcoord.project", name)):
            ok(bare, "config", key, value)
        cli_ok(bare, "install")  # the server side: pre-receive, on the shared project
        clones = []
        for n in ("one", "two"):
            clone = tmp_path / n
            ok(tmp_path, "clone", "-q", str(bare), str(clone))
            ok(clone, "config", "gitcoord.store", url)
            ok(clone, "config", "gitcoord.project", name)
            clones.append(clone)
        yield bare, clones[0], clones[1]
    finally:
        os.environ["GITCOORD_STORE"], os.environ["GITCOORD_PROJECT"] = url, name


def test_clones_on_two_hosts_share_one_project(hosts: tuple[Path, Path, Path]) -> None:
    bare, one, two = hosts
    h1, h2 = {"GITCOORD_HOST": "laptop"}, {"GITCOORD_HOST": "cloud-7"}
    cli_ok(one, "init", env=h1)
    cli_ok(two, "init", env=h2)
    lease(one, API, env=h1)
    # the other host is denied the lease, and its commit touching the path is refused
    r = run_cli(two, "--json", "lease", "src/app/", env=h2)
    assert r.code == 1 and r.err_json()["error"]["details"]["conflicts"][0]["lease"]["holder"]["host"] == "laptop"
    write(two, API, "x = 2\n")
    err = refused(two, "commit", "-qam", "two: api", env=h2)
    assert f"{API}: leased by one" in err and "laptop" in err
    # hooks skipped: the server's pre-receive still refuses the push
    ok(two, "commit", "-qam", "two: api, hooks skipped", "--no-verify", env=h2)
    err = refused(two, "push", "--no-verify", "origin", "HEAD:refs/heads/two", env=h2)
    assert "push refused" in err and API in err and "leased by one" in err
    assert not ok(two, "ls-remote", "origin", "refs/heads/two").strip()
    # the same worktree path on another host is another holder: it cannot release it
    run_cli(one, "release", API, env=h2)
    assert [x["holder"]["host"] for x in j(one, "leases", env=h1).json()["leases"]] == ["laptop"]
    kinds = [e["kind"] for e in j(one, "log", env=h1).json()["events"]]
    assert "receive.refused" in kinds and "lease.denied" in kinds and "commit.refused" in kinds
    assert j(two, "audit", "verify", env=h2).json()["ok"]


def test_the_server_refuses_commits_no_hook_recorded(hosts: tuple[Path, Path, Path]) -> None:
    bare, one, two = hosts
    h2 = {"GITCOORD_HOST": "cloud-7"}
    cli_ok(two, "init", env=h2)
    ok(bare, "config", "gitcoord.requireRecorded", "true")
    write(two, "docs/guide.md", "# unseen\n")
    ok(two, "-c", "core.hooksPath=/dev/null", "commit", "-qam", "hooks off", env=h2)
    unseen = head(two)
    err = refused(two, "push", "--no-verify", "origin", "HEAD:refs/heads/two", env=h2)
    assert f"{unseen[:12]}: commit never recorded" in err
    ok(two, "reset", "-q", "--hard", "HEAD^")
    write(two, "docs/guide.md", "# seen\n")
    ok(two, "commit", "-qam", "hooks on", env=h2)
    ok(two, "push", "-q", "origin", "HEAD:refs/heads/two", env=h2)  # pre-push drains the journal
    assert head(two) in {e["shas"][0] for e in j(two, "log", "--kind", "receive.recorded", env=h2).json()["events"]}


# ---------------------------------------------------------------- the server goes away
@pytest.fixture
def own_server() -> Iterator[PGServer]:
    """A server of this test's own, to stop and restart."""
    server = PGServer().start()
    saved = os.environ["GITCOORD_STORE"]
    os.environ["GITCOORD_STORE"] = server.url
    try:
        yield server
    finally:
        os.environ["GITCOORD_STORE"] = saved
        server.stop()


def test_while_the_server_is_down_commands_exit_3_and_hooks_refuse(project: Project, own_server: PGServer) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    cli_ok(project.main, "init")
    lease(a, API)
    cli_ok(project.main, "task", "add", "T-1", "--title", "t")
    before = store_dump(project.main)
    own_server.pause()
    try:
        for args in (["lease", "docs/"], ["claim", "--next"], ["leases"], ["status"], ["audit", "verify"]):
            r = j(b, *args)
            assert r.code == 3, (args, r.stdout, r.stderr)
            assert own_server.url in r.err_json()["error"]["message"]
        write(b, "docs/guide.md", "# b\n")
        err = refused(b, "commit", "-qam", "b: docs")
        assert "cannot check this commit" in err and own_server.url in err and "GITCOORD_BYPASS" in err
        proc = sh(b, "commit", "-qam", "b: docs", env={"GITCOORD_BYPASS": "db down"})
        assert proc.returncode == 0 and "bypass recorded in the journal" in proc.stderr
    finally:
        own_server.resume()
    # back: nothing was half-written, the journal drains, the chain holds
    after = store_dump(project.main)
    assert after["leases"] == before["leases"] and after["tasks"] == before["tasks"]
    assert j(b, "log", "--kind", "commit.bypassed").json()["events"][-1]["details"]["reason"] == "db down"
    assert j(project.main, "audit", "verify").json()["ok"]


WORKER = """
import sys
from gitcoord import claims, context
from gitcoord.errors import GitcoordError
ok = failed = 0
for _ in range(int(sys.argv[2])):
    ctx = context.load(sys.argv[1])
    try:
        res = claims.claim_next(ctx, count=1)
        ok += len(res.claimed)
    except GitcoordError as e:
        failed += 1
        print("error", e.exit_code, file=sys.stderr)
    finally:
        ctx.close()
print(ok, failed)
"""


def test_a_server_restart_mid_run_leaves_no_half_operation(project: Project, own_server: PGServer, tmp_path: Path) -> None:
    main = project.main
    cli_ok(main, "init")
    lines = "".join(json.dumps({"id": f"T-{i}", "title": f"task {i}"}) + "\n" for i in range(40))
    (tmp_path / "tasks.jsonl").write_text(lines)
    cli_ok(main, "task", "import", str(tmp_path / "tasks.jsonl"))
    workers = []
    for i in range(4):
        wt = tmp_path / f"w{i}"
        git(main, "worktree", "add", "-q", "--detach", str(wt), "main")
        workers.append(
            subprocess.Popen([sys.executable, "-c", WORKER, str(wt), "8"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    time.sleep(1.0)
    own_server.restart()
    outs = [p.communicate(timeout=300) for p in workers]
    assert all(p.returncode == 0 for p in workers), outs
    errors = [line for _, err in outs for line in err.splitlines() if line.startswith("error")]
    assert all(line == "error 3" for line in errors), errors  # a store failure, nothing else
    claimed = sum(int(out.split()[0]) for out, _ in outs)
    tasks = j(main, "task", "list").json()["tasks"]
    holders = [t for t in tasks if t["state"] == "claimed"]
    assert len(holders) == claimed  # every claim reported is in the store, and no other
    grants = j(main, "log", "--kind", "claim.granted").json()["events"]
    assert len(grants) == claimed and len({e["subject"] for e in grants}) == claimed  # no double claim
    epochs = [t["claim"]["epoch"] for t in holders]
    assert len(set(epochs)) == len(epochs)
    assert j(main, "audit", "verify").json()["ok"]


# ---------------------------------------------------------------- moving a project
SQLITE = {"GITCOORD_STORE": ""}  # (the repository's own SQLite store, whatever the test runs on)


def busy_sqlite_project(project: Project) -> None:
    a, b, main = project.wt("wt-a"), project.wt("wt-b"), project.main
    cli_ok(main, "init", env=SQLITE)
    for args, wt in (
        (["lease", "src/app/", "--reason", "refactor"], a),
        (["lease", "src/app/api.py"], b),  # denied: an event
        (["task", "add", "T-1", "--title", "one"], main),
        (["task", "add", "T-2", "--title", "two", "--after", "T-1"], main),
        (["claim", "T-1"], a),
        (["send", "--all", "hello"], b),
        (["read", "README.md"], b),
    ):
        run_cli(wt, *args, env=SQLITE)
    write(a, API, "x = 1\n")
    ok(a, "commit", "-qam", "a: api", env=SQLITE)
    ok(a, "commit", "-q", "--amend", "-m", "a: api (amended)", env=SQLITE)
    cli_ok(main, "inbox", "--ack", env=SQLITE)  # drains the journal too


def timeless(doc: Any) -> Any:
    """A document without what depends on when it was asked (expires_in)."""
    if isinstance(doc, dict):
        return {k: timeless(v) for k, v in doc.items() if k != "expires_in"}
    if isinstance(doc, list):
        return [timeless(v) for v in doc]
    return doc


def test_store_migrate_copies_a_sqlite_project_whole(project: Project) -> None:
    busy_sqlite_project(project)
    main = project.main
    pg = {"GITCOORD_PROJECT": f"moved-{os.getpid()}-{time.time_ns()}"}
    r = j(main, "store", "migrate", "--to", os.environ["GITCOORD_STORE"], env={**SQLITE, **pg})
    assert r.code == 0, r.stderr
    assert r.json()["verify"]["ok"] and r.json()["copied"]["events"] >= 8 and r.json()["copied"]["rewrites"] == 1
    for args in (["export"], ["leases", "--all"], ["task", "list"], ["worktree", "list"]):
        assert timeless(j(main, *args, env=SQLITE).json()) == timeless(j(main, *args, env=pg).json()), args
    assert j(main, "audit", "verify", env=pg).json()["ok"]
    # the copy goes on where the original left off: ids, epochs, the chain
    granted = j(project.wt("wt-b"), "lease", "docs/", env=pg).json()["granted"][0]
    assert granted["id"] == 2 and granted["epoch"] == 3
    assert j(main, "audit", "verify", env=pg).json()["ok"]


def test_store_migrate_refuses_a_target_in_use_and_leaves_it_as_it_was(project: Project) -> None:
    busy_sqlite_project(project)
    main = project.main
    assert run_cli(main, "lease", "docs/").code == 0  # the target project (GITCOORD_PROJECT) is in use
    before = store_dump(main)
    r = j(main, "store", "migrate", "--to", os.environ["GITCOORD_STORE"], env=SQLITE)
    assert r.code == 2 and "not empty" in r.err_json()["error"]["message"]
    assert store_dump(main) == before
    r = j(main, "store", "migrate", "--to", "/tmp/elsewhere.db", env=SQLITE)
    assert r.code == 2 and "postgresql://" in r.err_json()["error"]["message"]


def test_a_store_migrate_failing_midway_changes_nothing(project: Project, pg_server: PGServer) -> None:
    """The target's role may not write the last tables (a real permission error, late
    in the copy): exit 3, and the target holds what it held."""
    busy_sqlite_project(project)
    main = project.main
    cli_ok(main, "init")  # an empty PostgreSQL project, made by the administrator
    schema = j(main, "store", "info").json()["schema"]
    for statement in (
        f"GRANT USAGE ON SCHEMA gitcoord TO {PASSWORD_ROLE}",
        f"GRANT SELECT ON gitcoord.projects TO {PASSWORD_ROLE}",
        f"GRANT USAGE ON SCHEMA {schema} TO {PASSWORD_ROLE}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {PASSWORD_ROLE}",
        f"GRANT USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {PASSWORD_ROLE}",
        f"REVOKE INSERT ON {schema}.commits FROM {PASSWORD_ROLE}",
    ):
        pg_server.sql(statement)
    before = store_dump(main)
    url = pg_server.url_for(PASSWORD_ROLE, PASSWORD)
    r = j(main, "store", "migrate", "--to", url, env=SQLITE)
    assert r.code == 3 and "permission denied" in r.err_json()["error"]["message"], r.stderr
    assert PASSWORD not in r.stderr
    assert store_dump(main) == before


HALF = """
import sys, time
from gitcoord import audit, context
ctx = context.load(sys.argv[1])
with ctx.store().transaction() as tx:
    audit.append(tx, "test.half_written", None, subject="never committed")
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_writer_killed_mid_transaction_leaves_nothing_and_holds_nobody_up(project: Project) -> None:
    main = project.main
    cli_ok(main, "init")
    lease(project.wt("wt-a"), API)
    proc = subprocess.Popen([sys.executable, "-c", HALF, str(main)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        proc.kill()  # SIGKILL: no rollback of its own; the server drops its connection
        proc.wait(timeout=30)
        t0 = time.monotonic()
        r = j(project.wt("wt-b"), "lease", "docs/", env={"GITCOORD_BUSY_TIMEOUT": "20"})
        assert r.code == 0, r.stderr
        assert time.monotonic() - t0 < 15
    finally:
        proc.kill()
    kinds = [e["kind"] for e in j(main, "log").json()["events"]]
    assert kinds == ["lease.granted", "lease.granted"]
    assert j(main, "audit", "verify").json()["ok"]


def test_the_edit_guard_denies_while_the_server_is_down_unless_open(project: Project, own_server: PGServer) -> None:
    from tests.test_guard import allowed, denial, guard_command, hook_input, run_hook

    b = project.wt("wt-b")
    cli_ok(project.main, "init")
    command = guard_command(b)
    assert allowed(run_hook(command, b, hook_input(b, API)))
    own_server.pause()
    try:
        reason = denial(run_hook(command, b, hook_input(b, API)))
        assert "cannot check this edit" in reason and own_server.url in reason
        assert "git config gitcoord.editGuard open" in reason
        git(project.main, "config", "gitcoord.editGuard", "open")
        assert allowed(run_hook(command, b, hook_input(b, API)))
    finally:
        own_server.resume()
