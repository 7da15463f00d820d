"""CLI commands that meet coding agents where they are: ``mcp`` (the MCP server) and
``agents`` (the protocol in AGENTS.md)."""

from __future__ import annotations

from collections.abc import Callable

import click

from gitcoord import render
from gitcoord.cli.base import Obj, pass_obj, passthrough
from gitcoord.errors import EnvironmentFailure


@click.command("mcp")
@click.option("--agent", "agent_name", metavar="NAME", help="Act as this agent (same as gitcoord --agent NAME mcp).")
@pass_obj
def mcp_cmd(obj: Obj, agent_name: str | None) -> None:
    """Serve gitcoord's operations as MCP tools over stdio, for this worktree.

    Tools: lease, release, renew, leases, read, check, claim, unclaim, done,
    task_add, task_list, task_show, status, send, inbox, log; each result is
    the document `gitcoord --json` prints. A denial is a normal result
    (granted: false, with the conflicts); bad input is a tool error. Runs
    until the client closes stdin. Needs the mcp extra
    (pip install 'gitcoord[mcp]').

    \b
    Example:
      claude mcp add gitcoord -- gitcoord mcp
      gitcoord -C ../wt-alice --agent alice mcp
    """
    from gitcoord import context

    agent = agent_name or obj.agent
    ctx = context.load(obj.directory, agent=agent)  # not a repository, a bad name: fail now
    ctx.close()
    try:
        from gitcoord import mcp_server
    except ImportError as e:
        if (e.name or "").split(".")[0] not in ("mcp", "mcp_types", "pydantic"):
            raise
        raise EnvironmentFailure(
            f"gitcoord mcp needs the MCP SDK ({e.name} is missing): pip install 'gitcoord[mcp]'"
        ) from None
    mcp_server.serve(str(ctx.cwd), agent)


@click.command("agents")
@pass_obj
def agents_cmd(obj: Obj) -> None:
    """Write (or refresh) the protocol for agents in AGENTS.md, and in CLAUDE.md when
    that file exists, between gitcoord's marker lines; text outside them is left as
    it is. Safe to run again.

    \b
    Example:
      gitcoord agents && git add AGENTS.md
    """
    from gitcoord import operations

    out = operations.agents_protocol(obj.ctx())
    if obj.json:
        render.emit_json(out.doc)
    else:
        render.protocol_written(out.doc["files"])


def _guard() -> Callable[[list[str]], int]:
    from gitcoord import guard

    return guard.main


guard_cmd = passthrough("guard", "What Claude Code's PreToolUse edit guard runs.", _guard)


COMMANDS = [mcp_cmd, agents_cmd, guard_cmd]
