"""What every command module of the CLI shares: the object the group hands each command,
and whether output is JSON. Below every command module; imports none of them."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

# Whether this run prints JSON: known before click parses anything (see gitcoord.cli.main),
# so even a usage error is reported as JSON.
state: dict[str, Any] = {"json": False}


def env_json() -> bool:
    return os.environ.get("GITCOORD_JSON", "").strip().lower() in ("1", "true", "yes", "on")


class Obj:
    """What the group hands each command."""

    def __init__(self, json_out: bool, agent: str | None, directory: str | None) -> None:
        self.json = json_out
        self.agent = agent
        self.directory = directory
        self._ctx: Any = None

    def ctx(self) -> Any:
        if self._ctx is None:
            from gitcoord import context

            self._ctx = context.load(self.directory, agent=self.agent)
        return self._ctx

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.close()


pass_obj = click.make_pass_decorator(Obj)


def passthrough(name: str, help_text: str, entry: Callable[[], Callable[[list[str]], int]]) -> click.Command:
    """A hidden command handing its arguments to a hook entry point (``entry()`` imports
    it). ``python -m gitcoord`` and the console script route these names there without
    click; this one serves ``gitcoord -C DIR <name> ...`` and the like."""

    @click.command(
        name,
        hidden=True,
        help=help_text,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        sys.exit(entry()(list(args)))

    return command


# Shell completion (click's own: _GITCOORD_COMPLETE=bash_source gitcoord): arguments that
# name paths complete as the shell completes files or directories.
def complete_paths(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    from click.shell_completion import CompletionItem

    return [CompletionItem(incomplete, type="file")]


def complete_dirs(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    from click.shell_completion import CompletionItem

    return [CompletionItem(incomplete, type="dir")]


def warn_unenforced(obj: Obj) -> None:
    """After a command that grants or lists leases succeeds: say on stderr (under --json
    too, leaving stdout the one document) when this repository's hooks do not enforce them."""
    from gitcoord import install, render

    problem = install.problems(obj.ctx().repo)
    if problem is not None:
        render.warn(f"warning: {problem.summary()}; run `{problem.next_step}`")
