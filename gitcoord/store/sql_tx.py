"""The store's SQL, once for both engines: :class:`SQLTx` over a DB-API connection.

SQLite (:mod:`gitcoord.store.sqlite`) and PostgreSQL (:mod:`gitcoord.store.postgres`) run
the same statements, so the two stores cannot drift apart. The SQL is the common ground
of both dialects, written with ``?`` placeholders (and no other ``?``); SQLite's
``INDEXED BY`` planner hints stay in, and the PostgreSQL connection drops them. What only
one engine can say lives in that engine's subclass (``dump``, ``events_mis_indexed``).
Rows are read by column name and by position (``sqlite3.Row``, and the PostgreSQL row
type made to match).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from gitcoord.errors import StoreError
from gitcoord.models import Event, Holder, Lease, Message, Read
from gitcoord.store.base import EventQuery, NewLease, Tx
from gitcoord.store.sql_base import Connection, chunks
from gitcoord.store.sql_commits import SQLCommits
from gitcoord.store.sql_tasks import SQLTasks

EPOCH_MAX = (1 << 63) - 1  # a 64-bit INTEGER / BIGINT; past it, SQLite's arithmetic turns REAL


_LEASE_COLS = (
    "id, pattern, kind, key, exclusive, worktree, host, agent, epoch, granted_at, expires_at,"
    " reason, task, base_commit, base_blobs, released_at, state"
)
_EVENT_COLS = "seq, ts, kind, agent, worktree, host, subject, shas, details, prev_hash, hash, role"


def _holder(row: Any) -> Holder:
    return Holder(worktree=row["worktree"], host=row["host"], agent=row["agent"])


def _lease(row: Any) -> Lease:
    """A row of ``SELECT {_LEASE_COLS}``, by position (status reads ten thousand)."""
    blobs = row[14]
    return Lease(
        row[0], row[1], row[2], row[3], bool(row[4]), Holder(row[5], row[6], row[7]), row[8],
        row[9], row[10], row[11], row[12], row[13],
        json.loads(blobs) if blobs and blobs != "{}" else {}, row[15], row[16],
    )


def _event(row: Any) -> Event:
    return Event(
        seq=row["seq"],
        ts=row["ts"],
        kind=row["kind"],
        agent=row["agent"],
        worktree=row["worktree"],
        host=row["host"],
        subject=row["subject"],
        shas=tuple(json.loads(row["shas"])),
        details=json.loads(row["details"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        role=row["role"],
    )


class SQLTx(SQLTasks, SQLCommits, Tx):
    """A transaction's operations in SQL; the store around it begins and ends it."""

    # Each engine says these its own way:
    TASK_NOT_IN_DETAILS: str  # SQL: the task column is not the task in its JSON details
    TABLES: str  # SQL: the names of the store's tables, in order

    def __init__(self, conn: Connection, now: float, role: str | None = None) -> None:
        self.conn = conn
        self.now = now
        self.role = role
        self.new_events = []

    # -- counters and metadata ------------------------------------------------
    def reserve_epochs(self, n: int) -> int:
        row = self._q(
            """UPDATE counters SET value = value + ? WHERE name = 'epoch' AND value <= ?
               RETURNING value""",
            (n, EPOCH_MAX - n),
        )
        if not row:  # (SQLite would go on in REAL, where epochs stop being distinct)
            raise StoreError(f"the epoch counter cannot grow by {n} more: it is at its limit")
        return int(row[0][0]) - n + 1

    def get_meta(self, key: str) -> str | None:
        rows = self._q("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- leases ---------------------------------------------------------------
    def insert_lease(self, new: NewLease) -> Lease:
        rows = self._q(
            f"""INSERT INTO leases(pattern, kind, key, exclusive, worktree, host, agent, epoch,
                   granted_at, ttl, expires_at, reason, task, base_commit, base_blobs)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING {_LEASE_COLS}""",
            (
                new.pattern,
                new.kind,
                new.key,
                int(new.exclusive),
                new.holder.worktree,
                new.holder.host,
                new.holder.agent,
                new.epoch,
                self.now,
                new.ttl,
                new.expires_at,
                new.reason,
                new.task,
                new.base_commit,
                json.dumps(new.base_blobs, sort_keys=True),
            ),
        )
        return _lease(rows[0])

    def lease_candidates(self, keys: Sequence[str], subtree_roots: Sequence[str]) -> list[Lease]:
        found: dict[int, Lease] = {}
        uniq = list(dict.fromkeys(keys))
        for chunk in chunks(uniq):
            marks = ",".join("?" * len(chunk))
            for row in self._q(
                f"SELECT {_LEASE_COLS} FROM leases WHERE state = 'active' AND key IN ({marks})"
                " AND expires_at > ?",
                (*chunk, self.now),
            ):
                found[row["id"]] = _lease(row)
        for root in dict.fromkeys(subtree_roots):
            if root == "":
                rows = self._q(
                    f"SELECT {_LEASE_COLS} FROM leases WHERE state = 'active' AND key > ''"
                    " AND expires_at > ?",
                    (self.now,),
                )
            else:
                # key in (root + '/', root + '0'): exactly the keys strictly below root.
                rows = self._q(
                    f"SELECT {_LEASE_COLS} FROM leases WHERE state = 'active' AND key > ? AND key < ?"
                    " AND expires_at > ?",
                    (root + "/", root + "0", self.now),
                )
            for row in rows:
                found[row["id"]] = _lease(row)
        return sorted(found.values(), key=lambda lease: lease.id)

    def leases(self, *, active_only: bool, holder: Holder | None = None) -> list[Lease]:
        sql = f"SELECT {_LEASE_COLS} FROM leases WHERE 1=1"
        params: list[Any] = []
        if active_only:
            sql += " AND state = 'active' AND expires_at > ?"
            params.append(self.now)
        if holder is not None:
            sql += " AND worktree = ? AND host = ?"
            params += [holder.worktree, holder.host]
        sql += " ORDER BY id"
        return [_lease(r) for r in self._q(sql, params)]

    def get_lease(self, lease_id: int) -> Lease | None:
        rows = self._q(f"SELECT {_LEASE_COLS} FROM leases WHERE id = ?", (lease_id,))
        return _lease(rows[0]) if rows else None

    def due_expired_leases(self) -> list[Lease]:
        rows = self._q(
            f"SELECT {_LEASE_COLS} FROM leases WHERE state = 'active' AND expires_at <= ? ORDER BY id",
            (self.now,),
        )
        return [_lease(r) for r in rows]

    def update_lease(
        self,
        lease_id: int,
        *,
        expires_at: float | None = None,
        ttl: float | None = None,
        exclusive: bool | None = None,
        reason: str | None = None,
        task: str | None = None,
        epoch: int | None = None,
        state: str | None = None,
        base_commit: str | None = None,
        base_blobs: dict[str, str] | None = None,
    ) -> Lease:
        sets: list[str] = []
        params: list[Any] = []
        for col, val in (
            ("expires_at", expires_at),
            ("ttl", ttl),
            ("exclusive", None if exclusive is None else int(exclusive)),
            ("reason", reason),
            ("task", task),
            ("epoch", epoch),
            ("state", state),
            ("base_commit", base_commit),
            ("base_blobs", None if base_blobs is None else json.dumps(base_blobs, sort_keys=True)),
        ):
            if val is not None:
                sets.append(f"{col} = ?")
                params.append(val)
        if state is not None and state != "active":
            sets.append("released_at = ?")
            params.append(self.now)
        if not sets:
            lease = self.get_lease(lease_id)
            assert lease is not None
            return lease
        rows = self._q(
            f"UPDATE leases SET {', '.join(sets)} WHERE id = ? RETURNING {_LEASE_COLS}",
            (*params, lease_id),
        )
        return _lease(rows[0])

    def lease_ttl(self, lease_id: int) -> float:
        rows = self._q("SELECT ttl FROM leases WHERE id = ?", (lease_id,))
        return float(rows[0][0])

    # -- read sets --------------------------------------------------------------
    def upsert_read(self, read: Read) -> None:
        self.conn.execute(
            """INSERT INTO reads(worktree, host, agent, path, blob, commit_sha, read_at)
               VALUES (?,?,?,?,?,?,?)
               ON CONFLICT(worktree, host, path) DO UPDATE SET agent = excluded.agent,
                 blob = excluded.blob, commit_sha = excluded.commit_sha, read_at = excluded.read_at""",
            (
                read.holder.worktree,
                read.holder.host,
                read.holder.agent,
                read.path,
                read.blob,
                read.commit,
                read.read_at,
            ),
        )

    def reads(self, holder: Holder | None = None) -> list[Read]:
        sql = "SELECT * FROM reads"
        params: list[Any] = []
        if holder is not None:
            sql += " WHERE worktree = ? AND host = ?"
            params = [holder.worktree, holder.host]
        sql += " ORDER BY path"
        return [
            Read(
                path=r["path"],
                blob=r["blob"],
                commit=r["commit_sha"],
                holder=_holder(r),
                read_at=r["read_at"],
            )
            for r in self._q(sql, params)
        ]

    # -- audit events -----------------------------------------------------------
    def events_between(self, first: int, last: int) -> list[Event]:
        rows = self._q(
            f"SELECT {_EVENT_COLS} FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last)
        )
        return [_event(r) for r in rows]

    def last_event(self) -> tuple[int, str] | None:
        if self.new_events:  # appended in this transaction: no need to ask
            return self.new_events[-1].seq, self.new_events[-1].hash
        rows = self._q("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def insert_event(self, event: Event, *, task: str | None, paths: Sequence[str]) -> None:
        self.conn.execute(
            f"INSERT INTO events({_EVENT_COLS}, task) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                event.seq,
                event.ts,
                event.kind,
                event.agent,
                event.worktree,
                event.host,
                event.subject,
                json.dumps(list(event.shas)) if event.shas else "[]",
                json.dumps(event.details, sort_keys=True),
                event.prev_hash,
                event.hash,
                event.role,
                task,
            ),
        )
        if paths:
            self.conn.executemany(
                "INSERT INTO event_paths(seq, path) VALUES (?, ?)",
                [(event.seq, p) for p in dict.fromkeys(paths)],
            )

    def events(self, query: EventQuery) -> list[Event]:
        sql = f"SELECT {_EVENT_COLS} FROM events WHERE 1=1"
        params: list[Any] = []
        if query.kinds:
            sql += f" AND kind IN ({','.join('?' * len(query.kinds))})"
            params += list(query.kinds)
        if query.agent is not None:
            sql += " AND agent = ?"
            params.append(query.agent)
        if query.worktree is not None:
            sql += " AND worktree = ?"
            params.append(query.worktree)
        if query.task is not None:
            sql += " AND task = ?"
            params.append(query.task)
        if query.since is not None:
            sql += " AND ts >= ?"
            params.append(query.since)
        if query.until is not None:
            sql += " AND ts < ?"
            params.append(query.until)
        if query.path is not None:
            p = query.path.rstrip("/")
            if not p:  # the root: everything recorded under any path
                sql += " AND seq IN (SELECT seq FROM event_paths)"
            else:
                above = [""] + ["/".join(p.split("/")[:i]) for i in range(1, p.count("/") + 1)]
                above = above if query.ancestors else []
                sql += (
                    " AND seq IN (SELECT seq FROM event_paths WHERE path = ? OR (path > ? AND path < ?)"
                    + "".join(" OR path = ?" for _ in above)
                    + ")"
                )
                params += [p, p + "/", p + "0", *above]
        sql += " ORDER BY seq DESC" if query.newest_first else " ORDER BY seq"
        if query.limit is not None:
            sql += " LIMIT ?"
            params.append(query.limit)
        return [_event(r) for r in self._q(sql, params)]

    def iter_events(self) -> Iterator[Event]:
        cur = self.conn.execute(f"SELECT {_EVENT_COLS} FROM events ORDER BY seq")
        for row in cur:
            yield _event(row)

    def paths_of_events(self, seqs: Sequence[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for chunk in range(0, len(seqs), 500):
            part = list(seqs[chunk : chunk + 500])
            marks = ",".join("?" * len(part))
            for seq, path in self._q(
                f"SELECT seq, path FROM event_paths WHERE seq IN ({marks}) ORDER BY rowid", part
            ):
                out.setdefault(int(seq), []).append(str(path))
        return out

    def events_mis_indexed(self) -> list[int]:
        rows = self._q(
            f"SELECT seq FROM events WHERE task IS NOT NULL AND {self.TASK_NOT_IN_DETAILS} ORDER BY seq"
        )
        return [int(r[0]) for r in rows]

    def delete_events_before(self, ts: float) -> list[Event]:
        # The oldest events up to the first at or after ``ts`` (a clock that stepped back
        # can leave older times further on: those stay, as does everything after them).
        stop = self._q("SELECT min(seq) FROM events WHERE ts >= ?", (ts,))[0][0]
        if stop is None:
            rows = self._q(f"SELECT {_EVENT_COLS} FROM events ORDER BY seq")
        else:
            rows = self._q(f"SELECT {_EVENT_COLS} FROM events WHERE seq < ? ORDER BY seq", (stop,))
        if rows:
            last = rows[-1]["seq"]
            self.conn.execute("DELETE FROM event_paths WHERE seq <= ?", (last,))
            self.conn.execute("DELETE FROM events WHERE seq <= ?", (last,))
        return [_event(r) for r in rows]

    # -- agent bindings and messages -------------------------------------------
    def get_binding(self, worktree: str, host: str) -> str | None:
        rows = self._q("SELECT agent FROM bindings WHERE worktree = ? AND host = ?", (worktree, host))
        return str(rows[0][0]) if rows else None

    def set_binding(self, worktree: str, host: str, agent: str | None) -> None:
        if agent is None:
            self.conn.execute("DELETE FROM bindings WHERE worktree = ? AND host = ?", (worktree, host))
            return
        self.conn.execute(
            """INSERT INTO bindings(worktree, host, agent, bound_at) VALUES (?,?,?,?)
               ON CONFLICT(worktree, host) DO UPDATE SET agent = excluded.agent, bound_at = excluded.bound_at""",
            (worktree, host, agent, self.now),
        )

    def insert_message(
        self,
        sender: Holder | None,
        body: str,
        *,
        to_agent: str | None,
        to_worktree: str | None = None,
        to_host: str | None = None,
    ) -> Message:
        rows = self._q(
            """INSERT INTO messages(sent_at, from_agent, from_worktree, from_host, to_agent,
                   to_worktree, to_host, body) VALUES (?,?,?,?,?,?,?,?) RETURNING id""",
            (
                self.now,
                sender.agent if sender else None,
                sender.worktree if sender else None,
                sender.host if sender else None,
                to_agent,
                to_worktree,
                to_host,
                body,
            ),
        )
        return Message(
            id=int(rows[0][0]),
            sent_at=self.now,
            sender=sender,
            to_agent=to_agent,
            to_worktree=to_worktree,
            to_host=to_host,
            body=body,
        )

    # -- status -------------------------------------------------------------
    def last_activity(self) -> dict[tuple[str, str], float]:
        rows = self._q(
            # (an expiry is recorded under the holder whose lease or claim ran out: not its doing)
            "SELECT worktree, host, max(ts) FROM events WHERE worktree IS NOT NULL"
            " AND kind NOT IN ('lease.expired', 'claim.expired') GROUP BY worktree, host"
        )
        return {(r[0], r[1]): float(r[2]) for r in rows}

    def lapsed_leases(self) -> list[Lease]:
        rows = self._q(
            f"""SELECT {_LEASE_COLS} FROM leases l
                 WHERE (l.state = 'expired' OR (l.state = 'active' AND l.expires_at <= ?))
                   AND NOT EXISTS (SELECT 1 FROM leases n
                                    WHERE n.worktree = l.worktree AND n.host = l.host
                                      AND n.pattern = l.pattern AND n.id > l.id)
                 ORDER BY l.id""",
            (self.now,),
        )
        return [_lease(r) for r in rows]

    def unacked_message_counts(self) -> dict[str, int]:
        rows = self._q(
            "SELECT coalesce(to_agent, to_worktree), count(*) FROM messages"
            " WHERE acked_at IS NULL AND coalesce(to_agent, to_worktree) IS NOT NULL"
            " GROUP BY coalesce(to_agent, to_worktree)"
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        out: dict[str, list[tuple[Any, ...]]] = {}
        for t in [r[0] for r in self._q(self.TABLES)]:
            out[t] = sorted((tuple(r) for r in self._q(f'SELECT * FROM "{t}"')), key=repr)
        return out


