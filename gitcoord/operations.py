"""The operations every face serves, as the faces receive them: raw arguments in (a TTL
as written, ``30m``; paths as typed), an :class:`Outcome` out.

An outcome's ``doc`` is the one JSON document of the operation: the CLI prints it under
``--json`` and the MCP server returns it as the tool's structured result, so the two
faces cannot drift apart. ``data`` holds the objects a human view is drawn from. A
refusal that still comes with a document (``renew`` of a superseded claim, ``claim
--next`` with nothing to claim) is ``refusal``: the CLI prints the document, then exits
1 with the refusal's message; the MCP server returns the document.

Every argument check the CLI used to make itself lives here, so bad input is refused
with the same message whichever face it came through.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from gitcoord.context import Context
from gitcoord.durations import optional_duration, optional_ttl, parse_duration, point_in_time
from gitcoord.errors import BadInput, Denied, GitcoordError, NothingToClaim
from gitcoord.models import Event, Lease, Message, Read

if TYPE_CHECKING:
    from gitcoord.audit import VerifyResult
    from gitcoord.checks import Report
    from gitcoord.claims import ClaimResult, RenewResult, TaskDetail
    from gitcoord.claude_settings import SettingsResult
    from gitcoord.leases import GrantResult
    from gitcoord.protocol import Written
    from gitcoord.status import StatusConflict, StatusReport
    from gitcoord.store.tasks_api import Claim, Task
    from gitcoord.worktrees import AddResult, RemoveResult, WorktreeInfo

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    doc: dict[str, Any]
    data: T
    refusal: GitcoordError | None = None


def denial_doc(e: Denied) -> dict[str, Any]:
    """A denial as a result rather than an error (the MCP face): ``granted: false``, the
    refusal's code and message, and its details (a lease denial's ``conflicts``, each with
    the holder, the pattern, the expiry and a witness path)."""
    return {"granted": False, "code": e.code, "message": e.message, **e.details}


def _task_doc(task: Task) -> dict[str, Any]:
    # as of the write that returned it (its updated_at is that store time)
    return {"task": task.to_json(task.updated_at)}


# ---------------------------------------------------------------- leases
def lease(
    ctx: Context,
    patterns: Sequence[str],
    *,
    ttl: str | None = None,
    shared: bool = False,
    reason: str | None = None,
    task: str | None = None,
    wait: str | None = None,
) -> Outcome[GrantResult]:
    """Grant every pattern or none (raises :class:`Denied` naming each conflict)."""
    from gitcoord import leases

    ttl_s, wait_s = optional_ttl(ttl), optional_duration(wait)
    result = leases.acquire(
        ctx, patterns, exclusive=not shared, ttl=ttl_s, reason=reason, task=task, wait=wait_s
    )
    return Outcome(result.to_json(), result)


def renew(ctx: Context, *, ttl: str | None = None) -> Outcome[tuple[list[Lease], RenewResult]]:
    """Extend all of the caller's leases and claims (heartbeat)."""
    from gitcoord import claims, leases

    ttl_s = optional_ttl(ttl)
    renewed = leases.renew(ctx, ttl=ttl_s)
    claimed = claims.renew(ctx, ttl=ttl_s)
    doc = {
        "renewed": [lease_.to_json() for lease_ in renewed],
        "claims": [c.to_json(claimed.now) for c in claimed.renewed],
        "superseded": [claims.superseded_json(o, n) for o, n in claimed.superseded],
    }
    return Outcome(doc, (renewed, claimed), claimed.error())


def release(
    ctx: Context, patterns: Sequence[str] = (), *, all_: bool = False, force: bool = False
) -> Outcome[list[Lease]]:
    from gitcoord import leases

    released = leases.release(ctx, patterns, all_=all_, force=force)
    return Outcome({"released": [lease_.to_json() for lease_ in released]}, released)


def list_leases(
    ctx: Context, *, all_: bool = False, mine: bool = False
) -> Outcome[tuple[list[Lease], float]]:
    from gitcoord import leases

    items, now = leases.list_leases(ctx, all_=all_, mine=mine)
    return Outcome({"leases": [lease_.to_json(now) for lease_ in items]}, (items, now))


