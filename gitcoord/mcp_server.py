"""The MCP face: ``gitcoord mcp`` serves the core's operations as MCP tools over stdio
(SPEC section 9), on the official MCP Python SDK (``pip install 'gitcoord[mcp]'``).

Only ``gitcoord mcp`` imports this module: the SDK costs more to import than most
commands take to run.

Every tool call runs in this process against a fresh :class:`gitcoord.context.Context`
for the repository the server was started in (``-C DIR``), as the agent given by
``--agent``, ``GITCOORD_AGENT`` or the worktree's binding: its own git look-ups, its own
store connection (the SDK runs each call on a worker thread), its own transaction and
the store's clock, and the hook journal drained as any command drains it. A tool
returns the operation's JSON document, the one ``gitcoord --json`` prints
(:mod:`gitcoord.operations`), as its structured result.

* A denial (a lease held, a claim taken, a superseded epoch) is a normal result:
  ``{"granted": false, "code", "message", ...}`` with the refusal's details (a lease's
  ``conflicts``: holder, pattern, expiry, witness path).
* Bad input, and an environment or store failure, is a tool error whose text is the
  CLI's message and whose structured content is the CLI's ``{"error": {...}}``.
* An internal error is a tool error naming the crash log; no traceback reaches the client.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, ContentBlock, TextContent, ToolAnnotations
from pydantic import Field

from gitcoord import __version__, context, operations
from gitcoord.errors import Denied, GitcoordError

Result = Annotated[CallToolResult, dict[str, Any]]

INSTRUCTIONS = """\
gitcoord coordinates agents working in one git repository, one worktree each.
Lease the paths you will change before editing them (lease); a denial names who holds
them, until when and why: pick other work, wait (lease with wait="30m") or ask the
holder (send). Renew while you work (renew), run check before committing, release when
done. Tasks: claim (ids, or next=true), done, task_add/task_list/task_show. status shows
who holds what and where work collides. Paths are relative to the directory the server
runs in (the worktree's top), or absolute inside the worktree."""

_OPTIONAL_DURATION = "a duration: 30m, 1h30m, 90s, 2d"


def _json_text(doc: dict[str, Any]) -> TextContent:
    import json

    return TextContent(type="text", text=json.dumps(doc, ensure_ascii=False))


def _error(e: GitcoordError) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=e.message)],
        structured_content=e.to_json(),
        is_error=True,
    )


class Tools:
    """The tool bodies: each runs one operation for the server's worktree and agent."""

    def __init__(self, directory: str, agent: str | None) -> None:
        self.directory = directory
        self.agent = agent

    def run(self, op: Callable[[context.Context], operations.Outcome[Any]]) -> CallToolResult:
        try:
            ctx = context.load(self.directory, agent=self.agent)
        except GitcoordError as e:
            return _error(e)
        except Exception as e:  # no traceback for the client: a crash log instead
            return _internal(e)
        try:
            out = op(ctx)
        except Denied as e:
            doc = operations.denial_doc(e)
            return CallToolResult(content=[_json_text(doc)], structured_content=doc)
        except GitcoordError as e:
            return _error(e)
        except Exception as e:
            return _internal(e)
        finally:
            with contextlib.suppress(Exception):
                ctx.close()
        content: list[ContentBlock] = [_json_text(out.doc)]
        if out.refusal is not None:  # e.g. nothing to claim: the document, and why
            content.append(TextContent(type="text", text=out.refusal.message))
        return CallToolResult(content=content, structured_content=out.doc)


def _internal(e: BaseException) -> CallToolResult:
    from gitcoord import crash

    message = crash.message(e)
    return CallToolResult(
        content=[TextContent(type="text", text=message)],
        structured_content={"error": {"code": "internal", "message": message}},
        is_error=True,
    )


