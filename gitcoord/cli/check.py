"""CLI commands for enforcement: ``check`` and the hidden ``hook-impl``."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from gitcoord import render
from gitcoord.cli.base import Obj, pass_obj, passthrough


@click.command("check")
@click.option("--staged", is_flag=True, help="The index, as `git commit` would check it (the default).")
@click.option("--range", "range_", metavar="A..B", help="Every commit of A..B (or one commit).")
@click.option("--push", "remote", metavar="REMOTE", help="What pushing the current branch to REMOTE would add.")
@click.option("--json", "json_out", is_flag=True, help="Print one JSON document (same as gitcoord --json check).")
@click.option("--predict", is_flag=True, help="Also warn of merge conflicts predicted with other worktrees (never refuses).")
@pass_obj
def check_cmd(
    obj: Obj, staged: bool, range_: str | None, remote: str | None, json_out: bool, predict: bool
) -> None:
    """Run the hooks' checks by hand: leases, stale reads, read set, requireLease.

    Exits 1 when there are violations (warnings alone exit 0).

    \b
    Example:
      gitcoord check
      gitcoord check --range main..HEAD
      gitcoord check --push origin --json
      gitcoord check --push origin --predict
    """
    from gitcoord import checks, operations

    out = operations.check(obj.ctx(), staged=staged, range_=range_, remote=remote, predict=predict)
    report, predicted = out.data
    if obj.json or json_out:
        render.emit_json(out.doc)
    else:
        if report.warnings:
            render.warn(checks.warning_text(report))
        for c in predicted:
            render.warn(f"gitcoord: warning: {c.kind}: {c.summary}\ngitcoord: hint: {c.next_step}")
        if report.errors:
            render.line(checks.refusal_text(report, "check"))
        else:
            what = f"{len(report.commits())} commit(s)" if report.commits() else "the index"
            render.line(f"ok: {what}, {len(report.paths())} path(s): no violations")
    if report.errors:
        sys.exit(1)


def _hookimpl() -> Callable[[list[str]], int]:
    from gitcoord import hookimpl

    return hookimpl.main


hook_impl = passthrough("hook-impl", "What the installed git hooks run.", _hookimpl)


COMMANDS = [check_cmd, hook_impl]
