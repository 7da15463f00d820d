"""The edit guard's decisions (SPEC section 9): the pre-commit lease rules applied to one
path an agent is about to write, before any work is done.

The guard's entry point (:mod:`gitcoord.guard`) answers the common case itself -- no
other holder's lease anywhere near the path -- and calls :func:`decide` only for a real
candidate, for ``gitcoord.autoLease``, or when it cannot tell. Here:

* another holder's active lease covers the path (the commit rule: unless both leases
  are shared) -> deny, naming the holder, the pattern, the expiry and the reason, and
  what to do; recorded as ``edit.denied``;
* with ``gitcoord.autoLease=true``, a path no lease of this worktree covers is leased
  first (exclusive, the default TTL, a normal grant); a denied lease denies the edit;
* else allow.

Nothing here prints: the entry point turns a :class:`Decision` into Claude Code's answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitcoord import audit, enforce, leases
from gitcoord.context import Context
from gitcoord.durations import format_duration
from gitcoord.errors import Denied
from gitcoord.models import Conflict, Holder, Lease

EDIT_DENIED = "edit.denied"
WILDCARDS = "\\*?["


@dataclass(frozen=True)
class Decision:
    allow: bool
    reason: str = ""  # why an edit is denied, and what to do
    leased: list[Lease] = field(default_factory=list)  # what autoLease granted


def _what_to_do(path: str, holders: list[str]) -> str:
    who = holders[0] if holders else "the holder"
    return (
        f"Do not edit it now. Pick other work; or wait for it: gitcoord lease {_quoted(path)}"
        f" --wait 30m; or ask: gitcoord send {_quoted(who)} 'need {path}, when can you release it?'"
    )


def _quoted(text: str) -> str:
    import shlex

    return shlex.quote(text)


def denial_text(path: str, conflicts: list[tuple[Lease, str]], now: float) -> str:
    """The reason a model reads: each lease that covers the path (holder, pattern, mode,
    expiry, reason), then what to do."""
    lines = []
    for lease, _witness in conflicts:
        h = lease.holder
        why = f", reason: {lease.reason}" if lease.reason else ""
        mode = "exclusive" if lease.exclusive else "shared"
        lines.append(
            f"gitcoord: {path} is leased by {h.agent} ({h.worktree} on {h.host}) as {lease.pattern}"
            f" [{mode}], expires in {format_duration(lease.expires_at - now)}{why}."
        )
    holders = list(dict.fromkeys(lease.holder.agent for lease, _ in conflicts))
    return " ".join(lines) + " " + _what_to_do(path, holders)


def decide(ctx: Context, path: str, *, tool: str = "", session: str | None = None) -> Decision:
    """The decision for writing the repository path ``path`` (relative to the top of
    ``ctx``'s worktree), made as ``ctx``'s holder."""
    holder = ctx.holder()
    with ctx.store().snapshot() as tx:
        now = tx.now
        candidates = tx.lease_candidates(enforce.lease_keys([path]), [])
    live = [lease for lease in candidates if not leases.void(lease, ctx.repo.common_dir)]
    violations = enforce.check_lease_rules(
        enforce.Subject(paths=(path,), holder=holder), live, now=now
    )
    conflicts = [(v.lease, path) for v in violations if v.rule == enforce.LEASE and v.lease is not None]
    if conflicts:
        reason = denial_text(path, conflicts, now)
        found = [Conflict(path, lease, witness).to_json(now) for lease, witness in conflicts]
        _record_denial(ctx, holder, path, tool, session, reason, found)
        return Decision(False, reason)
    mine = [
        lease for lease in live
        if lease.holder.same_place(holder) and lease.is_active(now) and _covers(lease, path)
    ]
    if not ctx.settings.auto_lease or mine:
        return Decision(True)
    escaped = "".join("\\" + c if c in WILDCARDS else c for c in path)  # the file, not a glob
    try:
        result = leases.acquire(ctx, [escaped], reason=f"auto-leased for an edit ({tool or 'edit'})")
    except Denied as e:
        found = e.details.get("conflicts", [])
        reason = "gitcoord: autoLease could not lease it: " + e.message.replace("\n  ", " ") + " " + _what_to_do(
            path, [c["lease"]["holder"]["agent"] for c in found]
        )
        _record_denial(ctx, holder, path, tool, session, reason, found)
        return Decision(False, reason)
    return Decision(True, leased=result.granted + result.renewed)


def _covers(lease: Lease, path: str) -> bool:
    from gitcoord import paths

    return paths.matches(paths.stored_pattern(lease.pattern, lease.kind, lease.key), path)


def _record_denial(
    ctx: Context,
    holder: Holder,
    path: str,
    tool: str,
    session: str | None,
    reason: str,
    conflicts: list[dict[str, Any]],
) -> None:
    with ctx.store().transaction() as tx:
        audit.append(
            tx,
            EDIT_DENIED,
            holder,
            subject=path,
            details={"tool": tool, "session_id": session, "reason": reason, "conflicts": conflicts},
            paths=[path],
        )
