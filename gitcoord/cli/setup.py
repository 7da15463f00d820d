"""CLI commands that set a project up and tidy it: ``init`` and ``gc``."""

from __future__ import annotations

import click

from gitcoord import render
from gitcoord.cli.base import Obj, pass_obj


@click.command()
@click.option("--agents", is_flag=True, help="Also write the protocol for agents into AGENTS.md (and CLAUDE.md when it exists).")
@pass_obj
def init(obj: Obj, agents: bool) -> None:
    """Create the store in the repository's common git dir and install the git hooks.

    \b
    Example:
      gitcoord init
      gitcoord init --agents
    """
    from gitcoord import operations

    out = operations.init(obj.ctx(), agents=agents)
    result = out.doc
    if obj.json:
        render.emit_json(result)
    else:
        if result["started_anew"]:
            render.warn(
                "warning: the store made here before is gone: this is a new, empty one"
                " (its history, leases and claims are lost unless restored from a backup)"
            )
        render.line(f"gitcoord store ready: {result['store']} (schema {result['schema_version']})")
        hooks = result["hooks"]
        names = ", ".join(dict.fromkeys(h["hook"] for h in hooks["hooks"]))
        render.line(f"git hooks for every worktree in {', '.join(hooks['hooks_dirs'])}: {names}")
        for note in hooks.get("notes", []):
            render.line(note)
        for warning in hooks.get("warnings", []):
            render.warn(f"warning: {warning.replace('warning: ', '')}")
        if agents:
            render.protocol_written(result["agents"]["files"])


@click.command()
@pass_obj
def gc(obj: Obj) -> None:
    """Reap leases and claims of worktrees that no longer exist (audited).

    \b
    Example:
      gitcoord gc
    """
    from gitcoord import operations

    out = operations.gc(obj.ctx())
    reaped, reaped_claims = out.data
    if obj.json:
        render.emit_json(out.doc)
    else:
        render.line(
            f"reaped {len(reaped)} lease(s) and {len(reaped_claims)} claim(s) of vanished worktrees"
        )
        for lease in reaped:
            render.line(f"  {lease.pattern}  ({lease.holder.agent}, {lease.holder.worktree})")
        for c in reaped_claims:
            render.line(f"  task {c.task}  ({c.holder.agent}, {c.holder.worktree})")


COMMANDS = [init, gc]