def read(ctx: Context, paths: Sequence[str]) -> Outcome[list[Read]]:
    from gitcoord import leases

    reads = leases.record_reads(ctx, paths)
    return Outcome({"reads": [r.to_json() for r in reads]}, reads)


# ---------------------------------------------------------------- checks
def check(
    ctx: Context,
    *,
    staged: bool = False,
    range_: str | None = None,
    remote: str | None = None,
    predict: bool = False,
) -> Outcome[tuple[Report, list[StatusConflict]]]:
    """The hooks' checks by hand: the index (default), a range, or a push to a remote;
    with ``predict``, also the merge conflicts predicted for what is checked (warnings,
    never a refusal: the document's ``predicted_conflicts``)."""
    from gitcoord import checks

    if staged + (range_ is not None) + (remote is not None) > 1:
        raise BadInput("give one of --staged, --range, --push")
    if range_ == "" or remote == "":
        raise BadInput("empty " + ("--range" if range_ == "" else "--push") + " value")
    if range_:
        report = checks.check_range(ctx, range_)
    elif remote:
        report = checks.check_remote(ctx, remote)
    else:
        report = checks.check_staged(ctx)
    predicted = _predicted(ctx, range_, remote) if predict else []
    if predict:
        report.extra["predicted_conflicts"] = [c.to_json() for c in predicted]
    return Outcome(report.to_json(), (report, predicted))


def _predicted(ctx: Context, range_: str | None, remote: str | None) -> list[StatusConflict]:
    """Predicted merge conflicts of what is checked: the commit a range ends at, the HEAD a
    push sends, else the worktree's commits and uncommitted changes."""
    from gitcoord import status

    commit = None
    if range_:
        commit = ctx.repo.rev_parse(range_.split("..")[-1].lstrip(".") or "HEAD")
    elif remote:
        commit = ctx.repo.head()
    return status.branch_conflicts(ctx, commit)


# ---------------------------------------------------------------- tasks and claims
def task_add(
    ctx: Context,
    task_id: str | None,
    title: str | None,
    *,
    priority: Any = 2,
    after: Sequence[str] = (),
    body: str | None = None,
) -> Outcome[Task]:
    from gitcoord import claims

    task = claims.add_task(
        ctx, task_id, title, priority=claims.check_priority(priority), after=after, body=body
    )
    return Outcome(_task_doc(task), task)


def task_list(
    ctx: Context, *, status: Sequence[str] = (), mine: bool = False
) -> Outcome[tuple[list[Task], float]]:
    from gitcoord import claims

    tasks, now = claims.list_tasks(ctx, status=status, mine=mine)
    return Outcome({"tasks": [t.to_json(now) for t in tasks]}, (tasks, now))


def task_show(ctx: Context, task_id: str) -> Outcome[TaskDetail]:
    from gitcoord import claims

    detail = claims.show_task(ctx, task_id)
    return Outcome({"task": detail.to_json()}, detail)


def task_edit(
    ctx: Context,
    task_id: str,
    *,
    title: str | None = None,
    priority: Any = None,
    body: str | None = None,
    after: Sequence[str] = (),
    not_after: Sequence[str] = (),
) -> Outcome[Task]:
    from gitcoord import claims

    task = claims.edit_task(
        ctx,
        task_id,
        title=title,
        priority=claims.check_priority(priority) if priority is not None else None,
        body=body,
        add_after=after,
        drop_after=not_after,
    )
    return Outcome(_task_doc(task), task)


def task_import(
    ctx: Context, lines: Iterable[str], *, skip_existing: bool = False
) -> Outcome[tuple[list[Task], list[str]]]:
    from gitcoord import claims

    created, skipped = claims.import_tasks(ctx, lines, skip_existing=skip_existing)
    doc = {"created": [t.to_json(t.updated_at) for t in created], "skipped": skipped}
    return Outcome(doc, (created, skipped))


