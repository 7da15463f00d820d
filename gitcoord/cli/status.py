"""CLI command ``status``: the human view of who holds what and where work collides."""

from __future__ import annotations

import sys
from typing import Any

import click

from gitcoord import render
from gitcoord.cli.base import Obj, pass_obj


def _finite_watch(value: float | None) -> float | None:
    if value is not None and value != value:  # NaN passes every comparison of FloatRange
        raise click.BadParameter("not a number", param_hint="'--watch'")
    return value


@click.command()
@click.option("--exit-code", is_flag=True, help="Exit 1 when any error or warning exists (for CI and scripts).")
@click.option(
    "--watch",
    type=click.FloatRange(min=0.2, max=86400.0),  # (and not NaN: _finite_watch)
    callback=lambda _c, _p, v: _finite_watch(v),
    is_flag=False,
    flag_value=2.0,
    default=None,
    metavar="[SECONDS]",
    help="Refresh in place every SECONDS (default 2) until interrupted.",
)
@click.option("--worktree", "worktree_filter", metavar="PATH", help="Only this worktree.")
@click.option("--agent", "agent_filter", metavar="NAME", help="Only this agent's worktrees.")
@click.option("--since", metavar="WHEN", default="1d", show_default=True, help="How far back refusals, bypasses and violations count.")
@click.option(
    "--predict/--no-predict", default=True, show_default=True,
    help="Predict merge conflicts between worktrees and against the integration ref (git merge-tree).",
)
@pass_obj
def status(
    obj: Obj,
    exit_code: bool,
    watch: float | None,
    worktree_filter: str | None,
    agent_filter: str | None,
    since: str,
    predict: bool,
) -> None:
    """Who holds what, and where work collides: worktrees, claims, leases, conflicts.

    Each conflict names its severity and the next step (a command). Merge conflicts
    are predicted with git merge-tree (git 2.38 or later), results cached.

    \b
    Example:
      gitcoord status
      gitcoord status --json --exit-code
      gitcoord status --watch 5 --agent bob
    """
    from gitcoord import operations

    ctx = obj.ctx()

    def snap() -> Any:
        return operations.status(
            ctx, worktree=worktree_filter, agent=agent_filter, since=since, predict=predict
        ).data

    if watch is not None and not obj.json:
        import time

        from rich.console import Console
        from rich.live import Live

        console = Console(highlight=False)
        try:
            if console.is_terminal:
                with Live(render.status_view(snap()), console=console, auto_refresh=False) as live:
                    while True:
                        time.sleep(watch)
                        live.update(render.status_view(snap()), refresh=True)
            else:  # piped: one frame per refresh, like watch(1) into a file
                while True:
                    console.print(render.status_view(snap()))
                    console.print()
                    sys.stdout.flush()
                    time.sleep(watch)
        except KeyboardInterrupt:
            return
    out = operations.status(ctx, worktree=worktree_filter, agent=agent_filter, since=since, predict=predict)
    report = out.data
    if obj.json:
        render.emit_json(out.doc)
    else:
        render.print_status(report)
    if exit_code and any(c.severity in ("error", "warning") for c in report.conflicts):
        sys.exit(1)


COMMANDS = [status]
