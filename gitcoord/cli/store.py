"""CLI commands about the store itself: ``store info``."""

from __future__ import annotations

import click

from gitcoord import render
from gitcoord.cli.base import Obj, pass_obj


@click.group("store")
def store_group() -> None:
    """The store: which one, where, which schema.

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


COMMANDS = [store_group]
