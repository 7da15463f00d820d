"""Output: JSON documents and human tables. Only the CLI layer calls this.

rich is imported lazily, so a command printing JSON or one line starts fast.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from gitcoord.durations import format_duration

__all__ = ["format_duration"]
from gitcoord.models import Event, Lease, iso


def emit_json(doc: Any) -> None:
    """One JSON document: indented on a terminal, compact otherwise (json's C encoder
    only runs without ``indent``; 10,000 leases encode ten times faster that way)."""
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(doc, indent=indent, ensure_ascii=False) + "\n")


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


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    no_wrap: Sequence[str] = ("id", "seq", "pattern", "path", "time", "kind", "expires", "subject", "shas"),
) -> None:
    """A plain table (colour only on a terminal); columns empty in every row are left out."""
    from rich.console import Console
    from rich.table import Table

    keep = [i for i, _ in enumerate(columns) if any(r[i] for r in rows)]
    # On a terminal, its width; piped (to grep, a file, an agent), never cut or fold a
    # value: the full line, as wide as it needs (rich would assume 80 columns).
    wide = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 100_000
    console = Console(highlight=False, soft_wrap=False, width=wide)
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, box=None)
    for i in keep:
        t.add_column(columns[i], overflow="fold", no_wrap=columns[i] in no_wrap)
    for r in rows:
        t.add_row(*[_esc(r[i]) for i in keep])
    console.print(t)


def protocol_written(files: Sequence[dict[str, str]]) -> None:
    """What ``gitcoord agents`` did to each file."""
    for f in files:
        line(f"protocol for agents {f['action']}: {short_path(f['path'])}")


def short_path(path: str) -> str:
    """A worktree path as a person would type it from here (relative when shorter)."""
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if len(rel) < len(path) else path


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def lease_rows(leases: Sequence[Lease], now: float) -> list[list[str]]:
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
            short_path(h.worktree),
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
                " ".join(s[:10] for s in e.shas),
            ]
        )
    return rows


EVENT_COLUMNS = ["seq", "time", "kind", "agent", "subject", "shas"]


# ---------------------------------------------------------------- status
_SEVERITY_STYLE = {"error": ("✗", "bold red"), "warning": ("!", "yellow"), "info": ("·", "dim")}
STATUS_MAX_LEASES = 20  # the status view lists the soonest to expire; `gitcoord leases` lists all


def status_view(report: Any) -> Any:
    """A rich renderable for :class:`gitcoord.status.StatusReport` (readable at 80 columns)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from gitcoord.models import iso as _iso

    now = report.now
    parts: list[Any] = []
    tip = report.integration_tip[:10] if report.integration_tip else "(missing)"
    ref = report.integration_ref.removeprefix("refs/heads/")
    n_err = sum(c.severity == "error" for c in report.conflicts)
    n_warn = sum(c.severity == "warning" for c in report.conflicts)
    head = Text()
    head.append("gitcoord status", style="bold")
    head.append(f"  integration {ref} @ {tip}  ·  {_iso(now)}")
    parts.append(head)
    verdict = Text()
    if report.conflicts:
        verdict.append(f"{len(report.conflicts)} conflict(s): ", style="bold")
        verdict.append(f"{n_err} error(s)", style="bold red" if n_err else "")
        verdict.append(", ")
        verdict.append(f"{n_warn} warning(s)", style="yellow" if n_warn else "")
        n_info = len(report.conflicts) - n_err - n_warn
        if n_info:
            verdict.append(f", {n_info} info")
    else:
        verdict.append("no conflicts", style="bold green")
    parts.append(verdict)

    if report.conflicts:
        parts.append(Text("\nConflicts", style="bold underline"))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for c in report.conflicts:
            mark, style = _SEVERITY_STYLE.get(c.severity, ("·", ""))
            body = Text()
            body.append(f"{c.kind}: ", style="bold")
            body.append(c.summary)
            body.append("\nnext: ", style="dim")
            body.append(c.next_step, style="cyan")
            grid.add_row(Text(f" {mark} {c.severity}", style=style), body)
        parts.append(grid)

    parts.append(Text("\nWorktrees", style="bold underline"))
    wt = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for col in ("worktree", "branch", "agent", "task", "+/-", "dirty", "active"):
        wt.add_column(col, overflow="fold", no_wrap=col in ("+/-", "dirty", "active"))
    for w in report.worktrees:
        last = format_duration(now - w.last_activity) + " ago" if w.last_activity else "-"
        if not w.exists:
            last = "missing"
        wt.add_row(
            _esc(short_path(w.path)),
            _esc(w.branch or "(detached)"),
            _esc(w.agent),
            _esc(w.task or ""),
            f"+{w.ahead}/-{w.behind}",
            str(len(w.dirty)),
            last,
        )
    parts.append(wt)

    if report.claims:
        parts.append(Text("\nClaims", style="bold underline"))
        ct = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        for col in ("task", "agent", "worktree", "epoch", "expires"):
            ct.add_column(col, overflow="fold", no_wrap=col in ("epoch", "expires"))
        for c in report.claims:
            ct.add_row(
                _esc(c.task),
                _esc(c.holder.agent),
                _esc(short_path(c.holder.worktree)),
                str(c.epoch),
                "in " + format_duration(c.expires_at - now),
            )
        parts.append(ct)

    parts.append(Text("\nLeases", style="bold underline"))
    if report.leases:
        lt = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        for col in ("pattern", "agent", "worktree", "mode", "expires"):
            lt.add_column(col, overflow="fold", no_wrap=col in ("mode", "expires"))
        shown = sorted(report.leases, key=lambda lease: lease.expires_at)[:STATUS_MAX_LEASES]
        for lease in shown:
            lt.add_row(
                _esc(lease.pattern),
                _esc(lease.holder.agent),
                _esc(short_path(lease.holder.worktree)),
                "excl" if lease.exclusive else "shared",
                "in " + format_duration(lease.expires_at - now),
            )
        parts.append(lt)
        hidden = len(report.leases) - len(shown)
        if hidden > 0:
            per_agent: dict[str, int] = {}
            for lease in report.leases:
                per_agent[lease.holder.agent] = per_agent.get(lease.holder.agent, 0) + 1
            top = ", ".join(f"{a} {n:,}" for a, n in sorted(per_agent.items(), key=lambda x: -x[1])[:5])
            parts.append(Text(f" … and {hidden:,} more, expiring later ({top}); all: gitcoord leases", style="dim"))
    else:
        parts.append(Text(" none"))

    if report.messages:
        parts.append(Text("\nMessages waiting", style="bold underline"))
        for who, n in sorted(report.messages.items()):
            parts.append(Text(f" {who}: {n} unread (gitcoord inbox)"))
    return Group(*parts)


