"""Persistence. Only this package runs SQL.

``open_store(common_dir, url, ...)`` returns the configured :class:`Store`: SQLite at
``<git-common-dir>/gitcoord/gitcoord.db`` by default, PostgreSQL for a ``postgresql://`` URL
(psycopg is imported only then).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from gitcoord.store.base import SCHEMA_VERSION, Store, Tx

__all__ = [
    "SCHEMA_VERSION", "Store", "Tx", "open_store", "sqlite_file", "sqlite_path", "sqlite_url_path",
    "store_dir",
]


def __getattr__(name: str) -> Any:
    # The interface is imported on first use, so the commit hook's fast path
    # (gitcoord.store.hookread) loads without the dataclass-heavy core (nor pathlib or
    # typing: this module is what it imports first).
    if name in ("SCHEMA_VERSION", "Store", "Tx"):
        from gitcoord.store import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def store_dir(common_dir: Path) -> Path:
    return common_dir / "gitcoord"


def sqlite_path(common_dir: Path) -> Path:
    return store_dir(common_dir) / "gitcoord.db"


def open_store(
    common_dir: Path,
    url: str | None = None,
    *,
    create: bool = True,
    anew: bool = False,
    project: str | None = None,
    connect_timeout: float | None = None,
) -> Store:
    """Open (and migrate) the store for the project whose common git dir is given: SQLite
    (the default, or a path / ``sqlite://`` URL), or PostgreSQL (a ``postgresql://`` URL;
    ``project`` names the project there)."""
    from gitcoord.store.pgurl import is_postgres

    if is_postgres(url):
        assert url is not None
        try:
            from gitcoord.store.postgres import PostgresStore
        except ImportError as e:  # psycopg missing
            from gitcoord.errors import StoreError

            raise StoreError(
                f"the PostgreSQL store needs psycopg ({e}): pip install 'gitcoord[postgres]'"
            ) from None
        return PostgresStore.open(
            url, project, create=create, anew=anew, connect_timeout=connect_timeout
        )
    from gitcoord.store.sqlite import SQLiteStore

    path = sqlite_path(common_dir) if not url else sqlite_url_path(url, common_dir)
    return SQLiteStore.open(path, create=create, anew=anew)


def sqlite_url_path(url: str, common_dir: Path) -> Path:
    """A shared SQLite store: ``sqlite:///abs/path.db`` or a filesystem path (``~``
    expanded; relative paths are relative to the common git dir). Lets a bare repository
    and its clones on one host share one store (``git config gitcoord.store PATH``)."""
    from pathlib import Path

    return Path(sqlite_file(str(common_dir), url))


def sqlite_file(common_dir: str, url: str | None) -> str:
    """The SQLite database file of the store ``url`` (None: the default store), as
    :func:`sqlite_path` and :func:`sqlite_url_path` find it, without pathlib."""
    if not url:
        return os.path.join(common_dir, "gitcoord", "gitcoord.db")
    raw = url[len("sqlite://") :] if url.startswith("sqlite://") else url
    p = os.path.expanduser(raw)
    return p if os.path.isabs(p) else os.path.join(common_dir, p)
