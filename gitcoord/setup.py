"""``gitcoord init`` and ``gitcoord gc``."""

from __future__ import annotations

from typing import Any

from gitcoord import leases
from gitcoord.context import Context
from gitcoord.models import Lease


def init(ctx: Context) -> dict[str, Any]:
    """Create the store and install the hooks (``hooks``: what :func:`install.install` did)."""
    from gitcoord import install

    store = ctx.store(create=True)
    hooks = install.install(ctx.repo)
    return {"store": store.location, "schema_version": store.schema_version(), "hooks": hooks.to_json()}


def gc(ctx: Context) -> list[Lease]:
    """Reap active leases whose worktree no longer exists on this host."""
    # Registered with git and still on disk (a deleted directory voids its leases too).
    alive = {str(p.resolve()) for p in ctx.repo.worktree_paths() if p.is_dir()}
    holder = ctx.holder()
    reaped: list[Lease] = []
    with ctx.store().transaction() as tx:
        for lease in tx.leases(active_only=False):
            if lease.state != "active" or lease.holder.host != holder.host:
                continue
            if lease.holder.worktree in alive:
                continue
            updated = leases.end_lease(
                tx, lease, holder, state="reaped", kind="lease.reaped", why="worktree no longer exists"
            )
            reaped.append(updated)
    return reaped
