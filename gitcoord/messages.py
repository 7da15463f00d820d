"""Messages between holders: ``send AGENT|--all TEXT`` and ``inbox [--ack] [--all]``.

A message goes to an agent name (wherever that agent works), to everyone, or —
from gitcoord itself, e.g. when a lease is force-released or a claim superseded —
to one worktree. A holder's inbox holds what was sent to its worktree, to its agent
name, and to everyone (except its own broadcasts). Acknowledging hides a message;
a broadcast is acknowledged by each recipient separately.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitcoord import audit
from gitcoord.context import Context, _check_agent
from gitcoord.errors import BadInput
from gitcoord.models import Message

MAX_BODY = 64 * 1024


def _check_body(text: str | None) -> str:
    body = (text or "").strip()
    if not body:
        raise BadInput("empty message")
    if "\0" in body:
        raise BadInput("bad message: NUL")
    if len(body) > MAX_BODY:
        raise BadInput(f"message longer than {MAX_BODY} characters")
    return body


def send(ctx: Context, to_agent: str | None, text: str | None, *, to_all: bool = False) -> Message:
    """Send ``text`` to an agent (by name), or to everyone with ``to_all``."""
    if to_all and to_agent:
        raise BadInput("give an agent or --all, not both")
    if not to_all and not to_agent:
        raise BadInput("give an agent name or --all")
    target = _check_agent(to_agent) if to_agent else None
    body = _check_body(text)
    holder = ctx.holder()
    with ctx.store().transaction() as tx:
        msg = tx.insert_message(holder, body, to_agent=target)
        audit.append(
            tx,
            "message.sent",
            holder,
            subject=target or "*",
            details={"message_id": msg.id, "to": target, "body": body},
        )
    return msg


def inbox(ctx: Context, *, ack: bool = False, include_acked: bool = False) -> list[Message]:
    """The caller's messages, oldest first (unacknowledged only unless
    ``include_acked``); ``ack`` acknowledges the unacknowledged ones shown."""
    holder = ctx.holder()
    if not ack:
        with ctx.store().snapshot() as tx:
            return tx.inbox(holder, include_acked=include_acked)
    with ctx.store().transaction() as tx:
        messages = tx.inbox(holder, include_acked=include_acked)
        fresh = [m.id for m in messages if m.acked_at is None]
        if fresh:
            tx.ack_messages(holder, fresh)
        return messages


def ack(ctx: Context, message_ids: Sequence[int]) -> int:
    """Acknowledge these messages of the caller's inbox; returns how many changed."""
    holder = ctx.holder()
    with ctx.store().transaction() as tx:
        mine = {m.id for m in tx.inbox(holder, include_acked=True)}
        unknown = [i for i in message_ids if i not in mine]
        if unknown:
            raise BadInput(f"not in your inbox: {', '.join(map(str, unknown))}")
        return tx.ack_messages(holder, message_ids)