def claim(
    ctx: Context,
    task_ids: Sequence[str] = (),
    *,
    next_: bool = False,
    count: int = 1,
    ttl: str | None = None,
) -> Outcome[ClaimResult | None]:
    """Claim the named tasks (all or none) or the next ready one(s). Nothing left to
    claim is a refusal that still has a document: ``{"claimed": [], "renewed": []}``."""
    from gitcoord import claims

    if next_ and task_ids:
        raise BadInput("give task ids or --next, not both")
    if not next_ and not task_ids:
        raise BadInput("give task ids to claim, or --next")
    if count != 1 and not next_:
        raise BadInput("--count goes with --next")
    ttl_s = optional_ttl(ttl)
    try:
        if next_:
            result = claims.claim_next(ctx, count=count, ttl=ttl_s)
        else:
            result = claims.claim_ids(ctx, task_ids, ttl=ttl_s)
    except NothingToClaim as e:
        return Outcome({"claimed": [], "renewed": []}, None, e)
    return Outcome(result.to_json(), result)


def unclaim(ctx: Context, task_id: str, *, epoch: int | None = None) -> Outcome[Task]:
    from gitcoord import claims

    task = claims.unclaim(ctx, task_id, epoch=epoch)
    return Outcome(_task_doc(task), task)


def done(
    ctx: Context, task_id: str, *, review: bool = False, epoch: int | None = None
) -> Outcome[Task]:
    from gitcoord import claims

    task = claims.done(ctx, task_id, review=review, epoch=epoch)
    return Outcome(_task_doc(task), task)


def approve(ctx: Context, task_id: str) -> Outcome[Task]:
    from gitcoord import claims

    task = claims.approve(ctx, task_id)
    return Outcome(_task_doc(task), task)


def reject(ctx: Context, task_id: str, reason: str | None) -> Outcome[Task]:
    from gitcoord import claims

    task = claims.reject(ctx, task_id, reason)
    return Outcome(_task_doc(task), task)


def block(ctx: Context, task_id: str, reason: str | None) -> Outcome[Task]:
    from gitcoord import claims

    task = claims.block(ctx, task_id, reason)
    return Outcome(_task_doc(task), task)


def unblock(ctx: Context, task_id: str) -> Outcome[Task]:
    from gitcoord import claims

    task = claims.unblock(ctx, task_id)
    return Outcome(_task_doc(task), task)


# ---------------------------------------------------------------- status, messages, audit
def status(
    ctx: Context,
    *,
    worktree: str | None = None,
    agent: str | None = None,
    since: str = "1d",
    predict: bool = True,
) -> Outcome[StatusReport]:
    """``worktree``: a path (relative to where the caller stands) of one worktree to show;
    ``predict``: predict merge conflicts (git merge-tree)."""
    from gitcoord import status as status_mod

    recent = parse_duration(since)
    wt = None if worktree is None else str((ctx.cwd / worktree).resolve())
    report = status_mod.collect(ctx, worktree=wt, agent=agent, recent=recent, predict=predict)
    return Outcome(report.to_json(), report)


def send(
    ctx: Context, to_agent: str | None, text: str | None, *, to_all: bool = False
) -> Outcome[Message]:
    from gitcoord import messages

    msg = messages.send(ctx, to_agent, text, to_all=to_all)
    return Outcome({"message": msg.to_json()}, msg)


def inbox(ctx: Context, *, ack: bool = False, all_: bool = False) -> Outcome[list[Message]]:
    from gitcoord import messages

    items = messages.inbox(ctx, ack=ack, include_acked=all_)
    return Outcome({"messages": [m.to_json() for m in items]}, items)


def log(
    ctx: Context,
    *,
    agent: str | None = None,
    path: str | None = None,
    task: str | None = None,
    kinds: Sequence[str] = (),
    since: str | None = None,
    limit: int | None = None,
) -> Outcome[list[Event]]:
    """The audit trail, newest last, filtered; ``path`` matches events about that path
    (or below it)."""
    from gitcoord import audit
    from gitcoord import paths as paths_mod

    if limit is not None and limit < 1:
        raise BadInput(f"bad limit {limit}: at least 1")
    pattern = None
    if path is not None:
        pattern = paths_mod.parse_pattern(path, cwd=ctx.cwd, root=ctx.repo.root)
    with ctx.store().snapshot() as tx:
        events = audit.log(
            tx,
            kinds=list(kinds) or None,
            agent=agent,
            pattern=pattern,
            task=task,
            since=point_in_time(since, tx.now) if since is not None else None,
            limit=limit,
        )
    return Outcome({"events": [e.to_json() for e in events]}, events)


