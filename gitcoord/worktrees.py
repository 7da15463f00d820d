"""Worktrees bound to tasks: ``worktree add TASK`` claims the task for a new worktree on
a new branch from the integration ref and binds the agent; ``worktree remove``
releases what the worktree held (SPEC section 4).

Git runs before or after a transaction, never inside one: ``add`` claims first (so
two agents racing for one task never both create a worktree), then creates the
worktree, and gives the claim back if git fails.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitcoord import audit, claims, gitrepo, leases
from gitcoord.context import Context, _check_agent
from gitcoord.errors import BadInput, Denied, GitcoordError
from gitcoord.gitrepo import GitError
from gitcoord.models import Holder, Lease
from gitcoord.store.base import Tx
from gitcoord.store.tasks_api import Claim, Task


@dataclass
class AddResult:
    path: Path
    branch: str
    base: str
    task: Task
    claim: Claim
    agent: str
    bound: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "branch": self.branch,
            "base": self.base,
            "agent": self.agent,
            "bound": self.bound,
            "task": self.task.id,
            "title": self.task.title,
            "claim": self.claim.to_json(),
        }


@dataclass
class WorktreeInfo:
    path: Path
    branch: str | None
    head: str | None
    agent: str
    bound: bool
    main: bool
    exists: bool
    tasks: list[Task] = field(default_factory=list)
    leases: list[Lease] = field(default_factory=list)

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "branch": self.branch.removeprefix("refs/heads/") if self.branch else None,
            "head": self.head,
            "agent": self.agent,
            "bound": self.bound,
            "main": self.main,
            "exists": self.exists,
            "tasks": [
                {"id": t.id, "title": t.title, "epoch": t.epoch, "active": t.claim_active(now)}
                for t in self.tasks
            ],
            "leases": [lease.pattern for lease in self.leases],
        }


@dataclass
class RemoveResult:
    path: Path
    leases: list[Lease]
    claims: list[Claim]
    forced: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "forced": self.forced,
            "released_leases": [lease.to_json() for lease in self.leases],
            "released_claims": [c.to_json() for c in self.claims],
        }


def slug(task_id: str) -> str:
    """A path- and branch-safe form of a task id (``github:o/r#12`` -> ``github-o-r-12``)."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", task_id).strip("-.")
    s = re.sub(r"\.{2,}", ".", s)
    return (s or "task")[:80].removesuffix(".lock")


def _entries(ctx: Context) -> list[gitrepo.WorktreeEntry]:
    """The repository's worktrees, paths resolved like a holder's (the main one first)."""
    return [e._replace(path=e.path.resolve()) for e in ctx.repo.worktree_entries()]


def _main_root(ctx: Context) -> Path:
    entries = _entries(ctx)
    return entries[0].path if entries else ctx.repo.root


def _new_path(ctx: Context, raw: str | None, task_id: str) -> Path:
    if raw is not None:
        if not raw.strip() or any(c in raw for c in "\0\n\r"):
            raise BadInput(f"bad --path {raw!r}")
        p = Path(raw).expanduser()
        if not p.is_absolute():
            p = ctx.cwd / p
    else:
        main = _main_root(ctx)
        p = main.parent / f"{main.name}-{slug(task_id)}"
    p = p.resolve()
    if p.exists() and (not p.is_dir() or any(p.iterdir())):
        raise BadInput(f"{p} already exists and is not an empty directory (choose --path)")
    parent = p.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise BadInput(f"cannot make {p}: {parent} is not a directory (choose --path)")
    for e in _entries(ctx):
        if e.path == p:
            raise BadInput(
                f"{p} is still registered as a worktree (its directory is gone):"
                " run `git worktree prune` or choose --path"
            )
        if p.is_relative_to(e.path) and not ctx.repo.for_worktree(e.path).ignores(p):
            raise BadInput(
                f"{p} is inside the worktree {e.path}, where git would see the new worktree"
                " as untracked files: choose --path outside it, or add it to .gitignore there"
            )
    return p


def add(
    ctx: Context,
    task_id: str,
    *,
    agent: str | None = None,
    path: str | None = None,
    branch: str | None = None,
    ttl: float | None = None,
) -> AddResult:
    """Claim TASK for a new worktree on a new branch from the integration ref."""
    tid = claims.check_task_id(task_id)
    name = _check_agent(agent) if agent else None
    new_path = _new_path(ctx, path, tid)
    new_branch = branch if branch is not None else f"task/{slug(tid)}"
    if not new_branch.strip() or not ctx.repo.branch_name_ok(new_branch):
        raise BadInput(f"bad branch name {new_branch!r}")
    if ctx.repo.rev_parse(f"refs/heads/{new_branch}") is not None:
        raise BadInput(f"branch {new_branch} already exists (choose --branch)")
    integration = ctx.integration_ref()
    base = ctx.repo.rev_parse(integration)
    if base is None:
        raise BadInput(f"the integration ref {integration} does not resolve to a commit")
    actor = ctx.holder()
    holder = Holder(worktree=str(new_path), host=ctx.host, agent=name or new_path.name)

    result = claims.claim_ids(ctx, [tid], ttl=ttl, holder=holder, via="worktree")
    task, claim = result.claimed[0] if result.claimed else result.renewed[0]
    try:
        ctx.repo.worktree_add(new_path, new_branch, base)
    except GitcoordError:
        # Undo only what this command did: its own grant (not a claim the same path
        # held before, nor one another process made for it meanwhile), and the branch
        # git may have made before failing (if it still points at the base).
        ctx.repo.delete_branch(new_branch, expect=base)
        if result.claimed:
            _undo_add(ctx, actor, holder, claim.epoch)
        raise
    store = ctx.store()
    with store.transaction() as tx:
        if name:
            tx.set_binding(holder.worktree, holder.host, name)
        audit.append(
            tx,
            "worktree.added",
            holder,
            subject=str(new_path),
            shas=[base],
            details={
                "branch": new_branch,
                "base": base,
                "integration_ref": integration,
                "epoch": claim.epoch,
                "by": actor.to_json(),
            },
            task=tid,
        )
    return AddResult(new_path, new_branch, base, task, claim, holder.agent, bool(name))


def _undo_add(ctx: Context, actor: Holder, holder: Holder, epoch: int) -> None:
    claims.write_turn(
        ctx,
        lambda tx: claims.release_holder(
            tx, actor, holder, state="released", why="worktree creation failed", epochs={epoch}
        ),
    )


def list_worktrees(ctx: Context) -> tuple[list[WorktreeInfo], float]:
    entries = _entries(ctx)
    host = ctx.host
    with ctx.store().snapshot() as tx:
        now = tx.now
        bindings = {b.worktree: b.agent for b in tx.bindings() if b.host == host}
        claimed = [
            t for t in tx.tasks(states=("claimed",)) if t.holder is not None and t.holder.host == host
        ]
        active = [lease for lease in tx.leases(active_only=True) if lease.holder.host == host]
    out: list[WorktreeInfo] = []
    for i, e in enumerate(entries):
        key = str(e.path)
        agent = bindings.get(key)
        out.append(
            WorktreeInfo(
                path=e.path,
                branch=e.branch,
                head=e.head,
                agent=agent or e.path.name,
                bound=agent is not None,
                main=i == 0,
                exists=e.path.is_dir(),
                tasks=[t for t in claimed if t.holder is not None and t.holder.worktree == key],
                leases=[lease for lease in active if lease.holder.worktree == key],
            )
        )
    return out, now


def _resolve_target(ctx: Context, target: str) -> Path:
    """A worktree named by path (or a task id whose claim lives in a worktree)."""
    entries = _entries(ctx)
    if not target.strip() or any(c in target for c in "\0\n\r"):
        raise BadInput(f"bad worktree {target!r}")
    candidate = Path(target).expanduser()
    if not candidate.is_absolute():
        candidate = ctx.cwd / candidate
    candidate = candidate.resolve()
    paths = [e.path for e in entries]
    if candidate in paths:
        return candidate
    with ctx.store().snapshot() as tx:
        task = tx.get_task(target.strip())
    if task is not None and task.holder is not None and Path(task.holder.worktree) in paths:
        return Path(task.holder.worktree)
    raise BadInput(f"no worktree {target} (see `gitcoord worktree list`)")


def remove(ctx: Context, target: str, *, force: bool = False) -> RemoveResult:
    """Remove a linked worktree and release its leases and claims. Refuses a worktree
    with uncommitted changes unless ``force``."""
    path = _resolve_target(ctx, target)
    entries = _entries(ctx)
    if entries and entries[0].path == path:
        raise BadInput(f"{path} is the main worktree; it cannot be removed")
    if not force and any(e.path == path and e.locked for e in entries):
        raise Denied(f"{path} is locked (git worktree unlock it first, or use --force)")
    if path.is_dir() and not force:
        dirty = gitrepo.discover(path).dirty_paths()
        if dirty:
            shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
            raise Denied(
                f"{path} has uncommitted changes ({shown}); commit or stash them,"
                " or use --force to discard them"
            )
    actor = ctx.holder()
    host = ctx.host

    def op(tx: Tx) -> RemoveResult:
        agent = tx.get_binding(str(path), host) or path.name
        gone = Holder(worktree=str(path), host=host, agent=agent)
        released_leases: list[Lease] = []
        for lease in tx.leases(active_only=True, holder=gone):
            released_leases.append(
                leases.end_lease(
                    tx, lease, actor, state="released", kind="lease.released", why="worktree remove"
                )
            )
        released = claims.release_holder(tx, actor, gone, state="released", why="worktree removed")
        tx.set_binding(str(path), host, None)
        audit.append(
            tx,
            "worktree.removed",
            actor,
            subject=str(path),
            details={
                "forced": force,
                "leases": [lease.id for lease in released_leases],
                "claims": [c.epoch for c in released],
                "agent": agent,
            },
        )
        # Last, inside the transaction, so that if git refuses the store keeps everything,
        # and if the store cannot be written the worktree stays: git moves the worktree
        # aside (a rename, with git's own checks), or, where it will not move it (a mount
        # point, a submodule inside), removes it in place. A missing directory: git forgets
        # just this worktree.
        if path.is_dir():
            to = path.with_name(f".{path.name}.gitcoord-removing-{os.getpid()}")
            try:
                ctx.repo.worktree_move(path, to, force=force)
                aside.append(to)
            except GitError:
                ctx.repo.worktree_remove(path, force=force)
        else:
            ctx.repo.worktree_remove(path, force=force)
        return RemoveResult(path, released_leases, released, force)

    aside: list[Path] = []
    try:
        result = claims.write_turn(ctx, op)
    except BaseException:
        if aside:  # moved, but the store did not commit: move it back
            ctx.repo.worktree_move(aside[0], path, force=True)
        raise
    if aside:  # the files go after the commit, outside the store's lock (a big tree takes a while)
        ctx.repo.worktree_remove(aside[0], force=True)
    return result
