"""CLI commands for worktrees bound to tasks and agents: ``worktree add|list|remove``."""

from __future__ import annotations

import click

from gitcoord import render
from gitcoord.cli.base import Obj, pass_obj, warn_unenforced


# ---------------------------------------------------------------- worktrees
@click.group("worktree")
def worktree_group() -> None:
    """Worktrees bound to tasks and agents (add, list, remove).

    \b
    Example:
      cd "$(gitcoord worktree add T-12 --agent alice)"
    """


@worktree_group.command("add")
@click.argument("task_id", metavar="TASK")
@click.option("--agent", "agent_name", metavar="NAME", help="Bind this agent name to the new worktree.")
@click.option("--path", metavar="PATH", help="Where (default: next to the main worktree, <main>-<task>).")
@click.option("--branch", metavar="BRANCH", help="New branch name (default: task/<task>).")
@click.option("--ttl", metavar="DURATION", help="Claim TTL (default 60m or gitcoord.claimTtl).")
@pass_obj
def worktree_add(obj: Obj, task_id: str, agent_name: str | None, path: str | None, branch: str | None, ttl: str | None) -> None:
    """Claim TASK and create a worktree for it on a new branch from the integration
    ref; bind the agent name; print the path.

    \b
    Example:
      cd "$(gitcoord worktree add T-12 --agent alice)"
    """
    from gitcoord import operations

    agent = agent_name or obj.agent
    out = operations.worktree_add(obj.ctx(), task_id, agent=agent, path=path, branch=branch, ttl=ttl)
    if obj.json:
        render.emit_json(out.doc)
    else:
        render.line(str(out.data.path))


@worktree_group.command("list")
@pass_obj
def worktree_list(obj: Obj) -> None:
    """List worktrees with their agent, branch, claimed tasks and leases.

    \b
    Example:
      gitcoord worktree list
    """
    from gitcoord import operations

    out = operations.worktree_list(obj.ctx())
    items, _now = out.data
    if obj.json:
        render.emit_json(out.doc)
        warn_unenforced(obj)
        return
    rows = []
    for w in items:
        branch = w.branch.removeprefix("refs/heads/") if w.branch else "(detached)"
        rows.append(
            [
                str(w.path) + ("" if w.exists else " (missing)"),
                w.agent,
                branch,
                " ".join(t.id for t in w.tasks),
                " ".join(lease.pattern for lease in w.leases),
            ]
        )
    render.table(None, ["worktree", "agent", "branch", "tasks", "leases"], rows)
    warn_unenforced(obj)


@worktree_group.command("remove")
@click.argument("target", metavar="PATH|TASK")
@click.option("--force", is_flag=True, help="Remove even with uncommitted changes (they are lost).")
@pass_obj
def worktree_remove(obj: Obj, target: str, force: bool) -> None:
    """Remove a worktree and release its leases and claims (its tasks reopen).

    \b
    Example:
      gitcoord worktree remove ../main-T-12
    """
    from gitcoord import operations

    out = operations.worktree_remove(obj.ctx(), target, force=force)
    result = out.data
    if obj.json:
        render.emit_json(out.doc)
    else:
        render.line(
            f"removed {result.path}; released {len(result.leases)} lease(s) and"
            f" {len(result.claims)} claim(s)"
        )


COMMANDS = [worktree_group]
