"""CLI commands for messages between holders: ``send`` and ``inbox``."""

from __future__ import annotations

import click

from gitcoord import render
from gitcoord.cli.base import Obj, pass_obj
from gitcoord.models import iso


# ---------------------------------------------------------------- messages
@click.command("send")
@click.argument("words", nargs=-1, required=True, metavar="AGENT|--all TEXT")
@click.option("--all", "to_all", is_flag=True, help="To everyone.")
@pass_obj
def send_cmd(obj: Obj, words: tuple[str, ...], to_all: bool) -> None:
    """Send a message to an agent (by name) or to everyone.

    \b
    Example:
      gitcoord send bob "I need src/api.py for ten minutes"
      gitcoord send --all "main is frozen until 15:00"
    """
    from gitcoord import operations
    from gitcoord.errors import BadInput

    if to_all:
        agent, text = None, " ".join(words)
    else:
        if len(words) < 2:
            raise BadInput("usage: gitcoord send AGENT TEXT (or --all TEXT)")
        agent, text = words[0], " ".join(words[1:])
    out = operations.send(obj.ctx(), agent, text, to_all=to_all)
    if obj.json:
        render.emit_json(out.doc)
    else:
        render.line(f"sent message {out.data.id} to {agent or 'everyone'}")


@click.command("inbox")
@click.option("--ack", is_flag=True, help="Mark the messages shown as read.")
@click.option("--all", "all_", is_flag=True, help="Include messages already read.")
@pass_obj
def inbox_cmd(obj: Obj, ack: bool, all_: bool) -> None:
    """Show messages to you (your worktree, your agent name, everyone).

    \b
    Example:
      gitcoord inbox --ack
    """
    from gitcoord import operations

    out = operations.inbox(obj.ctx(), ack=ack, all_=all_)
    items = out.data
    if obj.json:
        render.emit_json(out.doc)
        return
    if not items:
        render.line("no messages")
        return
    for m in items:
        who = m.sender.agent if m.sender else "gitcoord"
        to = "" if m.to_agent or m.to_worktree else " (to everyone)"
        seen = " (read)" if m.acked_at is not None else ""
        render.line(f"#{m.id} {iso(m.sent_at)} from {who}{to}{seen}: {m.body}")


COMMANDS = [send_cmd, inbox_cmd]
