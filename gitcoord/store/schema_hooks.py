"""Schema for recorded commits and SHA rewrites (migration 3).

``commits``: every commit the hooks recorded (post-commit, merges, rebases, amends), with
the holder that made it, its task, and the audit event that records it.
``rewrites``: old -> new SHA mappings from ``post-rewrite`` (amend, rebase).
No semicolons inside statements: the SQLite migrator splits on them.
"""

from __future__ import annotations

HOOKS_MIGRATIONS: list[tuple[int, str, str]] = [
    (
        3,
        "recorded commits and rewrites",
        """
        CREATE TABLE commits (
            sha          TEXT PRIMARY KEY,
            event_seq    INTEGER,
            worktree     TEXT NOT NULL,
            host         TEXT NOT NULL,
            agent        TEXT NOT NULL,
            task         TEXT,
            source       TEXT NOT NULL,
            parents      TEXT NOT NULL DEFAULT '',
            committed_at REAL,
            recorded_at  REAL NOT NULL,
            violation    INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX commits_holder ON commits(worktree, host);
        CREATE TABLE rewrites (
            old_sha     TEXT NOT NULL,
            new_sha     TEXT NOT NULL,
            kind        TEXT NOT NULL,
            event_seq   INTEGER,
            recorded_at REAL NOT NULL,
            PRIMARY KEY (old_sha, new_sha)
        );
        CREATE INDEX rewrites_new ON rewrites(new_sha);
        """,
    ),
]
