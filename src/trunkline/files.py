"""Files trunkline keeps for applications (recordings), behind one small port.

A :class:`FileStore` holds the bytes; the metadata (owner application, call,
conversation, content type, size, creation time) is a
:class:`~trunkline.store.base.StoredFile` row in the :class:`~trunkline.store.base.Store`,
so ``GET /v1/files/{id}`` can check ownership without touching the disk.

* :class:`DiskFileStore` writes each file under a directory (``[files] dir`` in the
  configuration; by default ``files/`` beside the SQLite database). A file is written
  to a temporary name and renamed into place, then its row is stored: a file the
  store knows of is always complete.
* :class:`MemoryFileStore` keeps the bytes in a dict: the fake for unit tests.

Writing is blocking I/O: on the event loop use :meth:`FileStore.put_async`, which
writes in an executor and stores the row back on the loop thread.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from trunkline.errors import NotFound, StoreError
from trunkline.store.base import Store, StoredFile

#: File ids are uuids in practice; anything that could name another path is refused.
_FILE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")

#: Read size when streaming a file out.
CHUNK = 64 * 1024

#: Content types by recording format (spec/VOICE-API.md §2.4).
CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "ogg": "audio/ogg"}


def valid_file_id(file_id: str) -> bool:
    """True if ``file_id`` can name a file (letters, digits, ``-`` and ``_``; ≤ 128)."""
    return _FILE_ID.fullmatch(file_id) is not None


def _check_id(file_id: str) -> str:
    if not valid_file_id(file_id):
        raise StoreError(f"not a valid file id: {file_id!r}")
    return file_id


class FileStore(Protocol):
    """Where recordings are kept. Every implementation passes ``tests/unit/store/test_files``."""

    def put(
        self,
        file_id: str,
        data: bytes,
        *,
        content_type: str,
        application_id: str | None = None,
        call_uuid: str | None = None,
        conversation_uuid: str | None = None,
    ) -> StoredFile:
        """Store ``data`` as ``file_id`` (replacing any file of that id); blocking."""
        ...

    async def put_async(
        self,
        file_id: str,
        data: bytes,
        *,
        content_type: str,
        application_id: str | None = None,
        call_uuid: str | None = None,
        conversation_uuid: str | None = None,
    ) -> StoredFile:
        """:meth:`put` with the blocking part off the event loop."""
        ...

    def get(self, file_id: str) -> StoredFile | None:
        """The file's metadata, or None if there is no such file (or the id is not valid)."""
        ...

    def read(self, file_id: str) -> bytes:
        """The whole file; :class:`~trunkline.errors.NotFound` if there is none."""
        ...

    def chunks(self, file_id: str, size: int = CHUNK) -> Iterator[bytes]:
        """The file in pieces of at most ``size`` bytes (blocking reads, for a thread)."""
        ...

    def delete(self, file_id: str) -> bool:
        """Remove the file and its metadata; False if there was none."""
        ...


class _Base:
    """What both implementations share: metadata in the store, ids checked."""

    def __init__(self, store: Store, now: Callable[[], float]) -> None:
        self.store = store
        self.now = now

    def _row(
        self,
        file_id: str,
        size: int,
        content_type: str,
        application_id: str | None,
        call_uuid: str | None,
        conversation_uuid: str | None,
    ) -> StoredFile:
        row = StoredFile(
            file_id=file_id,
            content_type=content_type,
            size=size,
            created_at=self.now(),
            application_id=application_id,
            call_uuid=call_uuid,
            conversation_uuid=conversation_uuid,
        )
        self.store.put_file(row)
        return row

    def get(self, file_id: str) -> StoredFile | None:
        if not valid_file_id(file_id):
            return None
        return self.store.get_file(file_id)


