"""Schema for tasks and claims (migration 2).

``tasks`` holds each task and its *current* (or last) claim, so claiming is one
single-row compare-and-swap; ``claims`` keeps every grant (history, fencing,
superseded detection); ``task_deps`` the "after" edges, with ``tasks.deps_pending``
counting unfinished dependencies so ``claim --next`` is one indexed lookup.
``message_acks`` records who acknowledged a broadcast message.
"""

from __future__ import annotations

TASKS_MIGRATIONS: list[tuple[int, str, str]] = [
    (
        2,
        "tasks, task dependencies, claims, message acks",
        """
        CREATE TABLE tasks (
            seq          INTEGER PRIMARY KEY AUTOINCREMENT,
            id           TEXT NOT NULL UNIQUE,
            title        TEXT NOT NULL,
            body         TEXT,
            priority     INTEGER NOT NULL DEFAULT 2,
            state        TEXT NOT NULL DEFAULT 'open'
                         CHECK (state IN ('open', 'claimed', 'review', 'done', 'blocked')),
            deps_pending INTEGER NOT NULL DEFAULT 0,
            grants       INTEGER NOT NULL DEFAULT 0,
            created_at   REAL NOT NULL,
            updated_at   REAL NOT NULL,
            created_by   TEXT,
            epoch        INTEGER,
            worktree     TEXT,
            host         TEXT,
            agent        TEXT,
            claimed_at   REAL,
            ttl          REAL,
            expires_at   REAL,
            reason       TEXT,
            reviewer     TEXT,
            done_at      REAL
        );
        CREATE INDEX tasks_next ON tasks(priority, seq) WHERE state = 'open' AND deps_pending = 0;
        CREATE INDEX tasks_claim_expiry ON tasks(expires_at) WHERE state = 'claimed';
        CREATE TABLE task_deps (
            task TEXT NOT NULL REFERENCES tasks(id),
            dep  TEXT NOT NULL REFERENCES tasks(id),
            PRIMARY KEY (task, dep)
        ) WITHOUT ROWID;
        CREATE INDEX task_deps_dep ON task_deps(dep);
        CREATE TABLE claims (
            epoch         INTEGER PRIMARY KEY,
            task          TEXT NOT NULL REFERENCES tasks(id),
            worktree      TEXT NOT NULL,
            host          TEXT NOT NULL,
            agent         TEXT NOT NULL,
            granted_at    REAL NOT NULL,
            ttl           REAL NOT NULL,
            expires_at    REAL NOT NULL,
            state         TEXT NOT NULL DEFAULT 'active'
                          CHECK (state IN ('active', 'released', 'done', 'review', 'expired',
                                           'superseded', 'reaped', 'blocked')),
            ended_at      REAL,
            end_reason    TEXT,
            superseded_by INTEGER,
            notified_at   REAL
        );
        CREATE INDEX claims_task ON claims(task, epoch);
        CREATE INDEX claims_holder ON claims(worktree, host, state);
        CREATE TABLE message_acks (
            message_id INTEGER NOT NULL REFERENCES messages(id),
            worktree   TEXT NOT NULL,
            host       TEXT NOT NULL,
            acked_at   REAL NOT NULL,
            PRIMARY KEY (message_id, worktree, host)
        ) WITHOUT ROWID;
        INSERT INTO counters(name, value) VALUES ('task', 0)
        """,
    ),
    (
        4,
        "claims remember the combined request that made them (crash recovery)",
        """
        ALTER TABLE claims ADD COLUMN request TEXT
        """,
    ),
]
