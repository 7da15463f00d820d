"""CLI commands for leases and read sets: ``lease``, ``renew``, ``release``, ``leases``,
``read``."""

from __future__ import annotations

import click

from gitcoord import render
from gitcoord.cli.base import Obj, complete_paths, pass_obj, warn_unenforced


@click.command()
@click.argument("patterns", nargs=-1, required=True, shell_complete=complete_paths)
@click.option("--ttl", metavar="DURATION", help="How long the lease lasts (default 30m or gitcoord.leaseTtl).")
@click.option("--shared", is_flag=True, help="Shared lease: conflicts only with exclusive ones.")
@click.option("--reason", metavar="TEXT", help="Why you need it; shown to anyone denied.")
@click.option("--task", metavar="ID", help="The task this work belongs to.")
@click.option("--wait", metavar="DURATION", help="Keep trying this long before giving up.")
@pass_obj
def lease(
    obj: Obj,
    patterns: tuple[str, ...],
    ttl: str | None,
    shared: bool,
    reason: str | None,
    task: str | None,
    wait: str | None,
) -> None:
    """Lease paths: files, directories (subtree) or globs. All or nothing.

    Exits 1 naming each conflict (pattern, holder, expiry, reason, witness path).

    \b
    Example:
      gitcoord lease src/foo.py 'docs/**/*.md' --ttl 45m --reason "api rename"
    """
    from gitcoord import operations

    out = operations.lease(
        obj.ctx(), patterns, ttl=ttl, shared=shared, reason=reason, task=task, wait=wait
    )
    if obj.json:
        render.emit_json(out.doc)
        warn_unenforced(obj)
        return
    result = out.data
    for lease_ in result.granted:
        render.line(f"granted {lease_.pattern} (lease {lease_.id}, epoch {lease_.epoch}, {'exclusive' if lease_.exclusive else 'shared'}, expires in {render.format_duration(lease_.expires_at - result.now)})")
    for lease_ in result.renewed:
        render.line(f"renewed {lease_.pattern} (lease {lease_.id}, epoch {lease_.epoch}, expires in {render.format_duration(lease_.expires_at - result.now)})")
    if result.warning:
        render.warn(result.warning)
    warn_unenforced(obj)


@click.command()
@click.option("--ttl", metavar="DURATION", help="New TTL (default: each lease's own).")
@pass_obj
def renew(obj: Obj, ttl: str | None) -> None:
    """Extend all of your leases and claims (heartbeat).

    Exits 1 if a claim of yours expired and was re-granted to someone else
    (superseded): stop working on that task.

    \b
    Example:
      gitcoord renew --ttl 1h
    """
    from gitcoord import operations

    out = operations.renew(obj.ctx(), ttl=ttl)
    renewed, claimed = out.data
    if obj.json:
        render.emit_json(out.doc)
    else:
        render.line(f"renewed {len(renewed)} lease(s) and {len(claimed.renewed)} claim(s)")
    if out.refusal is not None:
        raise out.refusal
    warn_unenforced(obj)


@click.command()
@click.argument("patterns", nargs=-1, shell_complete=complete_paths)
@click.option("--all", "all_", is_flag=True, help="Release every lease you hold.")
@click.option("--force", is_flag=True, help="Release another holder's lease (audited; they get a message).")
@pass_obj
def release(obj: Obj, patterns: tuple[str, ...], all_: bool, force: bool) -> None:
    """Release leases.

    \b
    Example:
      gitcoord release src/foo.py
      gitcoord release --all
    """
    from gitcoord import operations

    out = operations.release(obj.ctx(), patterns, all_=all_, force=force)
    released = out.data
    if obj.json:
        render.emit_json(out.doc)
    else:
        for lease_ in released:
            who = "" if not force else f" (held by {lease_.holder.agent})"
            render.line(f"released {lease_.pattern}{who}")
        if not released:
            render.line("nothing to release")


@click.command("leases")
@click.option("--all", "all_", is_flag=True, help="Include released and expired leases (history).")
@click.option("--mine", is_flag=True, help="Only your leases.")
@pass_obj
def leases_cmd(obj: Obj, all_: bool, mine: bool) -> None:
    """List active leases.

    \b
    Example:
      gitcoord leases --mine
    """
    from gitcoord import operations

    out = operations.list_leases(obj.ctx(), all_=all_, mine=mine)
    items, now = out.data
    if obj.json:
        render.emit_json(out.doc)
    elif not items:
        render.line("no leases")
    else:
        render.table(None, render.LEASE_COLUMNS, render.lease_rows(items, now))
    warn_unenforced(obj)


@click.command()
@click.argument("paths", nargs=-1, required=True, shell_complete=complete_paths)
@pass_obj
def read(obj: Obj, paths: tuple[str, ...]) -> None:
    """Record the blobs you based your work on (read set), without leasing.

    Hooks warn (or, with gitcoord.strictReads, refuse) when the integration
    line changes them.

    \b
    Example:
      gitcoord read src/api.py src/models.py
    """
    from gitcoord import operations

    out = operations.read(obj.ctx(), paths)
    if obj.json:
        render.emit_json(out.doc)
    else:
        for r in out.data:
            render.line(f"read {r.path} @ {r.blob[:12] if r.blob else '(absent)'}")


COMMANDS = [lease, renew, release, leases_cmd, read]
