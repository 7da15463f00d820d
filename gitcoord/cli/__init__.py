"""The command line: a click group whose commands live one family a module in this
package (setup, leases, status, predict, audit, tasks, worktrees, messages, hooks, check,
agents, store), thin over the core; output through :mod:`gitcoord.render`.

The command modules import :mod:`gitcoord.cli.base` (what they share), never this module,
so the package has no import loop: this module imports them and adds their commands.
"""

from __future__ import annotations

import os
import sys

import click

from gitcoord import __version__, render
from gitcoord.cli import (
    agents,
    audit,
    check,
    hooks,
    leases,
    messages,
    predict,
    setup,
    status,
    store,
    tasks,
    worktrees,
)
from gitcoord.cli.base import Obj, complete_dirs, env_json, pass_obj, state
from gitcoord.errors import BadInput, GitcoordError

__all__ = ["Obj", "cli", "main", "pass_obj"]


def _version(cctx: click.Context) -> None:
    """``--version``: one line, or one JSON document under --json / GITCOORD_JSON=1."""
    if state["json"]:
        render.emit_json({"version": __version__})
    else:
        render.line(f"gitcoord, version {__version__}")
    cctx.exit(0)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--json", "json_out", is_flag=True, help="Print one JSON document on stdout (also GITCOORD_JSON=1).")
@click.option("--agent", metavar="NAME", help="Act as this agent (else GITCOORD_AGENT, the worktree's bound name, its directory name).")
@click.option("-C", "directory", metavar="DIR", shell_complete=complete_dirs, help="Run as if started in DIR.")
@click.option(
    "--version", is_flag=True, expose_value=False, is_eager=True,
    callback=lambda c, _p, v: _version(c) if v and not c.resilient_parsing else None,  # (not while completing)
    help="Show the version and exit.",
)
@click.pass_context
def cli(cctx: click.Context, json_out: bool, agent: str | None, directory: str | None) -> None:
    """Coordinate agents and humans working in one git repository.

    Lease the paths you will change, and gitcoord's git hooks refuse commits that
    touch paths another worktree leases; every step lands in an audit trail.

    \b
    Example:
      gitcoord init
      gitcoord lease src/foo.py --ttl 45m --reason "refactor parser"
    """
    json_out = json_out or env_json()
    state["json"] = json_out
    if directory is not None:
        if not os.path.isdir(directory):
            why = "is not a directory" if os.path.exists(directory) else "does not exist"
            raise click.BadParameter(f"{directory!r} {why}", param_hint="'-C'")
        directory = os.path.abspath(directory)
    obj = Obj(json_out, agent, directory)
    cctx.obj = obj
    cctx.call_on_close(obj.close)


# ---------------------------------------------------------------- entry point
def _check_utf8(args: list[str]) -> None:
    """Every argument is text the store can hold: bytes that are not UTF-8 (which Python
    hands over as lone surrogates) are bad input, refused before anything happens."""
    for i, arg in enumerate(args, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "backslashreplace").decode("utf-8")
            raise BadInput(f"argument {i} ({shown}) is not valid UTF-8") from None


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    # `--json` is accepted anywhere before `--` (gitcoord status --json), and known before
    # click parses anything, so even a usage error is reported as JSON.
    end = args.index("--") if "--" in args else len(args)
    if "--json" in args[:end]:
        args = ["--json"] + [a for i, a in enumerate(args) if not (a == "--json" and i < end)]
    state["json"] = "--json" in args[:1] or env_json()
    try:
        _check_utf8(args)
        cli.main(args=args, prog_name="gitcoord", standalone_mode=False)
    except GitcoordError as e:
        render.error(e.message, e.code, bool(state["json"]), e.details)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        render.error("interrupted", "interrupted", bool(state["json"]))
        sys.exit(130)
    except click.exceptions.ClickException as e:
        if state["json"]:
            render.error(e.format_message(), "usage", True)
        else:
            e.show()
        sys.exit(2 if isinstance(e, click.UsageError) else e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except BrokenPipeError:
        sys.exit(0)
    except Exception as e:  # internal error: no traceback for the user, a crash log instead
        from gitcoord import crash

        render.error(crash.message(e), "internal", bool(state["json"]))
        sys.exit(3)


for _module in (
    setup, leases, status, predict, audit, tasks, worktrees, messages, hooks, check, agents, store
):
    for _command in _module.COMMANDS:
        cli.add_command(_command)