def export(ctx: Context) -> Outcome[list[dict[str, Any]]]:
    from gitcoord import audit

    with ctx.store().snapshot() as tx:
        events = audit.dump(tx)
    return Outcome({"events": events}, events)


def prune(ctx: Context, before: str) -> Outcome[int]:
    from gitcoord import audit

    holder = ctx.holder()
    with ctx.store().transaction() as tx:
        deleted = audit.prune(tx, point_in_time(before, tx.now), holder)
    return Outcome({"deleted": deleted}, deleted)


def verify(ctx: Context) -> Outcome[VerifyResult]:
    from gitcoord import audit

    with ctx.store().snapshot() as tx:
        result = audit.verify(tx)
    return Outcome(result.to_json(), result)


# ---------------------------------------------------------------- setup and worktrees
def init(ctx: Context, *, agents: bool = False) -> Outcome[dict[str, Any]]:
    """The store and the hooks; with ``agents``, the protocol in AGENTS.md too."""
    from gitcoord import setup

    if agents:
        _top(ctx, "AGENTS.md")  # (a bare repository is refused before anything is made)
    doc = setup.init(ctx)
    if agents:
        doc["agents"] = agents_protocol(ctx).doc
    return Outcome(doc, doc)


def _top(ctx: Context, what: str) -> Path:
    """The top of the caller's worktree, where ``what`` lives (a bare repository has none)."""
    if ctx.repo.bare:
        raise BadInput(f"a bare repository has no worktree for {what}")
    return ctx.repo.root


def agents_protocol(ctx: Context) -> Outcome[list[Written]]:
    """Write (or refresh) the protocol for agents in AGENTS.md (and CLAUDE.md)."""
    from gitcoord import protocol

    written = protocol.write(_top(ctx, "AGENTS.md"))
    return Outcome({"files": [w.to_json() for w in written]}, written)


def gc(ctx: Context) -> Outcome[tuple[list[Lease], list[Claim]]]:
    from gitcoord import setup

    reaped, reaped_claims = setup.gc(ctx)
    doc = {
        "reaped": [lease_.to_json() for lease_ in reaped],
        "reaped_claims": [c.to_json() for c in reaped_claims],
    }
    return Outcome(doc, (reaped, reaped_claims))


def claude_guard(ctx: Context, *, remove: bool = False) -> Outcome[SettingsResult]:
    """Merge (or remove) the edit guard's PreToolUse entry in the worktree's
    .claude/settings.json."""
    from gitcoord import claude_settings

    root = _top(ctx, ".claude/settings.json")
    result = claude_settings.uninstall(root) if remove else claude_settings.install(root)
    return Outcome({"claude": result.to_json()}, result)


def worktree_add(
    ctx: Context,
    task_id: str,
    *,
    agent: str | None = None,
    path: str | None = None,
    branch: str | None = None,
    ttl: str | None = None,
) -> Outcome[AddResult]:
    from gitcoord import worktrees

    result = worktrees.add(ctx, task_id, agent=agent, path=path, branch=branch, ttl=optional_ttl(ttl))
    return Outcome(result.to_json(), result)


def worktree_list(ctx: Context) -> Outcome[tuple[list[WorktreeInfo], float]]:
    from gitcoord import worktrees

    items, now = worktrees.list_worktrees(ctx)
    return Outcome({"worktrees": [w.to_json(now) for w in items]}, (items, now))


def worktree_remove(ctx: Context, target: str, *, force: bool = False) -> Outcome[RemoveResult]:
    from gitcoord import worktrees

    result = worktrees.remove(ctx, target, force=force)
    return Outcome(result.to_json(), result)

