"""CLI commands for tasks and claims: ``task``, ``claim``, ``unclaim``, ``done``,
``approve``, ``reject``, ``block``, ``unblock``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from gitcoord import render
from gitcoord.cli.base import Obj, pass_obj
from gitcoord.models import iso

if TYPE_CHECKING:
    from gitcoord.operations import Outcome
    from gitcoord.store.tasks_api import Task


def _emit_task(obj: Obj, out: Outcome[Task], verb: str) -> None:
    if obj.json:
        render.emit_json(out.doc)
    else:
        task = out.data
        render.line(f"{verb} {task.id}: {task.title} ({task.state})")


# ---------------------------------------------------------------- task
@click.group("task")
def task_group() -> None:
    """Tasks: a durable queue of work (add, list, show, edit, import).

    \b
    Example:
      gitcoord task add T-12 --title "Fix the parser" --priority 1
      gitcoord task list --status open
    """


@task_group.command("add")
@click.argument("task_id", required=False, metavar="[ID]")
@click.option("--title", metavar="TEXT", help="One line saying what to do (required).")
@click.option("--priority", default=2, show_default=True, metavar="N", help="0 is most urgent; lower first.")
@click.option("--after", "after", multiple=True, metavar="ID", help="Only claimable once this task is done (repeatable).")
@click.option("--body", metavar="TEXT", help="Longer description.")
@pass_obj
def task_add(obj: Obj, task_id: str | None, title: str | None, priority: Any, after: tuple[str, ...], body: str | None) -> None:
    """Add a task. Ids are free text (T-12, github:owner/repo#12); one is generated
    (T-<n>) when none is given.

    \b
    Example:
      gitcoord task add --title "Write the migration" --priority 1
      gitcoord task add github:acme/api#12 --title "Fix login" --after T-3
    """
    from gitcoord import operations

    out = operations.task_add(obj.ctx(), task_id, title, priority=priority, after=after, body=body)
    task = out.data
    if obj.json:
        render.emit_json(out.doc)
    else:
        render.line(f"added {task.id}: {task.title} (priority {task.priority})")


@task_group.command("list")
@click.option("--status", "status", multiple=True, metavar="STATE", help="open, claimed, review, done or blocked (repeatable).")
@click.option("--mine", is_flag=True, help="Only tasks you hold.")
@pass_obj
def task_list(obj: Obj, status: tuple[str, ...], mine: bool) -> None:
    """List tasks, most urgent first. An expired claim counts as open.

    \b
    Example:
      gitcoord task list --status open --status claimed
    """
    from gitcoord import operations

    out = operations.task_list(obj.ctx(), status=status, mine=mine)
    tasks, now = out.data
    if obj.json:
        render.emit_json(out.doc)
        return
    if not tasks:
        render.line("no tasks")
        return
    rows = []
    for t in tasks:
        st = t.status(now)
        holder = t.holder.agent if t.holder is not None and st == "claimed" else ""
        expires = (
            render.format_duration(t.expires_at - now)
            if st == "claimed" and t.expires_at is not None
            else ""
        )
        rows.append([t.id, str(t.priority), st, holder, expires, " ".join(t.after), t.title])
    render.table(None, ["id", "pri", "state", "holder", "expires", "after", "title"], rows)


@task_group.command("show")
@click.argument("task_id", metavar="ID")
@pass_obj
def task_show(obj: Obj, task_id: str) -> None:
    """Show one task: state, claim, dependencies, claim history.

    \b
    Example:
      gitcoord task show T-12
    """
    from gitcoord import operations

    out = operations.task_show(obj.ctx(), task_id)
    if obj.json:
        render.emit_json(out.doc)
        return
    detail = out.data
    t, now = detail.task, detail.now
    render.line(f"{t.id}: {t.title}")
    render.line(f"  state:    {t.status(now)}" + (f" ({t.reason})" if t.reason else ""))
    render.line(f"  priority: {t.priority}")
    if t.body:
        render.line(f"  body:     {t.body}")
    if t.after:
        render.line(f"  after:    {' '.join(t.after)}" + (f" ({t.deps_pending} not done)" if t.deps_pending else ""))
    if detail.dependents:
        render.line(f"  before:   {' '.join(detail.dependents)}")
    if t.holder is not None and t.state == "claimed":
        left = (t.expires_at or now) - now
        exp = f"expires in {render.format_duration(left)}" if left > 0 else (
            f"expired {render.format_duration(-left)} ago (claimable; renew revives it)"
        )
        render.line(f"  claim:    {t.holder.agent} ({t.holder.worktree}), epoch {t.epoch}, {exp}")
    if t.reviewer:
        render.line(f"  reviewer: {t.reviewer}")
    for c in detail.claims:
        state = "expired" if c.state == "active" and c.expires_at <= now else c.state
        render.line(f"  epoch {c.epoch}: {c.holder.agent} {state} (granted {iso(c.granted_at)})")


@task_group.command("edit")
@click.argument("task_id", metavar="ID")
@click.option("--title", metavar="TEXT", help="New title.")
@click.option("--priority", metavar="N", help="New priority (0 is most urgent).")
@click.option("--body", metavar="TEXT", help="New description.")
@click.option("--after", "after", multiple=True, metavar="ID", help="Add a dependency (repeatable).")
@click.option("--not-after", "not_after", multiple=True, metavar="ID", help="Drop a dependency (repeatable).")
@pass_obj
def task_edit(obj: Obj, task_id: str, title: str | None, priority: str | None, body: str | None, after: tuple[str, ...], not_after: tuple[str, ...]) -> None:
    """Change a task's title, priority, description or dependencies. A dependency
    that would close a cycle is refused (exit 2), naming the cycle.

    \b
    Example:
      gitcoord task edit T-12 --priority 0 --after T-9
    """
    from gitcoord import operations

    out = operations.task_edit(
        obj.ctx(), task_id, title=title, priority=priority, body=body, after=after, not_after=not_after
    )
    _emit_task(obj, out, "edited")


@task_group.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--skip-existing", is_flag=True, help="Leave tasks whose id exists alone; import the rest.")
@pass_obj
def task_import(obj: Obj, file: Any, skip_existing: bool) -> None:
    """Create tasks from JSON lines (FILE, or - for stdin), all or none. Each line:
    {"id": "T-1", "title": "...", "priority": 1, "after": ["T-0"], "body": "..."};
    only "title" is required.

    \b
    Example:
      gitcoord task import backlog.jsonl
    """
    from gitcoord import operations

    out = operations.task_import(obj.ctx(), file, skip_existing=skip_existing)
    created, skipped = out.data
    if obj.json:
        render.emit_json(out.doc)
    else:
        render.line(f"imported {len(created)} task(s)" + (f", skipped {len(skipped)} existing" if skipped else ""))


# ---------------------------------------------------------------- claims
@click.command("claim")
@click.argument("task_ids", nargs=-1, metavar="[ID]...")
@click.option("--next", "next_", is_flag=True, help="Claim the most urgent, oldest ready task.")
@click.option("--count", default=1, show_default=True, type=click.IntRange(min=1), help="With --next: claim up to N tasks (at most 1000).")
@click.option("--ttl", metavar="DURATION", help="How long the claim lasts (default 60m or gitcoord.claimTtl).")
@pass_obj
def claim_cmd(obj: Obj, task_ids: tuple[str, ...], next_: bool, count: int, ttl: str | None) -> None:
    """Claim tasks: the named ones (all or none), or the next ready one.

    Exits 1 when a task is taken, or when nothing is left to claim (with --json an
    empty result is still printed), so a loop works.

    \b
    Example:
      gitcoord claim T-12 T-13
      while gitcoord claim --next; do ...; done
    """
    from gitcoord import claims, operations

    out = operations.claim(obj.ctx(), task_ids, next_=next_, count=count, ttl=ttl)
    if obj.json:
        render.emit_json(out.doc)
    if out.refusal is not None:
        raise out.refusal
    result = out.data
    if obj.json or result is None:
        return
    for task, claim in result.claimed:
        render.line(claims.claim_summary_line(task, claim, result.now))
    for task, claim in result.renewed:
        render.line(f"renewed {task.id} (epoch {claim.epoch}, expires in {render.format_duration(claim.expires_at - result.now)})")


@click.command("unclaim")
@click.argument("task_id", metavar="ID")
@click.option("--epoch", type=int, metavar="N", help="Refuse unless your claim has this epoch.")
@pass_obj
def unclaim_cmd(obj: Obj, task_id: str, epoch: int | None) -> None:
    """Give a claimed task back (it becomes open).

    \b
    Example:
      gitcoord unclaim T-12
    """
    from gitcoord import operations

    _emit_task(obj, operations.unclaim(obj.ctx(), task_id, epoch=epoch), "unclaimed")


@click.command("done")
@click.argument("task_id", metavar="ID")
@click.option("--review", is_flag=True, help="Hand it to review instead of finishing it.")
@click.option("--epoch", type=int, metavar="N", help="Refuse unless your claim has this epoch.")
@pass_obj
def done_cmd(obj: Obj, task_id: str, review: bool, epoch: int | None) -> None:
    """Finish a task you hold (or send it to review). With gitcoord.health set, that
    command runs in your worktree first and a failure refuses (exit 1).

    \b
    Example:
      gitcoord done T-12 --review
    """
    from gitcoord import operations

    out = operations.done(obj.ctx(), task_id, review=review, epoch=epoch)
    _emit_task(obj, out, "in review:" if review else "done:")


@click.command("approve")
@click.argument("task_id", metavar="ID")
@pass_obj
def approve_cmd(obj: Obj, task_id: str) -> None:
    """Approve a task in review (not your own, unless gitcoord.allowSelfReview).

    \b
    Example:
      gitcoord approve T-12
    """
    from gitcoord import operations

    _emit_task(obj, operations.approve(obj.ctx(), task_id), "approved")


@click.command("reject")
@click.argument("task_id", metavar="ID")
@click.option("--reason", metavar="TEXT", help="What to fix (required; kept on the task).")
@pass_obj
def reject_cmd(obj: Obj, task_id: str, reason: str | None) -> None:
    """Send a task in review back to open, with the reason; its author gets a message.

    \b
    Example:
      gitcoord reject T-12 --reason "tests missing for the empty case"
    """
    from gitcoord import operations

    _emit_task(obj, operations.reject(obj.ctx(), task_id, reason), "rejected")


@click.command("block")
@click.argument("task_id", metavar="ID")
@click.option("--reason", metavar="TEXT", help="Why (required).")
@pass_obj
def block_cmd(obj: Obj, task_id: str, reason: str | None) -> None:
    """Block a task: claim --next skips it, and a claim on it ends.

    \b
    Example:
      gitcoord block T-12 --reason "waiting for the API decision"
    """
    from gitcoord import operations

    _emit_task(obj, operations.block(obj.ctx(), task_id, reason), "blocked")


@click.command("unblock")
@click.argument("task_id", metavar="ID")
@pass_obj
def unblock_cmd(obj: Obj, task_id: str) -> None:
    """Make a blocked task open again.

    \b
    Example:
      gitcoord unblock T-12
    """
    from gitcoord import operations

    _emit_task(obj, operations.unblock(obj.ctx(), task_id), "unblocked")


COMMANDS = [task_group, claim_cmd, unclaim_cmd, done_cmd, approve_cmd, reject_cmd, block_cmd, unblock_cmd]