def print_status(report: Any) -> None:
    from rich.console import Console

    Console(highlight=False).print(status_view(report))


# ---------------------------------------------------------------- predict
def print_predictions(report: Any) -> None:
    """``gitcoord predict``: one line per merge predicted, conflicts first, each with its
    next step (plain text: it is read by agents as often as by people)."""
    preds = report.predictions or []
    target = report.target
    against = f"{target.label} @ {target.tip[:10]}" if target else "(no integration ref)"
    n_conf = sum(not x.clean and x.error is None for x in preds)
    line(f"gitcoord predict  against {against}  ·  {len(preds)} merge(s) predicted, {n_conf} conflict(s)")
    steps = {
        frozenset(c.worktrees) | ({c.details.get("against")} if len(c.worktrees) == 1 else set()): c.next_step
        for c in report.conflicts
        if c.kind == "merge_conflict"
    }
    order = sorted(preds, key=lambda x: (x.clean, x.error is not None, x.ours, x.theirs))
    for x in order:
        pair = f"{x.ours_label} + {x.theirs_label}"
        if x.error is not None:
            line(f" ? unknown   {pair}: {x.error}")
        elif x.clean:
            line(f" ✓ clean     {pair}")
        else:
            kinds = x.kinds_by_path()
            what = ", ".join(f"{p} ({', '.join(kinds[p]) or 'conflict'})" for p in x.paths)
            line(f" ✗ conflict  {pair}: {what}")
            step = steps.get(frozenset((x.ours, x.theirs)))
            if step:
                line(f"             next: {step}")
    if not preds:
        line(" nothing to predict: no two worktrees changed a common path, none is behind")
