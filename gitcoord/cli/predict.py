"""CLI command ``predict``: which worktrees will conflict when merged (SPEC section 10)."""

from __future__ import annotations

import click

from gitcoord import render
from gitcoord.cli.base import Obj, pass_obj


@click.command("predict")
@click.option("--against", metavar="REF", help="Predict each worktree's merge into REF (default: the integration ref).")
@click.option("--json", "json_out", is_flag=True, help="Print one JSON document (same as gitcoord --json predict).")
@pass_obj
def predict_cmd(obj: Obj, against: str | None, json_out: bool) -> None:
    """Predict merge conflicts between worktrees, and of each one with the integration ref.

    Every pair of worktrees whose work (commits since the fork and uncommitted changes)
    touches a common path, and each worktree behind the integration ref (or REF), is
    merged with git merge-tree (git 2.38 or later) without touching any worktree or
    index. Results are cached by the two trees and their merge base. Exits 0 whatever
    it predicts; `gitcoord status --exit-code` fails on predicted conflicts.

    \b
    Example:
      gitcoord predict
      gitcoord predict --against origin/main --json
    """
    from gitcoord import status as status_mod
    from gitcoord.errors import EnvironmentFailure
    from gitcoord.gitrepo import MERGE_TREE_NEEDS

    report = status_mod.collect(obj.ctx(), against=against)
    too_old = next((x.error for x in report.predictions or [] if (x.error or "").startswith(MERGE_TREE_NEEDS)), None)
    if too_old:
        raise EnvironmentFailure(too_old)
    if obj.json or json_out:
        render.emit_json(status_mod.predictions_json(report))
    else:
        render.print_predictions(report)


COMMANDS = [predict_cmd]
