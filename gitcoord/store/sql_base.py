"""What the SQL mixins of :mod:`gitcoord.store.sql_tx` share: the connection they run on
and one query helper."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol


class Cursor(Protocol):
    rowcount: int

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the shared SQL needs of a connection: ``sqlite3.Connection`` as it is."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, params: Any, /) -> Any: ...


class SQLBase:
    """The connection and the one query helper the SQL mixins share."""

    conn: Connection
    now: float

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        rows: list[Any] = self.conn.execute(sql, params).fetchall()
        return rows


def chunks(items: Sequence[Any], n: int = 500) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most ``n`` (bound parameters per statement stay few)."""
    for i in range(0, len(items), n):
        yield items[i : i + n]
