"""Leases: acquire (all or nothing), renew, release, expire, list, read sets (SPEC section 3)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gitcoord import audit, paths, staleness
from gitcoord.context import Context
from gitcoord.durations import format_duration
from gitcoord.errors import BadInput, Denied, NotFound
from gitcoord.gitrepo import host_id, locked_worktrees
from gitcoord.models import Conflict, Holder, Lease, Read
from gitcoord.paths import Pattern
from gitcoord.staleness import StalePath, stale_paths
from gitcoord.store.base import NewLease, Tx

MAX_BASE_BLOBS = 2000  # beyond this a lease's base is its commit alone (blobs derivable from it)


STALE_LISTED = 20  # a grant's document details the first stale files; the warning counts all


@dataclass
class GrantResult:
    granted: list[Lease] = field(default_factory=list)
    renewed: list[Lease] = field(default_factory=list)
    stale: list[StalePath] = field(default_factory=list)
    warning: str | None = None  # the one warning about every stale file (None: none)
    now: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "granted": [lease.to_json(self.now) for lease in self.granted],
            "renewed": [lease.to_json(self.now) for lease in self.renewed],
            "stale": [s.to_json() for s in self.stale[:STALE_LISTED]],
            "stale_count": len(self.stale),
            "warning": self.warning,
        }


def reap_expired(tx: Tx) -> list[Lease]:
    """Mark leases whose expiry passed as expired, one audit event each."""
    reaped: list[Lease] = []
    for lease in tx.due_expired_leases():
        updated = tx.update_lease(lease.id, state="expired")
        audit.lease_event(
            tx,
            "lease.expired",
            lease.holder,
            lease,
            {"lease_id": lease.id, "epoch": lease.epoch, "expired_at": lease.expires_at},
            task=lease.task,
        )
        reaped.append(updated)
    return reaped


def vanished(holder: Holder, common_dir: str | os.PathLike[str]) -> bool:
    """The holder's worktree no longer exists (only worktrees on this host can be looked
    at): its directory is gone, or is no worktree any more (no ``.git``); unless git
    keeps it registered as locked (absent, not gone)."""
    if holder.host != host_id():
        return False
    w = holder.worktree
    # a worktree has its .git; a bare repository's holder is the git dir itself
    if os.path.isdir(w) and (os.path.exists(os.path.join(w, ".git")) or os.path.isfile(os.path.join(w, "HEAD"))):
        return False
    return os.path.realpath(w) not in locked_worktrees(common_dir)


def void(lease: Lease, common_dir: str | os.PathLike[str]) -> bool:
    """A lease whose worktree no longer exists is void (SPEC section 3): never enforced,
    and reaped by ``gitcoord gc``."""
    return vanished(lease.holder, common_dir)


def candidate_keys(p: Pattern) -> tuple[list[str], list[str]]:
    """Index keys that could hold a lease overlapping ``p``: its ancestors and itself,
    plus (for directories and globs) everything below its key."""
    keys = [*paths.ancestors(p.key), p.key] if p.key else [""]
    subtree = [p.key] if p.kind in ("dir", "glob") else []
    return keys, subtree


def find_conflicts(
    tx: Tx, holder: Holder, patterns: Sequence[Pattern], exclusive: bool, common_dir: str | os.PathLike[str]
) -> list[Conflict]:
    out: list[Conflict] = []
    for p in patterns:
        keys, subtree = candidate_keys(p)
        for lease in tx.lease_candidates(keys, subtree):
            if lease.holder.same_place(holder) or void(lease, common_dir):
                continue
            if not exclusive and not lease.exclusive:
                continue  # shared conflicts only with exclusive
            witness = paths.overlap(p, paths.stored_pattern(lease.pattern, lease.kind, lease.key))
            if witness is not None:
                out.append(Conflict(requested=p.text, lease=lease, witness=witness))
    return out


def _base(ctx: Context, patterns: Sequence[Pattern]) -> tuple[str | None, dict[str, str]]:
    """The integration commit and the blob of each leased file there."""
    repo = ctx.repo
    tip = repo.rev_parse(ctx.integration_ref())
    if tip is None:
        return None, {}
    blobs: dict[str, str] = {}
    files = [p.text for p in patterns if p.kind == "file"]
    for path, blob in repo.blobs_at(tip, files).items():
        if blob:
            blobs[path] = blob
    for p in patterns:
        if p.kind == "file" or len(blobs) >= MAX_BASE_BLOBS:
            continue
        for path, blob in repo.ls_files_under(tip, p.key).items():
            if paths.matches(p, path):
                blobs[path] = blob
                if len(blobs) >= MAX_BASE_BLOBS:
                    break
    return tip, blobs


def parse_patterns(ctx: Context, raw: Sequence[str]) -> list[Pattern]:
    if not raw:
        raise BadInput("no pattern given")
    out: dict[str, Pattern] = {}
    for r in raw:
        p = paths.parse_pattern(r, cwd=ctx.cwd, root=ctx.repo.root)
        out.setdefault(p.text, p)
    return list(out.values())


def acquire(
    ctx: Context,
    raw_patterns: Sequence[str],
    *,
    exclusive: bool = True,
    ttl: float | None = None,
    reason: str | None = None,
    task: str | None = None,
    wait: float | None = None,
) -> GrantResult:
    """Grant every pattern or none. Raises :class:`Denied` naming each conflict."""
    from gitcoord.claims import check_task_id  # (a free-text id, maybe of another tracker)

    patterns = parse_patterns(ctx, raw_patterns)
    task = None if task is None else check_task_id(task)
    holder = ctx.holder()
    ttl = ttl if ttl is not None else ctx.settings.lease_ttl
    base_commit, base_blobs = _base(ctx, patterns)
    deadline = time.monotonic() + wait if wait else None
    delay = 0.05
    while True:
        # The last attempt (no --wait, or the deadline reached) records its denial.
        last = deadline is None or time.monotonic() >= deadline
        result = _try_acquire(
            ctx, holder, patterns, exclusive, ttl, reason, task, base_commit, base_blobs,
            record_denial=last,
        )
        if isinstance(result, GrantResult):
            break
        if last:
            raise _denied(*result)
        assert deadline is not None
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 1.0)
    leased = [paths.stored_pattern(lease.pattern, lease.kind, lease.key) for lease in result.granted + result.renewed]
    result.stale = stale_paths(
        ctx.repo,
        ctx.repo.head(),
        ctx.integration_ref(),
        lambda path: any(paths.matches(p, path) for p in leased),
    )
    if result.stale:
        newest = staleness.stale_commits(ctx.repo, result.stale)
        with ctx.store().snapshot() as tx:
            named = staleness.origins(ctx.repo, tx, newest[: staleness.COMMITS_SHOWN])
        result.warning = staleness.stale_warning(result.stale, named, len(newest))
    return result


def _try_acquire(
    ctx: Context,
    holder: Holder,
    patterns: Sequence[Pattern],
    exclusive: bool,
    ttl: float,
    reason: str | None,
    task: str | None,
    base_commit: str | None,
    base_blobs: dict[str, str],
    *,
    record_denial: bool,
) -> GrantResult | tuple[list[Conflict], float]:
    with ctx.store().transaction() as tx:
        reap_expired(tx)
        conflicts = find_conflicts(tx, holder, patterns, exclusive, ctx.repo.common_dir)
        if conflicts:
            if record_denial:
                audit.append(
                    tx,
                    "lease.denied",
                    holder,
                    subject=" ".join(p.text for p in patterns),
                    details={
                        "mode": "exclusive" if exclusive else "shared",
                        "conflicts": [c.to_json(tx.now) for c in conflicts],
                    },
                    task=task,
                    paths=[c.witness for c in conflicts],
                )
            return conflicts, tx.now
        # (by text and kind: the file `a*b`, typed a\*b, and the glob a*b share a text)
        mine = {(lease.pattern, lease.kind): lease for lease in tx.leases(active_only=True, holder=holder)}
        result = GrantResult(now=tx.now)
        for p in patterns:
            blobs = {k: v for k, v in base_blobs.items() if paths.matches(p, k)}
            existing = mine.get((p.text, p.kind))
            if existing is not None:
                changed_mode = existing.exclusive != exclusive
                lease = tx.update_lease(
                    existing.id,
                    expires_at=tx.now + ttl,
                    ttl=ttl,
                    exclusive=exclusive,
                    reason=reason,
                    task=task,
                    epoch=tx.next_epoch() if changed_mode else None,
                )
                audit.lease_event(
                    tx,
                    "lease.renewed",
                    holder,
                    lease,
                    {
                        "lease_id": lease.id,
                        "epoch": lease.epoch,
                        "expires_at": lease.expires_at,
                        "mode": "exclusive" if exclusive else "shared",
                        "via": "re-lease",
                    },
                    task=task,
                )
                result.renewed.append(lease)
                continue
            lease = tx.insert_lease(
                NewLease(
                    pattern=p.text,
                    kind=p.kind,
                    key=p.key,
                    exclusive=exclusive,
                    holder=holder,
                    epoch=tx.next_epoch(),
                    ttl=ttl,
                    expires_at=tx.now + ttl,
                    reason=reason,
                    task=task,
                    base_commit=base_commit,
                    base_blobs=blobs,
                )
            )
            audit.lease_event(
                tx,
                "lease.granted",
                holder,
                lease,
                {
                    "lease_id": lease.id,
                    "epoch": lease.epoch,
                    "mode": "exclusive" if exclusive else "shared",
                    "expires_at": lease.expires_at,
                    "reason": reason,
                    "base_commit": base_commit,
                },
                task=task,
                shas=[base_commit] if base_commit else [],
            )
            result.granted.append(lease)
        return result


def _denied(conflicts: list[Conflict], now: float) -> Denied:
    lines = []
    for c in conflicts:
        h = c.lease.holder
        why = f", reason: {c.lease.reason}" if c.lease.reason else ""
        mode = "exclusive" if c.lease.exclusive else "shared"
        lines.append(
            f"{c.requested}: held by {h.agent} ({h.worktree} on {h.host}) as {c.lease.pattern}"
            f" [{mode}], expires in {format_duration(c.lease.expires_at - now)}{why}; e.g. {c.witness}"
        )
    return Denied(
        "lease denied:\n  " + "\n  ".join(lines),
        details={"conflicts": [c.to_json(now) for c in conflicts]},
    )


def renew(ctx: Context, *, ttl: float | None = None) -> list[Lease]:
    """Extend every active lease of the caller (heartbeat)."""
    holder = ctx.holder()
    with ctx.store().transaction() as tx:
        reap_expired(tx)
        out: list[Lease] = []
        for lease in tx.leases(active_only=True, holder=holder):
            t = ttl if ttl is not None else tx.lease_ttl(lease.id)
            updated = tx.update_lease(lease.id, expires_at=tx.now + t, ttl=t)
            audit.lease_event(
                tx,
                "lease.renewed",
                holder,
                lease,
                {"lease_id": lease.id, "epoch": lease.epoch, "expires_at": updated.expires_at},
                task=lease.task,
            )
            out.append(updated)
        return out


def release(
    ctx: Context,
    raw_patterns: Sequence[str],
    *,
    all_: bool = False,
    force: bool = False,
) -> list[Lease]:
    """Release the caller's leases (all, or those named). ``force`` releases another
    holder's lease on exactly the named pattern, audited, leaving that holder a message."""
    if all_ and raw_patterns:
        raise BadInput("give patterns or --all, not both")
    if not all_ and not raw_patterns:
        raise BadInput("nothing to release: name patterns or use --all")
    if all_ and force:
        raise BadInput("--force releases named patterns only")
    holder = ctx.holder()
    wanted = [(p.text, p.kind) for p in parse_patterns(ctx, raw_patterns)] if raw_patterns else []
    with ctx.store().transaction() as tx:
        reap_expired(tx)
        active = tx.leases(active_only=True)
        mine = [lease for lease in active if lease.holder.same_place(holder)]
        if all_:
            targets = mine
        else:
            targets = []
            for text, kind in wanted:
                own = [lease for lease in mine if (lease.pattern, lease.kind) == (text, kind)]
                if own:
                    targets += own
                    continue
                others = [lease for lease in active if (lease.pattern, lease.kind) == (text, kind)]
                if others and force:
                    targets += others
                elif others:
                    h = others[0].holder
                    raise Denied(
                        f"{text} is leased by {h.agent} ({h.worktree}), not by you;"
                        " use --force to release another holder's lease (audited)"
                    )
                else:
                    raise NotFound(f"no active lease on {text}")
        out: list[Lease] = []
        for lease in targets:
            forced = not lease.holder.same_place(holder)
            kind = "lease.force_released" if forced else "lease.released"
            updated = end_lease(tx, lease, holder, state="released", kind=kind)
            if forced:
                tx.tell(
                    holder,
                    lease.holder,
                    f"{holder.agent} force-released your lease on {lease.pattern}"
                    f" (lease {lease.id}, epoch {lease.epoch})",
                )
            out.append(updated)
        return out


