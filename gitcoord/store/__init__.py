"""Persistence. Only this package runs SQL.

``open_store(repo, settings)`` returns the configured :class:`Store`: SQLite at
``<git-common-dir>/gitcoord/gitcoord.db`` by default.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitcoord.store.base import SCHEMA_VERSION, Store, Tx

__all__ = ["SCHEMA_VERSION", "Store", "Tx", "open_store", "store_dir", "sqlite_path"]


def __getattr__(name: str) -> Any:
    # The interface is imported on first use, so the commit hook's fast path
    # (gitcoord.store.hookread) loads without the dataclass-heavy core.
    if name in ("SCHEMA_VERSION", "Store", "Tx"):
        from gitcoord.store import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def store_dir(common_dir: Path) -> Path:
    return common_dir / "gitcoord"


def sqlite_path(common_dir: Path) -> Path:
    return store_dir(common_dir) / "gitcoord.db"


def open_store(
    common_dir: Path, url: str | None = None, *, create: bool = True, anew: bool = False
) -> Store:
    """Open (and migrate) the store for the project whose common git dir is given."""
    if url and url.startswith(("postgresql://", "postgres://")):
        from gitcoord.errors import StoreError

        raise StoreError("the PostgreSQL store is not available in this version (unset GITCOORD_STORE)")
    from gitcoord.store.sqlite import SQLiteStore

    path = sqlite_path(common_dir) if not url else sqlite_url_path(url, common_dir)
    return SQLiteStore.open(path, create=create, anew=anew)


def sqlite_url_path(url: str, common_dir: Path) -> Path:
    """A shared SQLite store: ``sqlite:///abs/path.db`` or a filesystem path (``~``
    expanded; relative paths are relative to the common git dir). Lets a bare repository
    and its clones on one host share one store (``git config gitcoord.store PATH``)."""
    import os

    raw = url[len("sqlite://") :] if url.startswith("sqlite://") else url
    p = Path(os.path.expanduser(raw))
    return p if p.is_absolute() else (common_dir / p)
