"""The SQL of :class:`gitcoord.store.tasks_api.TasksTx`, for both engines (see :mod:`gitcoord.store.sql_tx`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gitcoord.models import Holder, Message
from gitcoord.store.sql_base import SQLBase, chunks
from gitcoord.store.tasks_api import Binding, Claim, NewTask, Task, TasksTx

_TASK_COLS = (
    "seq, id, title, body, priority, state, deps_pending, grants, created_at, updated_at,"
    " created_by, epoch, worktree, host, agent, claimed_at, ttl, expires_at, reason, reviewer,"
    " done_at"
)
_CLAIM_COLS = (
    "epoch AS id, task, epoch, worktree, host, agent, granted_at, ttl, expires_at, state, ended_at,"
    " end_reason, superseded_by, notified_at"
)

# The compare-and-swap of `claim --next`: one statement picks the most urgent, oldest
# open task without pending dependencies (index tasks_next) and takes it only if it is
# still open.
_CLAIM_NEXT_SQL = f"""
UPDATE tasks SET state = 'claimed', epoch = ?, worktree = ?, host = ?, agent = ?,
       claimed_at = ?, ttl = ?, expires_at = ?, updated_at = ?, grants = grants + 1
 WHERE seq = (SELECT seq FROM tasks INDEXED BY tasks_next
               WHERE state = 'open' AND deps_pending = 0 ORDER BY priority, seq LIMIT 1)
   AND state = 'open'
RETURNING {_TASK_COLS}
"""

_CLAIM_ONE_SQL = f"""
UPDATE tasks SET state = 'claimed', epoch = ?, worktree = ?, host = ?, agent = ?,
       claimed_at = ?, ttl = ?, expires_at = ?, updated_at = ?, grants = grants + 1
 WHERE id = ? AND state = 'open' AND deps_pending = 0
