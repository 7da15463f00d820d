"""CLI commands for the git hooks: ``install`` and ``uninstall`` (the work is done by
:mod:`gitcoord.install`)."""

from __future__ import annotations

import os
from typing import Any

import click

from gitcoord import render
from gitcoord.cli.base import Obj, pass_obj


def _hook_line(h: Any) -> str:
    parts = [h.action]
    parts += [n for n in h.notes if not n.startswith("warning:")]
    if h.legacy and not h.moved_aside:
        parts.append(f"runs {os.path.basename(h.legacy)} first")
    return f"  {h.hook:<17} {'; '.join(parts)}"


def _by_dir(hooks: Any) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for h in hooks:
        groups.setdefault(os.path.dirname(h.path), []).append(h)
    return groups


@click.command("install")
@click.option(
    "--server",
    is_flag=True,
    help="Install the server-side pre-receive hook (the default in a bare repository).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Where a foreign hook and a foreign <hook>.legacy both exist, chain the hook "
    "and keep the older .legacy as .legacy.bak.",
)
@pass_obj
def install_cmd(obj: Obj, server: bool, force: bool) -> None:
    """Install gitcoord's git hooks, for every worktree. Safe to run again.

    The hooks go where git runs them (`git rev-parse --git-path hooks`,
    honouring core.hooksPath). A hook already there is kept as <hook>.legacy
    and runs first; `gitcoord uninstall` puts it back.

    \b
    Example:
      gitcoord install
      gitcoord -C /srv/project.git install --server
    """
    from gitcoord import install

    result = install.install(obj.ctx().repo, server=True if server else None, force=force)
    if obj.json:
        render.emit_json(result.to_json())
    else:
        for d, hooks in _by_dir(result.hooks).items():
            render.line(f"gitcoord hooks in {d} (python: {result.python}):")
            for h in hooks:
                render.line(_hook_line(h))
        for n in result.notes:
            render.line(n)
        for w in result.warnings:
            render.warn(f"warning: {w.replace('warning: ', '')}")

@click.command("uninstall")
@pass_obj
def uninstall_cmd(obj: Obj) -> None:
    """Remove gitcoord's git hooks and restore the hooks they replaced.

    \b
    Example:
      gitcoord uninstall
    """
    from gitcoord import install

    result = install.uninstall(obj.ctx().repo)
    if obj.json:
        render.emit_json(result.to_json())
        return
    if not result.hooks:
        render.line("no gitcoord hooks installed")
    for d, hooks in _by_dir(result.hooks).items():
        render.line(f"removed gitcoord hooks from {d}:")
        for h in hooks:
            render.line(f"  {h.hook:<17} removed" + ("; restored your former hook" if h.restored else ""))


COMMANDS = [install_cmd, uninstall_cmd]