def build(directory: str, agent: str | None) -> MCPServer[Any]:
    """The server, its tools bound to ``directory`` and ``agent``."""
    t = Tools(directory, agent)
    server: MCPServer[Any] = MCPServer(
        "gitcoord", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    reads = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

    @server.tool(annotations=writes)
    def lease(
        patterns: Annotated[list[str], Field(description="Files, directories (a/b/ = the subtree) or globs (src/**/*.py).")],
        ttl: Annotated[str | None, Field(description=f"How long it lasts, {_OPTIONAL_DURATION} (default 30m).")] = None,
        shared: Annotated[bool, Field(description="Shared: conflicts only with exclusive leases.")] = False,
        reason: Annotated[str | None, Field(description="Why; shown to anyone denied.")] = None,
        task: Annotated[str | None, Field(description="The task this work belongs to.")] = None,
        wait: Annotated[str | None, Field(description=f"Keep trying this long before giving up, {_OPTIONAL_DURATION}.")] = None,
    ) -> Result:
        """Lease paths before editing them: all or nothing. A denial is a normal result,
        granted: false, naming each conflict (holder, pattern, expiry, reason, witness path).
        A grant warns when your copy of a leased file is already stale, with the fix."""
        return t.run(lambda ctx: operations.lease(
            ctx, patterns, ttl=ttl, shared=shared, reason=reason, task=task, wait=wait
        ))

    @server.tool(annotations=writes)
    def release(
        patterns: Annotated[list[str] | None, Field(description="The patterns to release, as leased.")] = None,
        all: Annotated[bool, Field(description="Release every lease you hold.")] = False,
        force: Annotated[bool, Field(description="Release another holder's lease on exactly that pattern (audited; they get a message).")] = False,
    ) -> Result:
        """Release your leases (named, or all) when done with the paths."""
        return t.run(lambda ctx: operations.release(ctx, patterns or (), all_=all, force=force))

    @server.tool(annotations=writes)
    def renew(
        ttl: Annotated[str | None, Field(description=f"New TTL, {_OPTIONAL_DURATION} (default: each one's own).")] = None,
    ) -> Result:
        """Heartbeat: extend all of your leases and claims. 'superseded' lists claims of
        yours that expired and went to someone else: stop working on those tasks."""
        return t.run(lambda ctx: operations.renew(ctx, ttl=ttl))

    @server.tool(annotations=reads)
    def leases(
        all: Annotated[bool, Field(description="Include released and expired leases (history).")] = False,
        mine: Annotated[bool, Field(description="Only your leases.")] = False,
    ) -> Result:
        """List active leases: pattern, holder, mode, expiry, reason."""
        return t.run(lambda ctx: operations.list_leases(ctx, all_=all, mine=mine))

    @server.tool(annotations=writes)
    def read(
        paths: Annotated[list[str], Field(description="Files you based your work on.")],
    ) -> Result:
        """Record, without leasing, the blobs you based your work on (read set); check and
        the hooks warn when the integration line changes them."""
        return t.run(lambda ctx: operations.read(ctx, paths))

    @server.tool(annotations=reads)
    def check(
        range: Annotated[str | None, Field(description="Check every commit of A..B (or one commit) instead of the index.")] = None,
        push: Annotated[str | None, Field(description="Check what pushing the current branch to this remote would add.")] = None,
        predict: Annotated[bool, Field(description="Also predict merge conflicts with other worktrees (warnings, never a refusal).")] = False,
    ) -> Result:
        """Run the commit hook's checks now (default: the staged index): other holders'
        leases, stale reads, the read set. ok: false lists each violation and the fixes."""
        return t.run(lambda ctx: operations.check(ctx, range_=range, remote=push, predict=predict))

    @server.tool(annotations=writes)
    def claim(
        ids: Annotated[list[str] | None, Field(description="Task ids to claim, all or none.")] = None,
        next: Annotated[bool, Field(description="Claim the most urgent ready task instead.")] = False,
        count: Annotated[int, Field(description="With next: claim up to this many.", ge=1, le=1000)] = 1,
        ttl: Annotated[str | None, Field(description=f"How long the claim lasts, {_OPTIONAL_DURATION} (default 60m).")] = None,
    ) -> Result:
        """Claim tasks: the named ones, or next=true for the next ready one. Nothing left
        to claim gives claimed: []; a task taken by another is a denial (granted: false)."""
        return t.run(lambda ctx: operations.claim(ctx, ids or (), next_=next, count=count, ttl=ttl))

    @server.tool(annotations=writes)
    def unclaim(
        id: Annotated[str, Field(description="The task id.")],
        epoch: Annotated[int | None, Field(description="Refuse unless your claim still has this epoch.")] = None,
    ) -> Result:
        """Give a claimed task back (it becomes open)."""
        return t.run(lambda ctx: operations.unclaim(ctx, id, epoch=epoch))

    @server.tool(annotations=writes)
    def done(
        id: Annotated[str, Field(description="The task id.")],
        review: Annotated[bool, Field(description="Hand it to review instead of finishing it.")] = False,
        epoch: Annotated[int | None, Field(description="Refuse unless your claim still has this epoch.")] = None,
    ) -> Result:
        """Finish a task you hold (or send it to review). With gitcoord.health set, that
        command runs in your worktree first and a failure refuses."""
        return t.run(lambda ctx: operations.done(ctx, id, review=review, epoch=epoch))

    @server.tool(annotations=writes)
    def task_add(
        title: Annotated[str, Field(description="One line saying what to do.")],
        id: Annotated[str | None, Field(description="Free text (T-12, github:owner/repo#12); generated when absent.")] = None,
        priority: Annotated[int, Field(description="0 is most urgent; lower first.")] = 2,
        after: Annotated[list[str] | None, Field(description="Only claimable once these tasks are done.")] = None,
        body: Annotated[str | None, Field(description="Longer description.")] = None,
    ) -> Result:
        """Add a task to the shared queue."""
        return t.run(lambda ctx: operations.task_add(
            ctx, id, title, priority=priority, after=after or (), body=body
        ))

    @server.tool(annotations=reads)
    def task_list(
        status: Annotated[list[str] | None, Field(description="Only these states: open, claimed, review, done, blocked.")] = None,
        mine: Annotated[bool, Field(description="Only tasks you hold.")] = False,
    ) -> Result:
        """List tasks, most urgent first (an expired claim counts as open)."""
        return t.run(lambda ctx: operations.task_list(ctx, status=status or (), mine=mine))

    @server.tool(annotations=reads)
    def task_show(
        id: Annotated[str, Field(description="The task id.")],
    ) -> Result:
        """One task: state, claim, dependencies, claim history."""
        return t.run(lambda ctx: operations.task_show(ctx, id))

    @server.tool(annotations=reads)
    def status(
        worktree: Annotated[str | None, Field(description="Only this worktree (a path).")] = None,
        agent: Annotated[str | None, Field(description="Only this agent's worktrees.")] = None,
        since: Annotated[str, Field(description=f"How far back refusals and bypasses count, {_OPTIONAL_DURATION}.")] = "1d",
        predict: Annotated[bool, Field(description="Predict merge conflicts between worktrees and against the integration ref.")] = True,
    ) -> Result:
        """Who holds what and where work collides: worktrees, claims, leases, and
        conflicts (merge conflicts predicted), each with its severity and next step."""
        return t.run(lambda ctx: operations.status(ctx, worktree=worktree, agent=agent, since=since, predict=predict))

    @server.tool(annotations=writes)
    def send(
        text: Annotated[str, Field(description="The message.")],
        to: Annotated[str | None, Field(description="An agent name.")] = None,
        all: Annotated[bool, Field(description="To everyone instead.")] = False,
    ) -> Result:
        """Send a message to an agent (by name) or to everyone."""
        return t.run(lambda ctx: operations.send(ctx, to, text, to_all=all))

    @server.tool(annotations=writes)
    def inbox(
        ack: Annotated[bool, Field(description="Mark the messages shown as read.")] = False,
        all: Annotated[bool, Field(description="Include messages already read.")] = False,
    ) -> Result:
        """Messages to you: your worktree, your agent name, everyone."""
        return t.run(lambda ctx: operations.inbox(ctx, ack=ack, all_=all))

    @server.tool(annotations=reads)
    def log(
        agent: Annotated[str | None, Field(description="Only this agent's events.")] = None,
        path: Annotated[str | None, Field(description="Only events about this path (or below it).")] = None,
        task: Annotated[str | None, Field(description="Only events about this task.")] = None,
        kind: Annotated[list[str] | None, Field(description="Only these kinds, e.g. lease.denied.")] = None,
        since: Annotated[str | None, Field(description=f"Newer than {_OPTIONAL_DURATION} ago, or an ISO time.")] = None,
        limit: Annotated[int | None, Field(description="At most this many (the newest).", ge=1)] = None,
    ) -> Result:
        """The audit trail: every grant, denial, release, claim change, commit and refusal."""
        return t.run(lambda ctx: operations.log(
            ctx, agent=agent, path=path, task=task, kinds=kind or (), since=since, limit=limit
        ))

    return server


def serve(directory: str | None, agent: str | None) -> None:
    """Serve over stdio until the client closes stdin."""
    build(os.path.abspath(directory or os.getcwd()), agent).run("stdio")