RETURNING {_TASK_COLS}
"""

_INSERT_CLAIM_SQL = """
INSERT INTO claims(task, epoch, worktree, host, agent, granted_at, ttl, expires_at, request)
VALUES (?,?,?,?,?,?,?,?,?)
"""


def _task(row: Any, after: Sequence[str] = ()) -> Task:
    holder = (
        Holder(worktree=row["worktree"], host=row["host"], agent=row["agent"])
        if row["worktree"] is not None
        else None
    )
    return Task(
        id=row["id"],
        seq=row["seq"],
        title=row["title"],
        body=row["body"],
        priority=row["priority"],
        state=row["state"],
        deps_pending=row["deps_pending"],
        grants=row["grants"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        created_by=row["created_by"],
        epoch=row["epoch"],
        holder=holder,
        claimed_at=row["claimed_at"],
        ttl=row["ttl"],
        expires_at=row["expires_at"],
        reason=row["reason"],
        reviewer=row["reviewer"],
        done_at=row["done_at"],
        after=tuple(after),
    )


def _claim(row: Any) -> Claim:
    return Claim(
        id=row["id"],
        task=row["task"],
        epoch=row["epoch"],
        holder=Holder(worktree=row["worktree"], host=row["host"], agent=row["agent"]),
        granted_at=row["granted_at"],
        ttl=row["ttl"],
        expires_at=row["expires_at"],
        state=row["state"],
        ended_at=row["ended_at"],
        end_reason=row["end_reason"],
        superseded_by=row["superseded_by"],
        notified_at=row["notified_at"],
    )


def _message(row: Any) -> Message:
    sender = (
        Holder(worktree=row["from_worktree"], host=row["from_host"], agent=row["from_agent"])
        if row["from_agent"] is not None
        else None
    )
    return Message(
        id=row["id"],
        sent_at=row["sent_at"],
        sender=sender,
        to_agent=row["to_agent"],
        to_worktree=row["to_worktree"],
        to_host=row["to_host"],
        body=row["body"],
        acked_at=row["acked"],
    )


class SQLTasks(SQLBase, TasksTx):

    # -- tasks ----------------------------------------------------------------
    def next_task_number(self) -> int:
        rows = self._q("UPDATE counters SET value = value + 1 WHERE name = 'task' RETURNING value")
        return int(rows[0][0])

    def insert_task(self, new: NewTask) -> Task:
        rows = self._q(
            f"""INSERT INTO tasks(id, title, body, priority, state, reason, created_at,
                   updated_at, created_by) VALUES (?,?,?,?,?,?,?,?,?) RETURNING {_TASK_COLS}""",
            (
                new.id,
                new.title,
                new.body,
                new.priority,
                new.state,
                new.reason,
                self.now,
                self.now,
                new.created_by,
            ),
        )
        return _task(rows[0])

    def get_task(self, task_id: str) -> Task | None:
        rows = self._q(f"SELECT {_TASK_COLS} FROM tasks WHERE id = ?", (task_id,))
        if not rows:
            return None
        return _task(rows[0], self.dependencies([task_id]).get(task_id, []))

    def existing_task_ids(self, task_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunks(list(dict.fromkeys(task_ids))):
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self._q(f"SELECT id FROM tasks WHERE id IN ({marks})", chunk))
        return found

    def tasks(
        self,
        *,
        states: Sequence[str] | None = None,
        holder: Holder | None = None,
        with_deps: bool = False,
    ) -> list[Task]:
        sql = f"SELECT {_TASK_COLS} FROM tasks WHERE 1=1"
        params: list[Any] = []
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            params += list(states)
        if holder is not None:
            sql += " AND worktree = ? AND host = ?"
            params += [holder.worktree, holder.host]
        sql += " ORDER BY priority, seq"
        rows = self._q(sql, params)
        deps: dict[str, list[str]] = {}
        if with_deps and rows:
            for r in self._q("SELECT task, dep FROM task_deps ORDER BY task, dep"):
                deps.setdefault(r[0], []).append(r[1])
        return [_task(r, deps.get(r["id"], [])) for r in rows]

    def task_summary(self) -> dict[str, int]:
        out = dict.fromkeys(("open", "claimed", "review", "done", "blocked", "waiting"), 0)
        for r in self._q(
            "SELECT state, deps_pending > 0, count(*) FROM tasks GROUP BY state, deps_pending > 0"
        ):
            out[r[0]] += r[2]
            if r[0] == "open" and r[1]:
                out["waiting"] += r[2]
        return out

    def update_task(
        self,
        task_id: str,
        *,
        title: str | None = None,
        body: str | None = None,
        priority: int | None = None,
    ) -> Task:
        sets = ["updated_at = ?"]
        params: list[Any] = [self.now]
        for col, val in (("title", title), ("body", body), ("priority", priority)):
            if val is not None:
                sets.append(f"{col} = ?")
                params.append(val)
        self.conn.execute(f"UPDATE tasks SET {', '.join(sets)} WHERE id = ?", (*params, task_id))
        task = self.get_task(task_id)
        assert task is not None
        return task

    def set_task_state(
        self,
        task_id: str,
        state: str,
        *,
        expect: Sequence[str],
        expect_epoch: int | None = None,
        reason: str | None = None,
        reviewer: str | None = None,
        done: bool = False,
    ) -> Task | None:
        sql = (
            "UPDATE tasks SET state = ?, reason = ?, reviewer = ?, updated_at = ?,"
            " done_at = CASE WHEN ? THEN ? ELSE done_at END"
        )
        params: list[Any] = [state, reason, reviewer, self.now, done, self.now]
        sql += f" WHERE id = ? AND state IN ({','.join('?' * len(expect))})"
        params += [task_id, *expect]
        if expect_epoch is not None:
            sql += " AND epoch = ?"
            params.append(expect_epoch)
        rows = self._q(sql + f" RETURNING {_TASK_COLS}", params)
        return _task(rows[0], self.dependencies([task_id]).get(task_id, [])) if rows else None

    # -- dependencies -----------------------------------------------------------
    def add_dependencies(self, task_id: str, deps: Sequence[str]) -> None:
        self.conn.executemany(
            "INSERT INTO task_deps(task, dep) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(task_id, d) for d in deps],
        )
        self.recount_pending([task_id])

    def remove_dependencies(self, task_id: str, deps: Sequence[str]) -> None:
        self.conn.executemany(
            "DELETE FROM task_deps WHERE task = ? AND dep = ?", [(task_id, d) for d in deps]
        )
        self.recount_pending([task_id])

    def dependencies(self, task_ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for chunk in chunks(list(dict.fromkeys(task_ids))):
            marks = ",".join("?" * len(chunk))
            for r in self._q(
                f"SELECT task, dep FROM task_deps WHERE task IN ({marks}) ORDER BY task, dep", chunk
            ):
                out.setdefault(r[0], []).append(r[1])
        return out

    def dependents(self, task_id: str) -> list[str]:
        return [
            r[0] for r in self._q("SELECT task FROM task_deps WHERE dep = ? ORDER BY task", (task_id,))
        ]

    def recount_pending(self, task_ids: Sequence[str]) -> None:
        for chunk in chunks(list(dict.fromkeys(task_ids))):
            marks = ",".join("?" * len(chunk))
            self.conn.execute(
                f"""UPDATE tasks SET deps_pending = (
                        SELECT count(*) FROM task_deps d JOIN tasks t ON t.id = d.dep
                         WHERE d.task = tasks.id AND t.state != 'done')
                    WHERE id IN ({marks})""",
                chunk,
            )

    # -- claims -----------------------------------------------------------------
    def _grant(
        self,
        sql: str,
        params: Sequence[Any],
        holder: Holder,
        epoch: int,
        ttl: float,
        request: str | None = None,
    ) -> tuple[Task, Claim] | None:
        rows = self._q(sql, params)
        if not rows:
            return None
        task = _task(rows[0])
        now = self.now
        self.conn.execute(
            _INSERT_CLAIM_SQL,
            (task.id, epoch, holder.worktree, holder.host, holder.agent, now, ttl, now + ttl, request),
        )
        claim = Claim(
            id=epoch,
            task=task.id,
            epoch=epoch,
            holder=holder,
            granted_at=now,
            ttl=ttl,
            expires_at=now + ttl,
            state="active",
        )
        return task, claim

    def claim_next(
        self, holder: Holder, epoch: int, ttl: float, *, request: str | None = None
    ) -> tuple[Task, Claim] | None:
        now = self.now
        return self._grant(
            _CLAIM_NEXT_SQL,
            (epoch, holder.worktree, holder.host, holder.agent, now, ttl, now + ttl, now),
            holder,
            epoch,
            ttl,
            request,
        )

    def claims_of_request(self, holder: Holder, request: str) -> list[Claim]:
        rows = self._q(
            f"""SELECT {_CLAIM_COLS} FROM claims INDEXED BY claims_holder
                 WHERE worktree = ? AND host = ? AND state = 'active' AND request = ?
                 ORDER BY epoch""",
            (holder.worktree, holder.host, request),
        )
        return [_claim(r) for r in rows]

    def claim_task(
        self, task_id: str, holder: Holder, epoch: int, ttl: float
    ) -> tuple[Task, Claim] | None:
        now = self.now
        return self._grant(
            _CLAIM_ONE_SQL,
            (epoch, holder.worktree, holder.host, holder.agent, now, ttl, now + ttl, now, task_id),
            holder,
            epoch,
            ttl,
        )

    def supersede_claims(self, task_id: str, new_epoch: int, holder: Holder) -> list[Claim]:
        rows = self._q(
            f"""UPDATE claims SET state = 'superseded', superseded_by = ?
                 WHERE task = ? AND state = 'expired' AND epoch < ?
                   AND NOT (worktree = ? AND host = ?)
                RETURNING {_CLAIM_COLS}""",
            (new_epoch, task_id, new_epoch, holder.worktree, holder.host),
        )
        return sorted((_claim(r) for r in rows), key=lambda c: c.epoch)

    def expire_claims(self) -> list[Claim]:
        if not self._q(  # the usual case, nothing expired: a read, not an UPDATE
            """SELECT 1 FROM tasks INDEXED BY tasks_claim_expiry
                WHERE state = 'claimed' AND expires_at <= ? LIMIT 1""",
            (self.now,),
        ):
            return []
        rows = self._q(
            """UPDATE tasks INDEXED BY tasks_claim_expiry SET state = 'open', updated_at = ?
                WHERE state = 'claimed' AND expires_at <= ? RETURNING epoch""",
            (self.now, self.now),
        )
        out: list[Claim] = []
        for r in rows:
            crow = self._q(
                f"""UPDATE claims SET state = 'expired', ended_at = ?, end_reason = 'ttl'
                     WHERE epoch = ? AND state = 'active' RETURNING {_CLAIM_COLS}""",
                (self.now, r[0]),
            )
            out += [_claim(c) for c in crow]
        return sorted(out, key=lambda c: c.epoch)

    def extend_claim(self, epoch: int, ttl: float, *, reopen: bool = False) -> Claim:
        expires = self.now + ttl
        states = ("active", "expired") if reopen else ("active",)
        rows = self._q(
            f"""UPDATE claims SET expires_at = ?, ttl = ?, state = 'active', ended_at = NULL,
                       end_reason = NULL
                 WHERE epoch = ? AND state IN ({','.join('?' * len(states))})
                RETURNING {_CLAIM_COLS}""",
            (expires, ttl, epoch, *states),
        )
        assert rows, f"no claim with epoch {epoch} to extend"
        task_states = ("claimed", "open") if reopen else ("claimed",)
        self.conn.execute(
            f"""UPDATE tasks SET state = 'claimed', expires_at = ?, ttl = ?, updated_at = ?
                 WHERE epoch = ? AND state IN ({','.join('?' * len(task_states))})""",
            (expires, ttl, self.now, epoch, *task_states),
        )
        return _claim(rows[0])

    def end_claim(
        self,
        epoch: int,
        state: str,
        reason: str | None = None,
        *,
        expect: Sequence[str] = ("active", "expired"),
    ) -> Claim | None:
        rows = self._q(
            f"""UPDATE claims SET state = ?, ended_at = ?, end_reason = ?
                 WHERE epoch = ? AND state IN ({','.join('?' * len(expect))})
                RETURNING {_CLAIM_COLS}""",
            (state, self.now, reason, epoch, *expect),
        )
        return _claim(rows[0]) if rows else None

    def get_claim(self, epoch: int) -> Claim | None:
        rows = self._q(f"SELECT {_CLAIM_COLS} FROM claims WHERE epoch = ?", (epoch,))
        return _claim(rows[0]) if rows else None

    def claims(
        self,
        *,
        task: str | None = None,
        holder: Holder | None = None,
        states: Sequence[str] | None = None,
    ) -> list[Claim]:
        sql = f"SELECT {_CLAIM_COLS} FROM claims WHERE 1=1"
        params: list[Any] = []
        if task is not None:
            sql += " AND task = ?"
            params.append(task)
        if holder is not None:
            sql += " AND worktree = ? AND host = ?"
            params += [holder.worktree, holder.host]
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            params += list(states)
        return [_claim(r) for r in self._q(sql + " ORDER BY epoch", params)]

    def mark_claims_notified(self, epochs: Sequence[int]) -> None:
        self.conn.executemany(
            "UPDATE claims SET notified_at = ? WHERE epoch = ?", [(self.now, e) for e in epochs]
        )

    # -- bindings and messages ----------------------------------------------------
    def bindings(self) -> list[Binding]:
        return [
            Binding(worktree=r[0], host=r[1], agent=r[2], bound_at=r[3])
            for r in self._q("SELECT worktree, host, agent, bound_at FROM bindings ORDER BY worktree, host")
        ]

    def inbox(self, holder: Holder, *, include_acked: bool = False) -> list[Message]:
        # Direct messages (to this worktree, or to this agent name anywhere) are acked
        # in messages.acked_at; broadcasts per recipient in message_acks.
        sql = """
        SELECT m.*, CASE WHEN m.to_agent IS NULL AND m.to_worktree IS NULL
                         THEN (SELECT acked_at FROM message_acks a WHERE a.message_id = m.id
                                 AND a.worktree = ? AND a.host = ?)
                         ELSE m.acked_at END AS acked
          FROM messages m
         WHERE ((m.to_worktree = ? AND m.to_host = ?)
            OR (m.to_worktree IS NULL AND m.to_agent = ?)
            OR (m.to_worktree IS NULL AND m.to_agent IS NULL
                AND NOT coalesce(m.from_worktree = ? AND m.from_host = ?, false)))
        """
        params: list[Any] = [
            holder.worktree,
            holder.host,
            holder.worktree,
            holder.host,
            holder.agent,
            holder.worktree,
            holder.host,
        ]
        if not include_acked:
            sql = f"SELECT * FROM ({sql}) AS inbox WHERE acked IS NULL"
        return [_message(r) for r in self._q(sql + " ORDER BY id", params)]

    def ack_messages(self, holder: Holder, message_ids: Sequence[int]) -> int:
        n = 0
        for mid in message_ids:
            row = self._q("SELECT to_agent, to_worktree FROM messages WHERE id = ?", (mid,))
            if not row:
                continue
            if row[0][0] is None and row[0][1] is None:
                cur = self.conn.execute(
                    """INSERT INTO message_acks(message_id, worktree, host, acked_at)
                       VALUES (?,?,?,?) ON CONFLICT DO NOTHING""",
                    (mid, holder.worktree, holder.host, self.now),
                )
            else:
                cur = self.conn.execute(
                    "UPDATE messages SET acked_at = ? WHERE id = ? AND acked_at IS NULL",
                    (self.now, mid),
                )
            n += cur.rowcount
        return n
