"""``gitcoord init``, ``gitcoord gc``, ``gitcoord store info`` and ``store migrate``."""

from __future__ import annotations

from typing import Any

from gitcoord import leases
from gitcoord.context import Context
from gitcoord.errors import BadInput
from gitcoord.models import Lease
from gitcoord.store.tasks_api import Claim


def init(ctx: Context) -> dict[str, Any]:
    """Create the store and install the hooks (``hooks``: what :func:`install.install` did)."""
    from gitcoord import install

    store = ctx.store(create=True, anew=True)
    hooks = install.install(ctx.repo)
    return {
        "store": store.location,
        "schema_version": store.schema_version(),
        "started_anew": store.started_anew,
        "hooks": hooks.to_json(),
    }


def store_info(ctx: Context) -> dict[str, Any]:
    """Which store this repository uses (an existing one: nothing is made): its ``kind``
    (sqlite | postgresql), ``location`` (a path, or the URL without its password),
    ``project`` (PostgreSQL) and ``schema_version``; PostgreSQL adds its ``schema``,
    the database ``role`` and the ``server_version``."""
    return ctx.store(create=False).info()


def store_migrate(ctx: Context, url: str, project: str | None = None) -> dict[str, Any]:
    """Copy this repository's SQLite store into an empty PostgreSQL project (``url``;
    ``project``, else ``gitcoord.project``), in one transaction; then verify the copy's
    audit trail. The repository keeps using its SQLite store until configured otherwise."""
    from gitcoord import audit
    from gitcoord.store import open_store
    from gitcoord.store.pgurl import is_postgres
    from gitcoord.store.transfer import copy_project

    if not is_postgres(url):
        raise BadInput(f"--to needs a postgresql:// URL, not {url!r}")
    source = ctx.store(create=False)
    target = open_store(
        ctx.repo.common_dir,
        url,
        project=project or ctx.settings.project,
        connect_timeout=ctx.settings.connect_timeout,
    )
    try:
        copied = copy_project(source, target)
        with target.snapshot() as tx:
            verified = audit.verify(tx)
        info = target.info()
    finally:
        target.close()
    return {
        "from": source.location,
        "to": info["location"],
        "project": info["project"],
        "copied": copied,
        "verify": verified.to_json(),
    }


def gc(ctx: Context) -> tuple[list[Lease], list[Claim]]:
    """Reap, in one transaction, the active leases and the claims of worktrees that no
    longer exist on this host (void leases), and forget their agent bindings."""
    from gitcoord import claims

    holder = ctx.holder()
    with ctx.store().transaction() as tx:
        reaped = [
            leases.end_lease(
                tx, lease, holder, state="reaped", kind="lease.reaped", why="worktree no longer exists"
            )
            for lease in tx.leases(active_only=True)
            if leases.void(lease, ctx.repo.common_dir)
        ]
        return reaped, claims.reap_vanished(tx, holder, ctx.repo.common_dir)
