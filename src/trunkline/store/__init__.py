"""Persistence: applications, numbers, calls, the event outbox and call timelines.

:func:`open_store` picks the implementation from a URL: ``"memory:"`` gives a
:class:`MemoryStore`; ``"sqlite:///path/file.db"``, a bare file path or any other
SQLAlchemy URL (``postgresql+psycopg://…``) gives a :class:`SqlStore`.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL

from trunkline.errors import StoreError
from trunkline.store.base import CallFilter, Order, Store
from trunkline.store.memory import MemoryStore
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
    if "://" in url:
        return SqlStore(url)
    return SqlStore(URL.create("sqlite", database=str(Path(url).expanduser())))


__all__ = [
    "MEMORY_URL",
    "CallFilter",
    "MemoryStore",
    "Order",
    "SqlStore",
    "Store",
    "open_store",
]
