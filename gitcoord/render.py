"""Output: JSON documents and human tables. Only the CLI layer calls this.

rich is imported lazily, so a command printing JSON or one line starts fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from gitcoord.durations import format_duration

__all__ = ["format_duration"]
from gitcoord.models import Event, Lease, iso


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def emit_jsonl(docs: Sequence[Any]) -> None:
    for d in docs:
        sys.stdout.write(json.dumps(d, sort_keys=False, ensure_ascii=False) + "\n")


def error(message: str, code: str, as_json: bool, details: dict[str, Any] | None = None) -> None:
    if as_json:
        err: dict[str, Any] = {"code": code, "message": message}
        if details:
            err["details"] = details
        sys.stderr.write(json.dumps({"error": err}) + "\n")
    else:
        sys.stderr.write(f"gitcoord: {message}\n")


def line(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def warn(text: str) -> None:
    sys.stderr.write(text + "\n")


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=False)
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, box=None)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*[_esc(x) for x in r])
    console.print(t)


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def lease_rows(leases: Sequence[Lease], now: float, *, history: bool = False) -> list[list[str]]:
    rows = []
    for lease in leases:
        h = lease.holder
        active = lease.is_active(now)
        if active:
            state = f"in {format_duration(lease.expires_at - now)}"
        elif lease.state == "active":
            state = "expired"
        else:
            state = lease.state
        row = [
            str(lease.id),
            lease.pattern,
            "exclusive" if lease.exclusive else "shared",
            h.agent,
            h.worktree,
            state,
            str(lease.epoch),
            lease.task or "",
            lease.reason or "",
        ]
        rows.append(row)
    return rows


LEASE_COLUMNS = ["id", "pattern", "mode", "agent", "worktree", "expires", "epoch", "task", "reason"]


def event_rows(events: Sequence[Event]) -> list[list[str]]:
    rows = []
    for e in events:
        rows.append(
            [
                str(e.seq),
                iso(e.ts) or "",
                e.kind,
                e.agent or "",
                e.subject or "",
                " ".join(s[:12] for s in e.shas),
            ]
        )
    return rows


EVENT_COLUMNS = ["seq", "time", "kind", "agent", "subject", "shas"]