def end_lease(
    tx: Tx, lease: Lease, actor: Holder, *, state: str, kind: str, why: str | None = None
) -> Lease:
    """End one lease (released, reaped, ...) with its audit event, in the caller's transaction."""
    updated = tx.update_lease(lease.id, state=state)
    details: dict[str, Any] = {
        "lease_id": lease.id,
        "epoch": lease.epoch,
        "former_holder": lease.holder.to_json(),
    }
    if why:
        details["why"] = why
    audit.lease_event(tx, kind, actor, lease, details, task=lease.task)
    return updated


def list_leases(ctx: Context, *, all_: bool = False, mine: bool = False) -> tuple[list[Lease], float]:
    holder = ctx.holder() if mine else None
    with ctx.store().snapshot() as tx:
        return tx.leases(active_only=not all_, holder=holder), tx.now


def record_reads(ctx: Context, raw_paths: Sequence[str]) -> list[Read]:
    """Record, without leasing, the blobs this worktree based its work on (at HEAD)."""
    if not raw_paths:
        raise BadInput("no path given")
    norm = list(
        dict.fromkeys(paths.normalize_path(r, cwd=ctx.cwd, root=ctx.repo.root) for r in raw_paths)
    )
    for path in norm:  # a read set holds files: a directory or a glob would record nothing
        full = ctx.repo.root / path  # (os.path: a name too long for the OS is no file, no error)
        if os.path.isdir(full) and not os.path.islink(full):
            raise BadInput(f"{path} is a directory: read takes files (say, $(git ls-files {path}))")
        if any(c in path for c in "*?[") and not os.path.lexists(full):
            raise BadInput(f"no file {path}: read takes file paths, not globs")
    head = ctx.repo.head()
    blobs = ctx.repo.blobs_at(head, norm)
    holder = ctx.holder()
    with ctx.store().transaction() as tx:
        out = []
        for path in norm:
            read = Read(path=path, blob=blobs[path], commit=head, holder=holder, read_at=tx.now)
            tx.upsert_read(read)
            out.append(read)
        audit.append(
            tx,
            "read.recorded",
            holder,
            subject=" ".join(norm),
            shas=[head] if head else [],
            details={"reads": {r.path: r.blob for r in out}},
            paths=norm,
        )
        return out
