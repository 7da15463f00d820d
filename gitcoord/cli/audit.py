"""CLI commands for the audit trail: ``log``, ``export``, ``prune``, ``audit verify``."""

from __future__ import annotations

import sys

import click

from gitcoord import render
from gitcoord.cli.base import Obj, pass_obj
from gitcoord.durations import point_in_time


@click.command("log")
@click.option("--agent", "agent_filter", metavar="NAME", help="Only this agent's events.")
@click.option("--path", metavar="PATH", help="Only events about this path (or below it).")
@click.option("--task", metavar="ID", help="Only events about this task.")
@click.option("--kind", "kinds", metavar="KIND", multiple=True, help="Only this kind (repeatable), e.g. lease.denied.")
@click.option("--since", metavar="WHEN", help="Newer than a duration ago (1h, 2d) or an ISO time.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many (newest).")
@pass_obj
def log_cmd(
    obj: Obj,
    agent_filter: str | None,
    path: str | None,
    task: str | None,
    kinds: tuple[str, ...],
    since: str | None,
    limit: int | None,
) -> None:
    """Show the audit trail.

    \b
    Example:
      gitcoord log --path src/foo.py --since 1d
    """
    from gitcoord import audit
    from gitcoord import paths as paths_mod

    ctx = obj.ctx()
    pattern = None
    if path is not None:
        pattern = paths_mod.parse_pattern(path, cwd=ctx.cwd, root=ctx.repo.root)
    with ctx.store().snapshot() as tx:
        events = audit.log(
            tx,
            kinds=kinds or None,
            agent=agent_filter,
            pattern=pattern,
            task=task,
            since=point_in_time(since, tx.now) if since is not None else None,
            limit=limit,
        )
    if obj.json:
        render.emit_json({"events": [e.to_json() for e in events]})
    elif not events:
        render.line("no events")
    else:
        render.table(None, render.EVENT_COLUMNS, render.event_rows(events))


@click.command()
@click.option(
    "--format", "fmt", type=click.Choice(["json", "jsonl"]), default="json", show_default=True,
    help="json: one document {\"events\": [...]}; jsonl: one event per line (JSON Lines, also under --json).",
)
@pass_obj
def export(obj: Obj, fmt: str) -> None:
    """Dump the whole audit trail: every event with its hash chain and paths.

    \b
    Example:
      gitcoord export --format jsonl > audit.jsonl
    """
    from gitcoord import audit

    with obj.ctx().store().snapshot() as tx:
        events = audit.dump(tx)
    if fmt == "jsonl":
        render.emit_jsonl(events)
    else:
        render.emit_json({"events": events})


@click.command()
@click.option("--before", metavar="WHEN", required=True, help="Delete events older than this (30d, or an ISO time).")
@pass_obj
def prune(obj: Obj, before: str) -> None:
    """Trim old audit history; the chain stays verifiable.

    \b
    Example:
      gitcoord prune --before 90d
    """
    from gitcoord import audit

    ctx = obj.ctx()
    holder = ctx.holder()
    with ctx.store().transaction() as tx:
        deleted = audit.prune(tx, point_in_time(before, tx.now), holder)
    if obj.json:
        render.emit_json({"deleted": deleted})
    else:
        render.line(f"pruned {deleted} event(s)")


@click.group("audit")
def audit_group() -> None:
    """Audit-trail integrity.

    \b
    Example:
      gitcoord audit verify
    """


@audit_group.command()
@pass_obj
def verify(obj: Obj) -> None:
    """Check the hash chain; exit 1 if any event was changed, removed or inserted.

    \b
    Example:
      gitcoord audit verify
    """
    from gitcoord import audit

    with obj.ctx().store().snapshot() as tx:
        result = audit.verify(tx)
    if obj.json:
        render.emit_json(result.to_json())
    elif result.ok:
        render.line(f"audit trail intact: {result.checked} event(s) verified")
    else:
        for p in result.problems:
            render.line(f"event {p['seq']}: {p['problem']}")
    if not result.ok:
        sys.exit(1)


COMMANDS = [log_cmd, export, prune, audit_group]
