"""Numbered schema migrations, applied in order, each in one transaction.

The applied versions are recorded in ``schema_migrations``; ``PRAGMA user_version``
mirrors the newest so opening an up-to-date store costs one pragma read.
"""

from __future__ import annotations

# meta: the newest seq whose hash predates schema 5; every later event's hash covers its paths
PATHS_HASHED_KEY = "audit.paths_hashed_after"

# Version 1: core (this file). Version 2: tasks and claims (schema_tasks.py).
# Version 3: commits and the hook journal (schema_hooks.py). Version 4: claims.request
# (schema_tasks.py). Version 5: event hashes cover the event's paths (this file).
# Version 6: events record the database role (this file).

# Where the applied versions are recorded (made with version 1).
SCHEMA_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
)

CORE_MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "leases, read sets, audit events, bindings, messages",
        """
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE counters (
            name  TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        );
        INSERT INTO counters(name, value) VALUES ('epoch', 0);
        CREATE TABLE leases (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            pattern     TEXT NOT NULL,
            kind        TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'glob')),
            key         TEXT NOT NULL,
            exclusive   INTEGER NOT NULL,
            worktree    TEXT NOT NULL,
            host        TEXT NOT NULL,
            agent       TEXT NOT NULL,
            epoch       INTEGER NOT NULL,
            granted_at  REAL NOT NULL,
            ttl         REAL NOT NULL,
            expires_at  REAL NOT NULL,
            reason      TEXT,
            task        TEXT,
            base_commit TEXT,
            base_blobs  TEXT NOT NULL DEFAULT '{}',
            state       TEXT NOT NULL DEFAULT 'active',
            released_at REAL
        );
        CREATE INDEX leases_active_key ON leases(key) WHERE state = 'active';
        CREATE INDEX leases_active_holder ON leases(worktree, host) WHERE state = 'active';
        CREATE TABLE reads (
            worktree   TEXT NOT NULL,
            host       TEXT NOT NULL,
            agent      TEXT NOT NULL,
            path       TEXT NOT NULL,
            blob       TEXT,
            commit_sha TEXT,
            read_at    REAL NOT NULL,
            PRIMARY KEY (worktree, host, path)
        );
        CREATE TABLE events (
            seq       INTEGER PRIMARY KEY,
            ts        REAL NOT NULL,
            kind      TEXT NOT NULL,
            agent     TEXT,
            worktree  TEXT,
            host      TEXT,
            subject   TEXT,
            task      TEXT,
            shas      TEXT NOT NULL,
            details   TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash      TEXT NOT NULL
        );
        CREATE INDEX events_ts ON events(ts);
        CREATE INDEX events_agent ON events(agent);
        CREATE INDEX events_task ON events(task);
        CREATE TABLE event_paths (
            seq  INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
            path TEXT NOT NULL
        );
        CREATE INDEX event_paths_path ON event_paths(path);
        CREATE INDEX event_paths_seq ON event_paths(seq);
        CREATE TABLE bindings (
            worktree TEXT NOT NULL,
            host     TEXT NOT NULL,
            agent    TEXT NOT NULL,
            bound_at REAL NOT NULL,
            PRIMARY KEY (worktree, host)
        );
        CREATE TABLE messages (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            sent_at    REAL NOT NULL,
            from_agent TEXT,
            from_worktree TEXT,
            from_host  TEXT,
            to_agent   TEXT,
            to_worktree TEXT,
            to_host    TEXT,
            body       TEXT NOT NULL,
            acked_at   REAL
        );
        CREATE INDEX messages_to ON messages(to_agent, acked_at);
        """,
    ),
    (
        5,
        "event hashes cover the paths an event is recorded under (from the next event on)",
        f"""
        INSERT OR REPLACE INTO meta(key, value)
        SELECT '{PATHS_HASHED_KEY}', CAST(coalesce(
            (SELECT max(seq) FROM events),
            (SELECT CAST(substr(value, 1, instr(value, ' ') - 1) AS INTEGER)
               FROM meta WHERE key = 'audit.anchor'),
            0) AS TEXT);
        """,
    ),
    (
        6,
        "events record the database role that wrote them (PostgreSQL; NULL on SQLite)",
        """
        ALTER TABLE events ADD COLUMN role TEXT
        """,
    ),
]


def statements(sql: str) -> list[str]:
    """A migration's statements (none of them holds a semicolon)."""
    return [s.strip() for s in sql.split(";") if s.strip()]


def _all() -> list[tuple[int, str, str]]:
    from gitcoord.store.schema_hooks import HOOKS_MIGRATIONS
    from gitcoord.store.schema_tasks import TASKS_MIGRATIONS

    items = sorted(CORE_MIGRATIONS + TASKS_MIGRATIONS + HOOKS_MIGRATIONS)
    versions = [v for v, _, _ in items]
    assert versions == list(range(1, len(items) + 1)), f"migration numbers must be 1..n: {versions}"
    return items


SQLITE_MIGRATIONS = _all()
LATEST = SQLITE_MIGRATIONS[-1][0]
