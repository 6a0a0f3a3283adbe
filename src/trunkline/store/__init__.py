"""Persistence: applications, numbers, calls, the event outbox, call timelines and files.

:func:`open_store` picks the implementation from a URL: ``"memory:"`` gives a
:class:`MemoryStore`; ``"sqlite:///path/file.db"``, a bare file path or any other
SQLAlchemy URL (``postgresql+psycopg://…``) gives a :class:`SqlStore`.

SQLAlchemy is imported only when a SQL store is opened (or ``SqlStore`` is named):
a test on the in-memory store starts without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from trunkline.errors import StoreError
from trunkline.store.base import CallFilter, Order, Store, StoredFile
from trunkline.store.memory import MemoryStore

if TYPE_CHECKING:
    from trunkline.store.sql import SqlStore

MEMORY_URL = "memory:"


def open_store(url: str) -> Store:
    """Open (creating if needed) the store ``url`` names.

    A bare path is a SQLite file, relative to the current directory. For SQLite
    the parent directories and the tables are created when missing.
    """
    url = url.strip()
    if not url:
        raise StoreError("empty database URL")
    if url == MEMORY_URL:
        return MemoryStore()
    from sqlalchemy.engine import URL

    from trunkline.store.sql import SqlStore

    if "://" in url:
        return SqlStore(url)
    return SqlStore(URL.create("sqlite", database=str(Path(url).expanduser())))


def __getattr__(name: str) -> Any:
    if name == "SqlStore":
        from trunkline.store.sql import SqlStore

        return SqlStore
    raise AttributeError(f"module 'trunkline.store' has no attribute {name!r}")


__all__ = [
    "MEMORY_URL",
    "CallFilter",
    "MemoryStore",
    "Order",
    "SqlStore",
    "Store",
    "StoredFile",
    "open_store",
]