class DiskFileStore(_Base):
    """Files in a directory (two-character fan-out: ``root/ab/abcdef…``), rows in ``store``."""

    def __init__(
        self,
        root: str | Path,
        store: Store,
        *,
        now: Callable[[], float] = time.time,
        executor: Executor | None = None,
    ) -> None:
        super().__init__(store, now)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._executor = executor

    def path(self, file_id: str) -> Path:
        """Where ``file_id`` lives on disk (whether or not it exists)."""
        _check_id(file_id)
        return self.root / file_id[:2] / file_id

    def _write(self, file_id: str, data: bytes) -> int:
        target = self.path(file_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return len(data)

    def put(
        self,
        file_id: str,
        data: bytes,
        *,
        content_type: str,
        application_id: str | None = None,
        call_uuid: str | None = None,
        conversation_uuid: str | None = None,
    ) -> StoredFile:
        try:
            size = self._write(file_id, data)
        except OSError as exc:
            raise StoreError(f"cannot write file {file_id}: {exc}") from exc
        return self._row(file_id, size, content_type, application_id, call_uuid, conversation_uuid)

    async def put_async(
        self,
        file_id: str,
        data: bytes,
        *,
        content_type: str,
        application_id: str | None = None,
        call_uuid: str | None = None,
        conversation_uuid: str | None = None,
    ) -> StoredFile:
        _check_id(file_id)
        loop = asyncio.get_running_loop()
        try:
            size = await loop.run_in_executor(self._executor, self._write, file_id, data)
        except OSError as exc:
            raise StoreError(f"cannot write file {file_id}: {exc}") from exc
        # the row is written on the loop thread, like every other store write
        return self._row(file_id, size, content_type, application_id, call_uuid, conversation_uuid)

    def _existing(self, file_id: str) -> Path:
        if self.get(file_id) is None:
            raise NotFound(f"file {file_id} does not exist")
        path = self.path(file_id)
        if not path.is_file():
            raise NotFound(f"file {file_id} is missing from {self.root}")
        return path

    def read(self, file_id: str) -> bytes:
        return self._existing(file_id).read_bytes()

    def chunks(self, file_id: str, size: int = CHUNK) -> Iterator[bytes]:
        path = self._existing(file_id)
        return _read_chunks(path, size)

    def delete(self, file_id: str) -> bool:
        if not valid_file_id(file_id):
            return False
        known = self.store.delete_file(file_id)
        path = self.path(file_id)
        existed = path.is_file()
        path.unlink(missing_ok=True)
        return known or existed


def _read_chunks(path: Path, size: int) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(size):
            yield chunk


class MemoryFileStore(_Base):
    """Files held in memory, rows in ``store``: the fake for unit tests."""

    def __init__(self, store: Store, *, now: Callable[[], float] = time.time) -> None:
        super().__init__(store, now)
        self._data: dict[str, bytes] = {}

    def put(
        self,
        file_id: str,
        data: bytes,
        *,
        content_type: str,
        application_id: str | None = None,
        call_uuid: str | None = None,
        conversation_uuid: str | None = None,
    ) -> StoredFile:
        self._data[_check_id(file_id)] = bytes(data)
        return self._row(
            file_id, len(data), content_type, application_id, call_uuid, conversation_uuid
        )

    async def put_async(
        self,
        file_id: str,
        data: bytes,
        *,
        content_type: str,
        application_id: str | None = None,
        call_uuid: str | None = None,
        conversation_uuid: str | None = None,
    ) -> StoredFile:
        return self.put(
            file_id,
            data,
            content_type=content_type,
            application_id=application_id,
            call_uuid=call_uuid,
            conversation_uuid=conversation_uuid,
        )

    def read(self, file_id: str) -> bytes:
        data = self._data.get(file_id) if self.get(file_id) is not None else None
        if data is None:
            raise NotFound(f"file {file_id} does not exist")
        return data

    def chunks(self, file_id: str, size: int = CHUNK) -> Iterator[bytes]:
        data = self.read(file_id)
        return iter([data[i : i + size] for i in range(0, len(data), size)])

    def delete(self, file_id: str) -> bool:
        if not valid_file_id(file_id):
            return False
        known = self.store.delete_file(file_id)
        return self._data.pop(file_id, None) is not None or known


def default_files_dir(database: str) -> Path | None:
    """Where files go by default: ``files/`` beside a SQLite database file,
    ``var/files`` for a database server, None for a store that does not outlive the
    process (``memory:``, an in-memory SQLite): the caller makes a temporary directory."""
    url = database.strip()
    if url == "memory:":
        return None
    if "://" not in url:
        return Path(url).expanduser().parent / "files"
    if not url.startswith("sqlite"):
        return Path("var") / "files"
    from sqlalchemy.engine import make_url

    path = make_url(url).database or ""
    if path in ("", ":memory:") or path.startswith("file:"):
        return None
    return Path(path).expanduser().parent / "files"


__all__ = [
    "CONTENT_TYPES",
    "DiskFileStore",
    "FileStore",
    "MemoryFileStore",
    "StoredFile",
    "default_files_dir",
    "valid_file_id",
]


def file_id_of(url: str) -> str:
    """The file id in a recording URL trunkline handed out (``…/v1/files/{id}?…``)."""
    return urlsplit(url).path.rsplit("/", 1)[-1]
