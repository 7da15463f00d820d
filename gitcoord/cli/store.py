"""CLI commands about the store itself: ``store info``, ``store migrate``."""

from __future__ import annotations

import click

from gitcoord import render
from gitcoord.cli.base import Obj, pass_obj


@click.group("store")
def store_group() -> None:
    """The store: which one, where, which schema; moving a project to PostgreSQL.

    \b
    Example:
      gitcoord store info
    """


@store_group.command()
@pass_obj
def info(obj: Obj) -> None:
    """Show which store this repository uses (SQLite path or PostgreSQL URL, never a
    password), its project and schema version.

    \b
    Example:
      gitcoord store info --json
    """
    from gitcoord import setup

    result = setup.store_info(obj.ctx())
    if obj.json:
        render.emit_json(result)
        return
    labels = {
        "kind": "store",
        "location": "location",
        "project": "project",
        "schema": "schema",
        "schema_version": "schema version",
        "role": "role",
        "server_version": "server version",
    }
    for key, label in labels.items():
        if result.get(key) is not None:
            render.line(f"{label + ':':16}{result[key]}")


@store_group.command()
@click.option("--to", "url", required=True, metavar="URL", help="The PostgreSQL store: postgresql://user@host/db (keep the password in ~/.pgpass or PGPASSWORD).")
@click.option("--project", metavar="NAME", help="The PostgreSQL project to fill (default: gitcoord.project / GITCOORD_PROJECT).")
@pass_obj
def migrate(obj: Obj, url: str, project: str | None) -> None:
    """Copy this repository's SQLite store (leases, claims, tasks, messages, bindings, the
    whole audit trail) into an empty PostgreSQL project, in one transaction.

    A project that already holds anything is refused (exit 2); a failure midway leaves it
    as it was. The repository keeps its SQLite store until you point it at the copy.

    \b
    Example:
      gitcoord store migrate --to postgresql://agent@db.example.com/gitcoord --project acme
    """
    from gitcoord import setup

    result = setup.store_migrate(obj.ctx(), url, project)
    if obj.json:
        render.emit_json(result)
        return
    rows = sum(result["copied"].values())
    render.line(
        f"copied {rows} row(s), {result['copied']['events']} audit event(s), from {result['from']}"
        f" to {result['to']} (project {result['project']})"
    )
    verify = result["verify"]
    render.line(
        f"audit trail of the copy: {'intact' if verify['ok'] else 'BROKEN'}, {verify['checked']} event(s) verified"
    )
    render.line(
        f"to use it: git config gitcoord.store '{result['to']}' && git config gitcoord.project '{result['project']}'"
    )


COMMANDS = [store_group]
