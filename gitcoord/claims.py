"""Tasks and claims (SPEC section 4): a durable queue of work with fenced, expiring claims.

- A task is ``open → claimed → (review →) done``, or ``blocked``. Priority: lower first.
- Claiming is compare-and-swap in one write transaction. ``claim --next`` is one
  statement: the most urgent, oldest open task whose dependencies are done.
- Each grant takes an epoch from the store-wide fencing counter. A claim whose TTL
  ran out (store clock) is claimable again; once re-granted, the former holder is
  *superseded*: its ``done``, ``unclaim`` and ``renew`` are refused naming the newer
  epoch and holder.
- Every transition is an audit event carrying holder, epoch and task.

Every store write transaction queues fairly (``Store.writer_lock``), so under heavy
``claim --next`` contention nobody starves.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from gitcoord import audit
from gitcoord.context import Context
from gitcoord.durations import format_duration
from gitcoord.errors import (
    BadInput,
    Denied,
    GitcoordError,
    NotFound,
    NothingToClaim,
    StoreLocked,
    Superseded,
)
from gitcoord.models import Event, Holder
from gitcoord.store.base import EventQuery, Tx
from gitcoord.store.tasks_api import TASK_STATES, Claim, NewTask, Task

__all__ = [
    "Claim",
    "ClaimResult",
    "RenewResult",
    "Task",
    "TaskDetail",
    "add_task",
    "approve",
    "block",
    "claim_ids",
    "claim_next",
    "done",
    "edit_task",
    "import_tasks",
    "list_tasks",
    "reap_vanished",
    "reject",
    "renew",
    "show_task",
    "unblock",
    "unclaim",
]

if TYPE_CHECKING:
    from gitcoord.combining import Combiner, Request

DEFAULT_PRIORITY = 2
MAX_PRIORITY = 1_000_000
MAX_ID_LEN = 200
MAX_COUNT = 1000  # claim --next --count: epochs are reserved for the whole count
T = TypeVar("T")


# ---------------------------------------------------------------- validation
def _control(text: str, *, invisible: bool = False) -> str | None:
    """What makes ``text`` unfit for one line on a terminal: NUL, a line break, a
    control character (escape sequences could rewrite a reviewer's screen) or, with
    ``invisible``, a format character (zero-width, bidi: ids must look like what they are)."""
    if text.isprintable():  # (no Cc, Cf, Zl, Zp, among others)
        return None
    import unicodedata

    for c in text:
        if c == "\0":
            return "NUL"
        cat = unicodedata.category(c)
        if c in "\n\r" or cat in ("Zl", "Zp"):
            return "newline"
        if cat == "Cc" or (invisible and cat == "Cf"):
            return f"control character U+{ord(c):04X}"
        if cat == "Cs":
            return f"lone surrogate U+{ord(c):04X} (not valid UTF-8)"
    return None


def check_task_id(raw: str) -> str:
    """A free-text id (``T-12``, ``github:owner/repo#12``): not empty, one line."""
    text = raw.strip()
    if not text:
        raise BadInput("empty task id")
    bad = _control(text, invisible=True)
    if bad:
        raise BadInput(f"bad task id {raw!r}: {bad}")
    if len(text) > MAX_ID_LEN:
        raise BadInput(f"task id longer than {MAX_ID_LEN} characters")
    return text


def check_title(raw: str | None) -> str:
    text = (raw or "").strip()
    if not text:
        raise BadInput("empty title (give --title TEXT)")
    bad = _control(text)
    if bad:
        raise BadInput(f"bad title {text!r}: {bad} (put details in --body)")
    return text


def check_priority(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value).strip())
        except ValueError:
            raise BadInput(f"bad priority {value!r}: an integer, 0 is most urgent") from None
    if not 0 <= value <= MAX_PRIORITY:
        raise BadInput(f"bad priority {value}: between 0 (most urgent) and {MAX_PRIORITY}")
    return int(value)


def check_reason(raw: str | None, what: str) -> str:
    text = (raw or "").strip()
    if not text:
        raise BadInput(f"{what} needs --reason TEXT")
    if "\0" in text:
        raise BadInput("bad reason: NUL")
    return text


def check_body(raw: str | None) -> str | None:
    if raw is None:
        return None
    if "\0" in raw:
        raise BadInput("bad body: NUL")
    return raw


def _ids(raw: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(check_task_id(r) for r in raw))


def _ttl(ctx: Context, ttl: float | None) -> float:
    t = ctx.settings.claim_ttl if ttl is None else ttl
    if not t > 0:
        raise BadInput(f"bad TTL {t!r}: must be positive")
    return float(t)


# ---------------------------------------------------------------- transactions
class _Refused(Exception):
    """Raised inside a write: the transaction commits only the refusal's audit
    events (and any expiry reaps), then the error is raised to the caller."""

    def __init__(self, error: GitcoordError, events: Sequence[tuple[str, str, dict[str, Any]]]):
        super().__init__(error.message)
        self.error = error
        self.events = list(events)  # (kind, task id, details)


def _write(ctx: Context, holder: Holder, fn: Callable[[Tx], T]) -> T:
    """Run ``fn`` in one write transaction (queued fairly behind other writers by the
    store; event hooks run after the turn has passed on). A refusal's events are kept."""
    refused: GitcoordError | None = None
    with ctx.store().transaction() as tx:
        try:
            return fn(tx)
        except _Refused as r:
            for kind, task_id, details in r.events:
                audit.append(tx, kind, holder, subject=task_id, details=details, task=task_id)
            refused = r.error
    assert refused is not None
    raise refused


def write_turn(ctx: Context, fn: Callable[[Tx], T]) -> T:
    """:func:`_write` for other modules (worktrees)."""
    return _write(ctx, ctx.holder(), fn)


def _reap(tx: Tx) -> list[Claim]:
    """Claims whose TTL ran out: their tasks reopen; one ``claim.expired`` each."""
    expired = tx.expire_claims()
    for c in expired:
        audit.append(
            tx,
            "claim.expired",
            c.holder,
            subject=c.task,
            details={"epoch": c.epoch, "expired_at": c.expires_at},
            task=c.task,
        )
    return expired


def _granted(tx: Tx, holder: Holder, task: Task, claim: Claim, via: str) -> None:
    audit.append(
        tx,
        "claim.granted",
        holder,
        subject=task.id,
        details={
            "epoch": claim.epoch,
            "expires_at": claim.expires_at,
            "ttl": claim.ttl,
            "priority": task.priority,
            "via": via,
        },
        task=task.id,
    )
    if task.grants > 1:  # it was claimed before: anyone whose claim expired is superseded
        # ... and a claim of this holder that was superseded earlier is moot now that it
        # holds the task again: renew must not tell it to stop working on it
        moot = [
            c.epoch
            for c in tx.claims(task=task.id, holder=holder, states=("superseded",))
            if c.notified_at is None
        ]
        if moot:
            tx.mark_claims_notified(moot)
        for old in tx.supersede_claims(task.id, claim.epoch, holder):
            audit.append(
                tx,
                "claim.superseded",
                old.holder,
                subject=task.id,
                details={
                    "epoch": old.epoch,
                    "superseded_by": claim.epoch,
                    "new_holder": holder.to_json(),
                },
                task=task.id,
            )
            tx.tell(
                holder,
                old.holder,
                f"your claim on {task.id} (epoch {old.epoch}) expired and was re-granted to"
                f" {holder.agent} ({holder.worktree}) at epoch {claim.epoch}; stop working on it",
            )


def _describe_holder(h: Holder) -> str:
    return f"{h.agent} ({h.worktree} on {h.host})"


# ---------------------------------------------------------------- results
class ClaimResult:
    def __init__(self, now: float) -> None:
        self.claimed: list[tuple[Task, Claim]] = []
        self.renewed: list[tuple[Task, Claim]] = []
        self.now = now

    def to_json(self) -> dict[str, Any]:
        return {
            "claimed": [_claim_json(t, c, self.now) for t, c in self.claimed],
            "renewed": [_claim_json(t, c, self.now) for t, c in self.renewed],
        }


def _claim_json(task: Task, claim: Claim, now: float) -> dict[str, Any]:
    d = claim.to_json(now)
    d["title"] = task.title
    d["priority"] = task.priority
    return d


class RenewResult:
    def __init__(self, now: float) -> None:
        self.renewed: list[Claim] = []
        self.superseded: list[tuple[Claim, Claim | None]] = []
        self.now = now

    def error(self) -> Superseded | None:
        if not self.superseded:
            return None
        return Superseded(
            "; ".join(_superseded_text(old, new) for old, new in self.superseded),
            details={"superseded": [superseded_json(old, new) for old, new in self.superseded]},
        )


def _superseded_text(old: Claim, new: Claim | None) -> str:
    if new is None:
        return f"your claim on {old.task} (epoch {old.epoch}) was superseded"
    return (
        f"your claim on {old.task} (epoch {old.epoch}) expired and was re-granted to"
        f" {_describe_holder(new.holder)} at epoch {new.epoch}"
    )


def superseded_json(old: Claim, new: Claim | None) -> dict[str, Any]:
    return {
        "task": old.task,
        "epoch": old.epoch,
        "newer_epoch": new.epoch if new else old.superseded_by,
        "newer_holder": new.holder.to_json() if new else None,
    }


class TaskDetail:
    def __init__(self, task: Task, dependents: list[str], claims: list[Claim], now: float) -> None:
        self.task = task
        self.dependents = dependents
        self.claims = claims
        self.now = now

    def to_json(self) -> dict[str, Any]:
        d = self.task.to_json(self.now)
        d["dependents"] = self.dependents
        d["claims"] = [c.to_json() for c in self.claims]
        return d


# ---------------------------------------------------------------- tasks
def _new_id(tx: Tx, taken: Collection[str] = ()) -> str:
    """A fresh ``T-<n>``: not in the store and not in ``taken`` (ids an import is about
    to create)."""
    while True:
        candidate = f"T-{tx.next_task_number()}"
        if candidate not in taken and tx.get_task(candidate) is None:
            return candidate


def _missing(tx: Tx, ids: Sequence[str]) -> list[str]:
    found = tx.existing_task_ids(ids)
    return [i for i in ids if i not in found]


def _find_path(tx: Tx, start: str, goal: str) -> list[str] | None:
    """A dependency path start -> ... -> goal (each waits for the next), if any."""
    parent: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        deps = tx.dependencies(frontier)
        nxt: list[str] = []
        for node in frontier:
            for d in deps.get(node, []):
                if d in parent:
                    continue
                parent[d] = node
                if d == goal:
                    path = [d]
                    cur: str | None = node
                    while cur is not None:
                        path.append(cur)
                        cur = parent[cur]
                    return path[::-1]
                nxt.append(d)
        frontier = nxt
    return None


def _cycle_error(cycle: Sequence[str]) -> BadInput:
    text = " -> ".join(cycle)
    return BadInput(
        f"dependency cycle: {text} (each task waits for the next)", details={"cycle": list(cycle)}
    )


def _check_no_cycle(tx: Tx, task_id: str, deps: Sequence[str]) -> None:
    for d in deps:
        if d == task_id:
            raise _cycle_error([task_id, task_id])
        back = _find_path(tx, d, task_id)
        if back is not None:
            raise _cycle_error([task_id, *back])


def add_task(
    ctx: Context,
    task_id: str | None,
    title: str | None,
    *,
    priority: int = DEFAULT_PRIORITY,
    after: Sequence[str] = (),
    body: str | None = None,
) -> Task:
    """Create one task (an id is generated when none is given)."""
    tid = check_task_id(task_id) if task_id is not None else None
    text = check_title(title)
    prio = check_priority(priority)
    deps = _ids(after)
    body = check_body(body)
    holder = ctx.holder()

    def op(tx: Tx) -> Task:
        new_id = tid if tid is not None else _new_id(tx)
        if tx.get_task(new_id) is not None:
            raise BadInput(f"task {new_id} already exists (use `gitcoord task edit {new_id}`)")
        if new_id in deps:
            raise _cycle_error([new_id, new_id])
        missing = _missing(tx, deps)
        if missing:
            raise NotFound(f"unknown task(s) in --after: {', '.join(missing)}")
        tx.insert_task(NewTask(id=new_id, title=text, priority=prio, body=body, created_by=holder.agent))
        if deps:
            tx.add_dependencies(new_id, deps)
        task = tx.get_task(new_id)
        assert task is not None
        audit.append(
            tx,
            "task.added",
            holder,
            subject=new_id,
            details={"title": text, "priority": prio, "after": deps},
            task=new_id,
        )
        return task

    return _write(ctx, holder, op)


_IMPORT_KEYS = {"id", "title", "priority", "after", "body"}


def parse_import(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Validate JSON lines of tasks (``{"id", "title", "priority", "after", "body"}``)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    n = 0
    try:
        for n, line in enumerate(lines, 1):
            item = _import_item(n, line)
            if item is None:
                continue
            if item["id"] is not None:
                if item["id"] in seen:
                    raise BadInput(f"line {n}: task {item['id']} appears twice")
                seen.add(item["id"])
            out.append(item)
    except UnicodeDecodeError as e:  # (raised by the file, while reading line n + 1)
        raise BadInput(f"not UTF-8 text after line {n} ({e.reason})") from None
    return out


def _import_item(n: int, line: str) -> dict[str, Any] | None:
    """Line ``n`` of an import, validated (None: a blank line)."""
    import json

    if not line.strip():
        return None
    try:
        doc = json.loads(line)
    except ValueError as e:
        raise BadInput(f"line {n}: not JSON ({e})") from None
    except RecursionError:
        raise BadInput(f"line {n}: JSON nested too deeply") from None
    if not isinstance(doc, dict):
        raise BadInput(f"line {n}: expected a JSON object")
    unknown = set(doc) - _IMPORT_KEYS
    if unknown:
        raise BadInput(f"line {n}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        tid = doc.get("id")
        if tid is not None and not isinstance(tid, str):
            raise BadInput("id must be a string")
        after = doc.get("after") or []
        if isinstance(after, str):
            after = [after]
        if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
            raise BadInput("after must be a list of task ids")
        body = doc.get("body")
        if body is not None and not isinstance(body, str):
            raise BadInput("body must be a string")
        item: dict[str, Any] = {
            "id": check_task_id(tid) if tid is not None else None,
            "title": check_title(doc.get("title") if isinstance(doc.get("title"), str) else None),
            "priority": check_priority(doc.get("priority", DEFAULT_PRIORITY)),
            "after": _ids(after),
            "body": check_body(body),
            "line": n,
        }
    except BadInput as e:
        raise BadInput(f"line {n}: {e.message}") from None
    return item


def _file_cycle(items: Sequence[dict[str, Any]]) -> list[str] | None:
    """A cycle among the imported tasks' own edges, if any (iterative DFS)."""
    graph = {i["id"]: [d for d in i["after"]] for i in items if i["id"] is not None}
    color: dict[str, int] = {}
    for root in graph:
        if color.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        while stack:
            node, idx = stack.pop()
            if idx == 0:
                color[node] = 1
                path.append(node)
            succ = [d for d in graph.get(node, []) if d in graph]
            if idx < len(succ):
                stack.append((node, idx + 1))
                nxt = succ[idx]
                if color.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                if not color.get(nxt):
                    stack.append((nxt, 0))
            else:
                color[node] = 2
                path.pop()
    return None


def import_tasks(
    ctx: Context, lines: Iterable[str], *, skip_existing: bool = False
) -> tuple[list[Task], list[str]]:
    """Create many tasks in one transaction, all or none. Returns (created, skipped ids)."""
    items = parse_import(lines)
    if not items:
        raise BadInput("nothing to import: no tasks in the input")
    cycle = _file_cycle(items)
    if cycle:
        raise _cycle_error(cycle)
    holder = ctx.holder()

    def op(tx: Tx) -> tuple[list[Task], list[str]]:
        named = [i["id"] for i in items if i["id"] is not None]
        existing = tx.existing_task_ids(named)
        if existing and not skip_existing:
            raise BadInput(
                f"task(s) already exist: {', '.join(sorted(existing)[:10])}"
                " (use --skip-existing to import the rest)"
            )
        todo = [i for i in items if i["id"] not in existing]
        file_ids = {i["id"] for i in todo if i["id"] is not None}
        wanted_deps = {d for i in todo for d in i["after"]} - file_ids
        missing = sorted(wanted_deps - tx.existing_task_ids(sorted(wanted_deps)))
        if missing:
            raise NotFound(f"unknown task(s) in after: {', '.join(missing[:10])}")
        for i in todo:
            if i["id"] is not None and i["id"] in i["after"]:
                raise _cycle_error([i["id"], i["id"]])
        created_ids: list[str] = []
        for i in todo:
            tid = i["id"] if i["id"] is not None else _new_id(tx, file_ids)
            tx.insert_task(
                NewTask(
                    id=tid, title=i["title"], priority=i["priority"], body=i["body"],
                    created_by=holder.agent,
                )
            )
            created_ids.append(tid)
        for tid, i in zip(created_ids, todo, strict=True):
            if i["after"]:
                tx.add_dependencies(tid, i["after"])
            audit.append(
                tx,
                "task.added",
                holder,
                subject=tid,
                details={"title": i["title"], "priority": i["priority"], "after": i["after"], "via": "import"},
                task=tid,
            )
        deps = tx.dependencies(created_ids)
        wanted = set(created_ids)
        by_id = {t.id: t for t in tx.tasks() if t.id in wanted}
        out = []
        for tid in created_ids:
            t = by_id[tid]
            out.append(_with_after(t, deps.get(tid, [])))
        return out, sorted(existing)

    return _write(ctx, holder, op)


def _with_after(task: Task, after: Sequence[str]) -> Task:
    return task._replace(after=tuple(after))


def edit_task(
    ctx: Context,
    task_id: str,
    *,
    title: str | None = None,
    priority: int | None = None,
    body: str | None = None,
    add_after: Sequence[str] = (),
    drop_after: Sequence[str] = (),
) -> Task:
    tid = check_task_id(task_id)
    new_title = check_title(title) if title is not None else None
    prio = check_priority(priority) if priority is not None else None
    body = check_body(body)
    add = _ids(add_after)
    drop = _ids(drop_after)
    if new_title is None and prio is None and body is None and not add and not drop:
        raise BadInput("nothing to change: give --title, --priority, --body, --after or --not-after")
    holder = ctx.holder()

    def op(tx: Tx) -> Task:
        task = tx.get_task(tid)
        if task is None:
            raise NotFound(f"no task {tid}")
        missing = _missing(tx, add)
        if missing:
            raise NotFound(f"unknown task(s) in --after: {', '.join(missing)}")
        not_deps = [d for d in drop if d not in task.after]
        if not_deps:
            raise BadInput(f"{tid} does not wait for {', '.join(not_deps)}")
        _check_no_cycle(tx, tid, [d for d in add if d not in task.after])
        tx.update_task(tid, title=new_title, priority=prio, body=body)
        if add:
            tx.add_dependencies(tid, add)
        if drop:
            tx.remove_dependencies(tid, drop)
        changes: dict[str, Any] = {}
        if new_title is not None:
            changes["title"] = new_title
        if prio is not None:
            changes["priority"] = prio
        if body is not None:
            changes["body"] = body
        if add:
            changes["after_added"] = add
        if drop:
            changes["after_removed"] = drop
        audit.append(tx, "task.edited", holder, subject=tid, details=changes, task=tid)
        updated = tx.get_task(tid)
        assert updated is not None
        return updated

    return _write(ctx, holder, op)


def list_tasks(
    ctx: Context, *, status: Sequence[str] = (), mine: bool = False
) -> tuple[list[Task], float]:
    """Tasks by priority then age; ``status`` filters on the effective state (a claim
    whose TTL ran out counts as open)."""
    for s in status:
        if s not in TASK_STATES:
            raise BadInput(f"bad status {s!r}: one of {', '.join(TASK_STATES)}")
    holder = ctx.holder() if mine else None
    with ctx.store().snapshot() as tx:
        tasks = tx.tasks(holder=holder, with_deps=True)
        now = tx.now
    if holder is not None:
        tasks = [t for t in tasks if t.claim_active(now) or t.state == "claimed"]
    if status:
        tasks = [t for t in tasks if t.status(now) in status]
    return tasks, now


def show_task(ctx: Context, task_id: str) -> TaskDetail:
    tid = check_task_id(task_id)
    with ctx.store().snapshot() as tx:
        task = tx.get_task(tid)
        if task is None:
            raise NotFound(f"no task {tid}")
        return TaskDetail(task, tx.dependents(tid), tx.claims(task=tid), tx.now)


# ---------------------------------------------------------------- claims
def claim_next(
    ctx: Context,
    *,
    count: int = 1,
    ttl: float | None = None,
    holder: Holder | None = None,
) -> ClaimResult:
    """Claim up to ``count`` tasks: highest priority, then oldest, not blocked, whose
    dependencies are done. Raises :class:`NothingToClaim` (exit 1) when none is left.

    Concurrent callers on this host share write transactions (:mod:`gitcoord.combining`):
    whoever gets there first serves everyone queued, each claim still its own
    compare-and-swap with its own holder, epoch and audit event."""
    if not 1 <= count <= MAX_COUNT:
        raise BadInput(f"bad --count {count}: between 1 and {MAX_COUNT}")
    payload = {"holder": list(holder or ctx.holder()), "ttl": _ttl(ctx, ttl), "count": count}
    combiner = _combiner(ctx) if count <= COMBINE_MAX_COUNT else None
    served = combiner.call(payload) if combiner is not None else None
    if served is None:  # not combined: the same work in a transaction of our own
        from gitcoord.combining import Request

        [served] = _serve_next(ctx)([Request(os.urandom(8).hex(), payload, False)])
    result, events = served
    store = ctx.store()
    if events and store.on_commit is not None:
        store.on_commit(events)  # this caller's event hooks (serve defers them)
    if isinstance(result, BaseException):
        raise result
    assert isinstance(result, ClaimResult)
    return result


# ---------------------------------------------------------------- combined claim --next
COMBINE_MAX_COUNT = 16  # larger --count requests run their own transaction (reply size)
_Served = tuple["ClaimResult | GitcoordError", list[Event]]


def _combiner(ctx: Context) -> Combiner | None:
    comb = ctx.closers.get("claim-next")
    if comb is None:
        store = ctx.store()
        where = store.combining_dir()
        if where is None:
            return None
        from gitcoord.combining import Combiner
        from gitcoord.store.sqlite import busy_timeout

        comb = Combiner(
            where,
            _serve_next(ctx),
            _encode_served,
            _decoder(ctx),
            shrink=_shrink_served,
            idle=store.housekeeping,
            timeout=busy_timeout(),
        )
        ctx.closers["claim-next"] = comb
    return cast("Combiner", comb)


def _checked(payload: dict[str, Any]) -> tuple[Holder, float, int] | BadInput:
    """A ``claim --next`` request's (holder, TTL, count), or what is wrong with it (it
    may have come through a FIFO)."""
    h = payload.get("holder")
    ttl = payload.get("ttl")
    count = payload.get("count")
    if not (
        isinstance(h, list)
        and len(h) == 3
        and all(isinstance(x, str) and x for x in h)
        and isinstance(ttl, (int, float))
        and ttl > 0
        and isinstance(count, int)
        and count >= 1
    ):
        return BadInput(f"malformed claim request {payload!r}")
    return Holder(*h), float(ttl), count


def _serve_request(
    tx: Tx, req: Request, who: Holder, ttl: float, count: int, epochs: Iterator[int]
) -> tuple[ClaimResult | GitcoordError, list[Event]]:
    """One request inside serve's transaction: (its result, events committed for it
    earlier that its caller has not seen); an empty result means nothing was ready."""
    if req.until is not None and time.monotonic() > req.until:
        return StoreLocked("timed out waiting for the store"), []  # its caller gave up
    result = ClaimResult(now=tx.now)
    if req.recover:  # done already by a combiner that died before replying?
        done = tx.claims_of_request(who, req.id)
        if done:
            granted = [
                e
                for c in done
                for e in tx.events(EventQuery(task=c.task, kinds=["claim.granted"]))
                if e.details.get("epoch") == c.epoch
            ]
            result.claimed = [(_task_of(tx, c), c) for c in done]
            return result, granted  # its caller's event hooks have not seen them
    for _ in range(count):
        got = tx.claim_next(who, next(epochs), ttl, request=req.id)
        if got is None:
            break
        _granted(tx, who, got[0], got[1], "next")
        result.claimed.append(got)
    return result, []


def _task_of(tx: Tx, claim: Claim) -> Task:
    task = tx.get_task(claim.task)
    assert task is not None
    return task


class _Unchanged(Exception):
    """Inside serve's transaction: nothing worth committing happened."""


class _Late(Exception):
    """Inside serve's transaction: callers of these requests gave up before the commit."""

    def __init__(self, indexes: set[int]) -> None:
        super().__init__(indexes)
        self.indexes = indexes


def _serve_next(ctx: Context) -> Callable[[list[Request]], list[_Served]]:
    """Serve ``claim --next`` requests (queued ones of many callers, or just ours) in
    one write transaction. Each claim keeps its request's id, so a caller whose
    combiner died after committing finds its claims instead of claiming again.
    Event hooks are left to each caller."""

    def serve(requests: list[Request]) -> list[_Served]:
        while True:
            try:
                return attempt(requests)
            except _Late as late:  # commit for nobody who gave up: again, without them
                requests = [
                    Request(r.id, r.payload, r.recover, 0.0) if i in late.indexes else r
                    for i, r in enumerate(requests)
                ]

    def attempt(requests: list[Request]) -> list[_Served]:
        store = ctx.store()
        hooks, store.on_commit = store.on_commit, None  # each caller runs its own
        store.defer_housekeeping = True  # the WAL checkpoint waits until replies are out
        served: list[_Served] = []
        try:
            with store.transaction() as tx:
                _reap(tx)
                reaped = list(tx.new_events)  # claim.expired events, if any
                checked = [_checked(req.payload) for req in requests]
                epochs = itertools.count(
                    tx.reserve_epochs(sum(c[2] for c in checked if isinstance(c, tuple)))
                )
                summary: list[dict[str, int]] = []  # computed once, if anyone gets nothing
                for req, c in zip(requests, checked, strict=True):
                    mark = len(tx.new_events)
                    result, found = (c, []) if isinstance(c, BadInput) else _serve_request(tx, req, *c, epochs)
                    if isinstance(result, ClaimResult) and not result.claimed:
                        summary = summary or [tx.task_summary()]
                        result = _nothing(summary[0])
                    served.append((result, found + tx.new_events[mark:]))
                if reaped and served:  # the expiry reaps go with the first request (ours)
                    served[0] = (served[0][0], reaped + served[0][1])
                if not tx.new_events:
                    raise _Unchanged  # nothing granted or reaped: roll back the epochs too
                now = time.monotonic()
                late = {
                    i
                    for i, (req, (result, _)) in enumerate(zip(requests, served, strict=True))
                    if req.until is not None and now > req.until
                    and isinstance(result, ClaimResult) and result.claimed
                }
                if late:  # (this process was stopped since it served them, say)
                    raise _Late(late)
        except _Unchanged:
            pass
        finally:
            store.on_commit = hooks
            store.defer_housekeeping = False
        return served

    return serve


def _encode_served(served: Any) -> dict[str, Any]:
    from gitcoord.combining import error_to_json

    if isinstance(served, BaseException):  # the whole batch failed
        return {"error": error_to_json(served)}
    result, events = served
    doc: dict[str, Any] = {"events": [list(e) for e in events]}
    if isinstance(result, BaseException):
        doc["error"] = error_to_json(result)
    else:
        doc["now"] = result.now
        doc["claimed"] = [[list(t), list(c)] for t, c in result.claimed]
    return doc


def _shrink_served(served: Any) -> dict[str, Any]:
    """The short form (task bodies can be long): ids only; the caller reads the rest
    from the store."""
    from gitcoord.combining import error_to_json

    if isinstance(served, BaseException):
        return {"error": error_to_json(served)}
    result, events = served
    seqs = [events[0].seq, events[-1].seq] if events else []  # consecutive: a range
    if isinstance(result, BaseException):
        return {"error": error_to_json(result), "event_range": seqs}
    return {"now": result.now, "epochs": [c.epoch for _, c in result.claimed], "event_range": seqs}


def _decoder(ctx: Context) -> Callable[[dict[str, Any]], Any]:
    def decode(doc: dict[str, Any]) -> Any:
        from gitcoord.combining import error_from_json

        if "event_range" in doc:  # the short form
            with ctx.store().snapshot() as tx:
                span = doc["event_range"]
                events = tx.events_between(int(span[0]), int(span[1])) if span else []
                if "error" in doc:
                    return error_from_json(doc["error"]), events
                result = ClaimResult(now=doc["now"])
                for epoch in doc["epochs"]:
                    claim = tx.get_claim(epoch)
                    task = tx.get_task(claim.task) if claim is not None else None
                    assert claim is not None and task is not None
                    result.claimed.append((task, claim))
            return result, events
        events = [
            Event(*e[:7], tuple(e[7]), *e[8:])  # type: ignore[call-arg]
            for e in doc.get("events", [])
        ]
        if "error" in doc:
            err = error_from_json(doc["error"])
            return err if "events" not in doc else (err, events)
        result = ClaimResult(now=doc["now"])
        for t, c in doc["claimed"]:
            task = Task(*t)
            task = task._replace(holder=Holder(*task.holder) if task.holder else None, after=tuple(task.after))
            claim = Claim(*c)
            result.claimed.append((task, claim._replace(holder=Holder(*claim.holder))))
        return result, events

    return decode


def _nothing(summary: dict[str, int]) -> NothingToClaim:
    parts = []
    if summary["waiting"]:
        parts.append(f"{summary['waiting']} wait for dependencies")
    for state in ("blocked", "claimed", "review"):
        if summary[state]:
            parts.append(f"{summary[state]} {state}")
    why = f" ({', '.join(parts)})" if parts else ""
    return NothingToClaim(f"nothing to claim: no open task is ready{why}", details={"tasks": summary})


def _deny_reason(task: Task, holder: Holder, now: float, pending: Sequence[str]) -> str | None:
    """Why ``holder`` cannot claim ``task`` now (None: it can)."""
    if task.state == "claimed" and task.claim_active(now):
        assert task.holder is not None and task.expires_at is not None
        if task.holder.same_place(holder):
            return None
        return (
            f"{task.id}: claimed by {_describe_holder(task.holder)} at epoch {task.epoch},"
            f" expires in {format_duration(task.expires_at - now)}"
        )
    if task.state == "blocked":
        return f"{task.id}: blocked ({task.reason or 'no reason given'})"
    if task.state == "review":
        return f"{task.id}: waiting for review"
    if task.state == "done":
        return f"{task.id}: already done"
    if pending:
        return f"{task.id}: waits for {', '.join(pending)} (not done)"
    return None


def claim_ids(
    ctx: Context,
    task_ids: Sequence[str],
    *,
    ttl: float | None = None,
    holder: Holder | None = None,
    via: str = "id",
) -> ClaimResult:
    """Claim every named task or none. Claiming what you hold renews it."""
    ids = _ids(task_ids)
    if not ids:
        raise BadInput("no task id given (or use --next)")
    ttl_s = _ttl(ctx, ttl)
    who = holder or ctx.holder()

    def op(tx: Tx) -> ClaimResult:
        tasks: dict[str, Task] = {}
        for tid in ids:
            task = tx.get_task(tid)
            if task is None:
                raise NotFound(f"no task {tid}")
            tasks[tid] = task
        reaped = _reap(tx)
        if reaped:
            tasks = {tid: tx.get_task(tid) or t for tid, t in tasks.items()}
        deps = tx.dependencies(ids)
        states = {
            d: t.state for d, t in ((d, tx.get_task(d)) for ds in deps.values() for d in ds) if t
        }
        problems: list[tuple[str, str]] = []
        for tid, task in tasks.items():
            pending = [d for d in deps.get(tid, []) if states.get(d) != "done"]
            why = _deny_reason(task, who, tx.now, pending)
            if why:
                problems.append((tid, why))
        if problems:
            requested = list(ids)
            raise _Refused(
                Denied(
                    "claim denied (nothing was claimed):\n  " + "\n  ".join(w for _, w in problems),
                    details={"denied": [{"task": t, "reason": w} for t, w in problems]},
                ),
                [
                    ("claim.denied", t, {"reason": w, "requested": requested, "epoch": tasks[t].epoch})
                    for t, w in problems
                ],
            )
        result = ClaimResult(now=tx.now)
        for tid, task in tasks.items():
            if task.state == "claimed":  # ours and active: renew
                assert task.epoch is not None
                claim = tx.extend_claim(task.epoch, ttl_s)
                audit.append(
                    tx,
                    "claim.renewed",
                    who,
                    subject=tid,
                    details={"epoch": claim.epoch, "expires_at": claim.expires_at, "via": "re-claim"},
                    task=tid,
                )
                result.renewed.append((task, claim))
                continue
            got = tx.claim_task(tid, who, tx.next_epoch(), ttl_s)
            if got is None:  # cannot happen: we hold the write lock and checked
                raise Denied(f"{tid}: changed under us; try again")
            _granted(tx, who, got[0], got[1], via)
            result.claimed.append(got)
        return result

    return _write(ctx, who, op)


def _my_claim(tx: Tx, task: Task, holder: Holder, action: str, epoch: int | None) -> Claim:
    """The caller's claim on ``task``, still current (active, or expired and nobody
    re-took it). Otherwise refuse: Superseded when it was re-granted (or ``epoch``
    names an older grant), Denied else."""
    mine = tx.claims(task=task.id, holder=holder)
    latest = mine[-1] if mine else None
    current = tx.get_claim(task.epoch) if task.epoch is not None else None
    ok = (
        latest is not None
        and current is not None
        and latest.epoch == current.epoch
        and latest.state in ("active", "expired")
        and task.state in ("claimed", "open")
    )
    if ok and latest is not None and (epoch is None or epoch == latest.epoch):
        return latest
    if current is not None and current.epoch != epoch and (
        (epoch is not None and epoch < current.epoch and any(c.epoch == epoch for c in mine))
        or (
            epoch is None
            and latest is not None
            and current.epoch > latest.epoch
            and latest.state in ("superseded", "expired")
        )
    ):
        stale = epoch if epoch is not None else latest.epoch if latest is not None else 0
        text = (
            f"cannot {action} {task.id}: your claim (epoch {stale}) was superseded by epoch"
            f" {current.epoch}, held by {_describe_holder(current.holder)}"
        )
        facts = {
            "action": action,
            "epoch": stale,
            "newer_epoch": current.epoch,
            "newer_holder": current.holder.to_json(),
            "why": "superseded",
        }
        raise _Refused(
            Superseded(text, details={"task": task.id, **facts}),
            [("claim.refused", task.id, facts)],
        )
    if task.state == "claimed" and task.holder is not None and not task.holder.same_place(holder):
        why = f"it is claimed by {_describe_holder(task.holder)} (epoch {task.epoch})"
    elif latest is not None and latest.state not in ("active", "expired"):
        why = f"your claim (epoch {latest.epoch}) has ended ({latest.state})"
    elif epoch is not None and latest is not None and epoch != latest.epoch:
        why = f"epoch {epoch} is not your claim's (epoch {latest.epoch})"
    else:
        why = f"you do not hold it (it is {task.status(tx.now)})"
    raise _Refused(
        Denied(f"cannot {action} {task.id}: {why}"),
        [("claim.refused", task.id, {"action": action, "why": why, "epoch": task.epoch})],
    )


def _get(tx: Tx, tid: str) -> Task:
    task = tx.get_task(tid)
    if task is None:
        raise NotFound(f"no task {tid}")
    return task


def _finish_dependents(tx: Tx, task_id: str) -> None:
    dependents = tx.dependents(task_id)
    if dependents:
        tx.recount_pending(dependents)


def unclaim(ctx: Context, task_id: str, *, epoch: int | None = None) -> Task:
    """Give a claimed task back (it becomes open)."""
    tid = check_task_id(task_id)
    holder = ctx.holder()

    def op(tx: Tx) -> Task:
        task = _get(tx, tid)
        claim = _my_claim(tx, task, holder, "unclaim", epoch)
        tx.end_claim(claim.epoch, "released", "unclaim")
        updated = tx.set_task_state(
            tid, "open", expect=("claimed", "open"), expect_epoch=claim.epoch, reason=task.reason
        )
        assert updated is not None
        audit.append(
            tx, "claim.released", holder, subject=tid, details={"epoch": claim.epoch}, task=tid
        )
        return updated

    return _write(ctx, holder, op)


def _health_gate(ctx: Context, task_id: str, holder: Holder, epoch: int) -> None:
    command = ctx.settings.health
    if not command:
        return
    from gitcoord.eventhooks import run_shell

    timeout = ctx.settings.health_timeout
    result = run_shell(
        command,
        cwd=ctx.repo.root,
        timeout=timeout,
        env={"GITCOORD_TASK": task_id, "GITCOORD_WORKTREE": str(ctx.repo.root)},
    )
    if result.ok:
        return
    tail = result.tail()
    with ctx.store().transaction() as tx:
        audit.append(
            tx,
            "task.health_failed",
            holder,
            subject=task_id,
            details={
                "epoch": epoch,
                "command": command,
                "exit_code": result.code,
                "timed_out": result.timed_out,
                "error": result.error,
                "output_tail": tail,
            },
            task=task_id,
        )
    raise Denied(
        f"health check failed ({result.describe()}): `{command}` in {ctx.repo.root};"
        f" {task_id} stays claimed. Output (last lines):\n{tail}",
        details={"command": command, "exit_code": result.code, "output_tail": tail},
    )


def done(ctx: Context, task_id: str, *, review: bool = False, epoch: int | None = None) -> Task:
    """Finish a claimed task (or hand it to review). Runs the health gate first."""
    tid = check_task_id(task_id)
    holder = ctx.holder()
    # Check the claim before running a possibly slow health command; the write below
    # checks again (and records a refusal).
    with ctx.store().snapshot() as tx:
        task = _get(tx, tid)
        try:
            held = _my_claim(tx, task, holder, "finish", epoch).epoch
        except _Refused:
            held = None
    if held is not None:
        _health_gate(ctx, tid, holder, held)

    def op(tx: Tx) -> Task:
        task = _get(tx, tid)
        claim = _my_claim(tx, task, holder, "finish", epoch)
        state = "review" if review else "done"
        tx.end_claim(claim.epoch, state, "done --review" if review else "done")
        updated = tx.set_task_state(
            tid, state, expect=("claimed", "open"), expect_epoch=claim.epoch, done=not review
        )
        assert updated is not None
        details = {"epoch": claim.epoch, "claimed_at": claim.granted_at}
        if review:
            audit.append(tx, "task.review", holder, subject=tid, details=details, task=tid)
        else:
            _finish_dependents(tx, tid)
            audit.append(tx, "task.done", holder, subject=tid, details=details, task=tid)
        return tx.get_task(tid) or updated

    return _write(ctx, holder, op)


def _in_state(tx: Tx, tid: str, state: str, verb: str) -> Task:
    """The task, if it is in ``state``; else refuse ``verb`` (recorded as
    ``task.<verb>_refused``)."""
    task = _get(tx, tid)
    if task.state != state:
        wanted = "in review" if state == "review" else state
        raise _Refused(
            Denied(f"cannot {verb} {tid}: it is {task.status(tx.now)}, not {wanted}"),
            [(f"task.{verb}_refused", tid, {"why": f"state {task.state}"})],
        )
    return task


def approve(ctx: Context, task_id: str) -> Task:
    """Approve a task in review: it is done. Not your own, unless gitcoord.allowSelfReview."""
    tid = check_task_id(task_id)
    holder = ctx.holder()

    def op(tx: Tx) -> Task:
        task = _in_state(tx, tid, "review", "approve")
        author = task.holder
        if (
            author is not None
            and (author.same_place(holder) or author.agent == holder.agent)
            and not ctx.settings.allow_self_review
        ):
            raise _Refused(
                Denied(
                    f"cannot approve {tid}: you ({holder.agent}) did the work; another reviewer"
                    " must approve it (or set `git config gitcoord.allowSelfReview true`)"
                ),
                [("task.approve_refused", tid, {"why": "self-review", "epoch": task.epoch})],
            )
        updated = tx.set_task_state(tid, "done", expect=("review",), reviewer=holder.agent, done=True)
        assert updated is not None
        _finish_dependents(tx, tid)
        details = {
            "epoch": task.epoch,
            "author": author.to_json() if author else None,
            "reviewer": holder.agent,
        }
        audit.append(tx, "task.approved", holder, subject=tid, details=details, task=tid)
        audit.append(tx, "task.done", holder, subject=tid, details={**details, "via": "approve"}, task=tid)
        return tx.get_task(tid) or updated

    return _write(ctx, holder, op)


def reject(ctx: Context, task_id: str, reason: str | None) -> Task:
    """Send a task in review back to open, keeping the reason; its author is told."""
    tid = check_task_id(task_id)
    why = check_reason(reason, "reject")
    holder = ctx.holder()

    def op(tx: Tx) -> Task:
        task = _in_state(tx, tid, "review", "reject")
        updated = tx.set_task_state(tid, "open", expect=("review",), reason=why, reviewer=holder.agent)
        assert updated is not None
        audit.append(
            tx,
            "task.rejected",
            holder,
            subject=tid,
            details={"epoch": task.epoch, "reason": why, "reviewer": holder.agent},
            task=tid,
        )
        author = task.holder
        if author is not None and not author.same_place(holder):
            tx.tell(
                holder,
                author,
                f"{holder.agent} rejected {tid}: {why}",
            )
        return updated

    return _write(ctx, holder, op)


def block(ctx: Context, task_id: str, reason: str | None) -> Task:
    """Block a task (not done): ``claim --next`` skips it; a claim on it ends."""
    tid = check_task_id(task_id)
    why = check_reason(reason, "block")
    holder = ctx.holder()

    def op(tx: Tx) -> Task:
        task = _get(tx, tid)
        if task.state in ("done", "blocked"):
            raise _Refused(
                Denied(f"cannot block {tid}: it is already {task.state}"),
                [("task.block_refused", tid, {"why": f"state {task.state}"})],
            )
        ended: Claim | None = None
        if task.state in ("claimed", "open") and task.epoch is not None:
            # an active claim, or one that expired (reaped or not) and nobody re-took:
            # renew could revive it, so it ends here too
            ended = tx.end_claim(task.epoch, "blocked", why)
        updated = tx.set_task_state(
            tid, "blocked", expect=(task.state,), reason=why, reviewer=task.reviewer
        )
        assert updated is not None
        audit.append(
            tx,
            "task.blocked",
            holder,
            subject=tid,
            details={
                "reason": why,
                "from": task.state,
                "epoch": task.epoch,
                "claim_ended": ended.epoch if ended else None,
                "previous_reason": task.reason,  # (a rejection's: unblock puts it back)
            },
            task=tid,
        )
        if ended is not None and not ended.holder.same_place(holder):
            tx.tell(
                holder,
                ended.holder,
                f"{holder.agent} blocked {tid}, ending your claim (epoch {ended.epoch}): {why}",
            )
        return updated

    return _write(ctx, holder, op)


def unblock(ctx: Context, task_id: str) -> Task:
    tid = check_task_id(task_id)
    holder = ctx.holder()

    def op(tx: Tx) -> Task:
        task = _in_state(tx, tid, "blocked", "unblock")
        # the reason the task had before it was blocked (why its review was rejected) is
        # its reason again
        last = tx.events(EventQuery(task=tid, kinds=["task.blocked"], newest_first=True, limit=1))
        before = last[0].details.get("previous_reason") if last else None
        updated = tx.set_task_state(
            tid, "open", expect=("blocked",), reviewer=task.reviewer,
            reason=before if isinstance(before, str) else None,
        )
        assert updated is not None
        audit.append(
            tx, "task.unblocked", holder, subject=tid, details={"was": task.reason, "epoch": task.epoch}, task=tid
        )
        return updated

    return _write(ctx, holder, op)


def renew(ctx: Context, *, ttl: float | None = None) -> RenewResult:
    """Extend every current claim of the caller (heartbeat). A claim that expired and
    nobody re-took is revived; claims superseded since are reported once (``error()``)."""
    if ttl is not None and not ttl > 0:
        raise BadInput(f"bad TTL {ttl!r}: must be positive")
    holder = ctx.holder()

    def op(tx: Tx) -> RenewResult:
        result = RenewResult(now=tx.now)
        tasks: dict[str, Task | None] = {}
        for c in tx.claims(holder=holder, states=("active", "expired", "superseded")):
            if c.state == "superseded":
                if c.notified_at is None:
                    newer = tx.get_claim(c.superseded_by) if c.superseded_by else None
                    result.superseded.append((c, newer))
                continue
            if c.task not in tasks:
                tasks[c.task] = tx.get_task(c.task)
            task = tasks[c.task]
            if task is None or task.epoch != c.epoch or task.state not in ("claimed", "open"):
                continue
            t = ttl if ttl is not None else c.ttl
            updated = tx.extend_claim(c.epoch, t, reopen=True)
            audit.append(
                tx,
                "claim.renewed",
                holder,
                subject=c.task,
                details={
                    "epoch": c.epoch,
                    "expires_at": updated.expires_at,
                    "revived": c.state == "expired" or task.state == "open",
                },
                task=c.task,
            )
            result.renewed.append(updated)
        if result.superseded:
            tx.mark_claims_notified([c.epoch for c, _ in result.superseded])
            for old, new in result.superseded:
                audit.append(
                    tx,
                    "claim.refused",
                    holder,
                    subject=old.task,
                    details={"action": "renew", "why": "superseded", **superseded_json(old, new)},
                    task=old.task,
                )
        return result

    return _write(ctx, holder, op)


def release_holder(
    tx: Tx,
    actor: Holder,
    gone: Holder,
    *,
    state: str,
    why: str,
    epochs: Collection[int] | None = None,
) -> list[Claim]:
    """End every current claim of the worktree ``gone`` (or only those of ``epochs``;
    their tasks reopen), audited."""
    out: list[Claim] = []
    for c in tx.claims(holder=gone, states=("active", "expired")):
        if epochs is not None and c.epoch not in epochs:
            continue
        task = tx.get_task(c.task)
        if task is None or task.epoch != c.epoch:
            continue
        ended = tx.end_claim(c.epoch, state, why)
        if ended is None:
            continue
        if task.state in ("claimed", "open"):
            tx.set_task_state(
                c.task, "open", expect=("claimed", "open"), expect_epoch=c.epoch, reason=task.reason
            )
        audit.append(
            tx,
            "claim.reaped" if state == "reaped" else "claim.released",
            actor,
            subject=c.task,
            details={"epoch": c.epoch, "former_holder": c.holder.to_json(), "why": why},
            task=c.task,
        )
        out.append(ended)
    return out


def reap_vanished(tx: Tx, actor: Holder, common_dir: Path) -> list[Claim]:
    """``gc``, in the caller's transaction: end the claims of worktrees that no longer
    exist on this host (:func:`gitcoord.leases.vanished`), and forget their agent bindings."""
    from gitcoord.leases import vanished

    places = {
        (c.holder.worktree, c.holder.host): c.holder
        for c in tx.claims(states=("active", "expired"))
        if vanished(c.holder, common_dir)
    }
    out: list[Claim] = []
    for gone in places.values():
        out += release_holder(tx, actor, gone, state="reaped", why="worktree no longer exists")
    for b in tx.bindings():
        if vanished(Holder(worktree=b.worktree, host=b.host, agent=b.agent), common_dir):
            tx.set_binding(b.worktree, b.host, None)
    return out


def claim_summary_line(task: Task, claim: Claim, now: float) -> str:
    return (
        f"claimed {task.id} (epoch {claim.epoch}, priority {task.priority},"
        f" expires in {format_duration(claim.expires_at - now)}): {task.title}"
    )
