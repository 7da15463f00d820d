"""CLI commands for the git hooks: ``install`` and ``uninstall`` (the work is done by
:mod:`gitcoord.install`)."""

from __future__ import annotations

import os
from typing import Any

import click

from gitcoord import render
from gitcoord.cli.base import Obj, pass_obj
from gitcoord.errors import BadInput


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
@click.option(
    "--claude",
    is_flag=True,
    help="Instead: merge the edit guard (a PreToolUse hook running `gitcoord guard`) into "
    "this worktree's .claude/settings.json, keeping everything else in it.",
)
@pass_obj
def install_cmd(obj: Obj, server: bool, force: bool, claude: bool) -> None:
    """Install gitcoord's git hooks, for every worktree. Safe to run again.

    The hooks go where git runs them (`git rev-parse --git-path hooks`,
    honouring core.hooksPath). A hook already there is kept as <hook>.legacy
    and runs first; `gitcoord uninstall` puts it back.

    With --claude, Claude Code's edit guard instead: before an Edit, Write,
    MultiEdit or NotebookEdit, `gitcoord guard` denies a path another worktree
    leases (with gitcoord.autoLease=true it leases an unleased one first).

    \b
    Example:
      gitcoord install
      gitcoord install --claude
      gitcoord -C /srv/project.git install --server
    """
    from gitcoord import install

    if claude:
        if server or force:
            raise BadInput("--claude goes alone (it does not touch the git hooks)")
        _claude(obj, remove=False)
        return

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
@click.option("--claude", is_flag=True, help="Instead: remove the edit guard's entry (only ours) from .claude/settings.json.")
@pass_obj
def uninstall_cmd(obj: Obj, claude: bool) -> None:
    """Remove gitcoord's git hooks and restore the hooks they replaced.

    \b
    Example:
      gitcoord uninstall
      gitcoord uninstall --claude
    """
    from gitcoord import install

    if claude:
        _claude(obj, remove=True)
        return

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


def _claude(obj: Obj, *, remove: bool) -> None:
    from gitcoord import operations

    out = operations.claude_guard(obj.ctx(), remove=remove)
    if obj.json:
        render.emit_json(out.doc)
        return
    r = out.data
    where = render.short_path(str(r.path))
    render.line(
        {
            "added": f"edit guard added to {where}: PreToolUse {r.to_json()['matcher']} runs `{r.command}`",
            "updated": f"edit guard updated in {where}: PreToolUse runs `{r.command}`",
            "unchanged": f"edit guard already in {where}",
            "removed": f"edit guard removed from {where}",
            "absent": f"no edit guard in {where}",
        }[r.action]
    )


COMMANDS = [install_cmd, uninstall_cmd]
