"""Moving a project: a SQLite store's whole content into an empty PostgreSQL project
(``gitcoord store migrate --to URL``).

Both stores hold the same tables (the same migrations), so every row is copied as it is:
ids, epochs, counters, the audit trail with its hashes and the paths each event is recorded
under, in the order SQLite kept them. The SQLite side is read in one snapshot; the copy is
one PostgreSQL transaction under the project's lock, so a failure midway leaves the target
as it was, and a target that already holds anything is refused (exit 2).
"""

from __future__ import annotations

from typing import Any

from gitcoord.errors import BadInput
from gitcoord.store.base import Store

# Parents before children (foreign keys); each table's rows in SQLite's rowid order.
# schema_migrations is not copied: the target records its own.
TABLES = (
    "meta", "counters", "events", "event_paths", "leases", "reads", "bindings", "messages",
    "message_acks", "tasks", "task_deps", "claims", "commits", "rewrites",
)
# Tables whose rows say the project is in use; meta and counters hold a new project's
# starting values.
CONTENT = tuple(t for t in TABLES if t not in ("meta", "counters"))
IDENTITIES = (("leases", "id"), ("tasks", "seq"), ("messages", "id"))
WITHOUT_ROWID = frozenset({"task_deps", "message_acks"})  # (ordered by their keys)
BATCH = 1000


def copy_project(source: Store, target: Store) -> dict[str, int]:
    """Copy everything in ``source`` (SQLite) into ``target`` (an empty PostgreSQL project)
    in one transaction; the number of rows copied per table."""
    from gitcoord.store.postgres import PostgresStore
    from gitcoord.store.sqlite import SQLiteStore

    if not isinstance(source, SQLiteStore):
        raise BadInput(
            f"store migrate copies a SQLite store, and this repository's store is {source.location}"
            " (unset GITCOORD_STORE / gitcoord.store to name the SQLite one)"
        )
    if not isinstance(target, PostgresStore):
        raise BadInput(f"store migrate copies into PostgreSQL: --to needs a postgresql:// URL, not {target.location}")
    rows = _read(source)
    copied: dict[str, int] = {}
    with target.transaction():
        conn = target.conn  # (the transaction's connection)
        used = {t: n for t in CONTENT if (n := int(conn.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]))}
        if used:
            what = ", ".join(f"{n} {t}" for t, n in used.items())
            raise BadInput(
                f"the PostgreSQL project {target.project!r} at {target.location} is not empty ({what}):"
                " store migrate copies into an empty project only (choose another gitcoord.project)"
            )
        for table in ("meta", "counters"):  # (a new project's starting values)
            conn.execute(f"DELETE FROM {table}")
        for table in TABLES:
            columns, values = rows[table]
            if values:
                marks = ",".join("?" * len(columns))
                sql = f"INSERT INTO {table}({', '.join(columns)}) VALUES ({marks})"
                for i in range(0, len(values), BATCH):
                    conn.executemany(sql, values[i : i + BATCH])
            copied[table] = len(values)
        for table, column in IDENTITIES:  # new rows continue after the copied ids
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                f" coalesce(max({column}), 0) + 1, false) FROM {table}"
            )
    return copied


def _read(source: Any) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every copied table's columns and rows, from one snapshot."""
    out: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
    with source.snapshot() as tx:
        for table in TABLES:
            order = "1, 2" if table in WITHOUT_ROWID else "rowid"
            cur = tx.conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
            columns = [d[0] for d in cur.description]
            out[table] = (columns, [tuple(r) for r in cur.fetchall()])
    return out
