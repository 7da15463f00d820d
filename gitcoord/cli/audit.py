"""CLI commands for the audit trail: ``log``, ``export``, ``prune``, ``audit verify``."""

from __future__ import annotations

import sys

import click

from gitcoord import render
from gitcoord.cli.base import Obj, pass_obj


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
    from gitcoord import operations

    out = operations.log(
        obj.ctx(), agent=agent_filter, path=path, task=task, kinds=kinds, since=since, limit=limit
    )
    events = out.data
    if obj.json:
        render.emit_json(out.doc)
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
    from gitcoord import operations

    out = operations.export(obj.ctx())
    if fmt == "jsonl":
        render.emit_jsonl(out.data)
    else:
        render.emit_json(out.doc)


@click.command()
@click.option("--before", metavar="WHEN", required=True, help="Delete events older than this (30d, or an ISO time).")
@pass_obj
def prune(obj: Obj, before: str) -> None:
    """Trim old audit history; the chain stays verifiable.

    \b
    Example:
      gitcoord prune --before 90d
    """
    from gitcoord import operations

    out = operations.prune(obj.ctx(), before)
    if obj.json:
        render.emit_json(out.doc)
    else:
        render.line(f"pruned {out.data} event(s)")


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
    from gitcoord import operations

    out = operations.verify(obj.ctx())
    result = out.data
    if obj.json:
        render.emit_json(out.doc)
    elif result.ok:
        render.line(f"audit trail intact: {result.checked} event(s) verified")
    else:
        for p in result.problems:
            render.line(f"event {p['seq']}: {p['problem']}")
    if not result.ok:
        sys.exit(1)


COMMANDS = [log_cmd, export, prune, audit_group]
