"""File metadata in every Store, and one conformance suite for every FileStore.

The FileStore suite runs against ``MemoryFileStore`` on a ``MemoryStore`` and against
``DiskFileStore`` on a real directory with a real SQLite file; the v2 → v3 migration
opens a database written by the previous schema.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from trunkline.domain import Application
from trunkline.errors import NotFound, StoreError
from trunkline.files import (
    DiskFileStore,
    FileStore,
    MemoryFileStore,
    default_files_dir,
    valid_file_id,
)
from trunkline.store import MemoryStore, SqlStore, Store, StoredFile, open_store
from trunkline.store.schema import SCHEMA_VERSION

APP = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
FILE = "bbbbbbbb-aaaa-cccc-dddd-0123456789ab"
T0 = 1767225600.0


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = open_store("memory:" if request.param == "memory" else f"sqlite:///{tmp_path}/s.db")
    yield s
    s.close()


@pytest.fixture(params=["memory", "disk"])
def files(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FileStore]:
    clock = iter(T0 + i for i in range(1000))
    if request.param == "memory":
        meta: Store = MemoryStore()
        yield MemoryFileStore(meta, now=lambda: next(clock))
    else:
        meta = open_store(f"sqlite:///{tmp_path}/meta.db")
        yield DiskFileStore(tmp_path / "files", meta, now=lambda: next(clock))
    meta.close()


# -- metadata rows in the Store -----------------------------------------------------------


def row(file_id: str = FILE, **kw: object) -> StoredFile:
    fields: dict[str, object] = {
        "file_id": file_id,
        "content_type": "audio/mpeg",
        "size": 12222,
        "created_at": T0,
        "application_id": APP,
        "call_uuid": "leg-1",
        "conversation_uuid": "CON-1",
    }
    fields.update(kw)
    return StoredFile(**fields)  # type: ignore[arg-type]


def test_file_rows_round_trip_replace_and_delete(store: Store) -> None:
    full, bare = row(), row("other", application_id=None, call_uuid=None, conversation_uuid=None)
    store.put_file(full)
    store.put_file(bare)
    assert store.get_file(FILE) == full
    assert store.get_file("other") == bare
    assert store.get_file("missing") is None
    bigger = row(size=3 * 2**32, content_type="audio/wav")  # > 32 bits: a long WAV
    store.put_file(bigger)
    assert store.get_file(FILE) == bigger
    assert store.delete_file(FILE) is True
    assert store.delete_file(FILE) is False
    assert store.get_file(FILE) is None
    assert store.get_file("other") == bare


def test_closed_store_refuses_files(store: Store) -> None:
    store.close()
    with pytest.raises(StoreError):
        store.put_file(row())
    with pytest.raises(StoreError):
        store.get_file(FILE)


def test_file_rows_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "reopen.db"
    first = open_store(str(path))
    first.put_file(row())
    first.close()
    again = open_store(str(path))
    assert again.get_file(FILE) == row()
    again.close()


V2_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (2);
CREATE TABLE applications (id TEXT PRIMARY KEY, name TEXT NOT NULL, answer_url TEXT,
    event_url TEXT, fallback_answer_url TEXT, public_key TEXT, settings TEXT);
CREATE TABLE numbers (number TEXT PRIMARY KEY,
    application_id TEXT REFERENCES applications (id) ON DELETE SET NULL);
CREATE TABLE calls (seq INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL UNIQUE,
    conversation_uuid TEXT NOT NULL, direction TEXT NOT NULL, from_json TEXT NOT NULL,
    to_json TEXT NOT NULL, status TEXT NOT NULL, created_at FLOAT NOT NULL,
    application_id TEXT, start_time FLOAT, end_time FLOAT, duration INTEGER, rate TEXT,
    price TEXT, network TEXT, disconnected_by TEXT);
INSERT INTO applications VALUES ('app-2', 'kept', NULL, NULL, NULL, 'PEM', NULL);
INSERT INTO numbers VALUES ('447700900000', 'app-2');
INSERT INTO calls (uuid, conversation_uuid, direction, from_json, to_json, status, created_at)
    VALUES ('leg-1', 'CON-1', 'inbound', '{"type":"phone"}', '{"type":"phone"}',
            'completed', 1767225600.0);
"""


def test_version_2_file_is_migrated_to_3(tmp_path: Path) -> None:
    """A database written before files existed opens, keeps its rows and gains ``files``."""
    assert SCHEMA_VERSION == 3
    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as raw:
        raw.executescript(V2_SCHEMA)
    store = open_store(str(path))
    assert isinstance(store, SqlStore)
    assert store.get_application("app-2") == Application(id="app-2", name="kept", public_key="PEM")
    assert store.application_for_number("447700900000") is not None
    call = store.get_call("leg-1")
    assert call is not None and call.status == "completed"
    store.put_file(row())
    assert store.get_file(FILE) == row()
    store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(3,)]
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "files" in tables
    # opening again migrates nothing and loses nothing
    store = open_store(str(path))
    assert store.get_file(FILE) == row()
    store.close()


# -- the FileStore conformance suite ---------------------------------------------------------


def test_put_get_read_and_chunks(files: FileStore) -> None:
    data = bytes(range(256)) * 1000
    stored = files.put(
        FILE,
        data,
        content_type="audio/wav",
        application_id=APP,
        call_uuid="leg-1",
        conversation_uuid="CON-1",
    )
    assert stored == StoredFile(FILE, "audio/wav", len(data), T0, APP, "leg-1", "CON-1")
    assert files.get(FILE) == stored
    assert files.read(FILE) == data
    pieces = list(files.chunks(FILE, 4096))
    assert b"".join(pieces) == data
    assert max(len(p) for p in pieces) == 4096 and len(pieces) == 63


def test_put_replaces(files: FileStore) -> None:
    files.put(FILE, b"first", content_type="audio/mpeg", application_id=APP)
    second = files.put(FILE, b"second!", content_type="audio/wav")
    assert files.get(FILE) == second
    assert second.size == 7 and second.application_id is None
    assert files.read(FILE) == b"second!"


def test_empty_file(files: FileStore) -> None:
    stored = files.put(FILE, b"", content_type="audio/wav")
    assert stored.size == 0
    assert files.read(FILE) == b""
    assert list(files.chunks(FILE)) == []


def test_unknown_and_invalid_ids(files: FileStore) -> None:
    assert files.get("nope") is None
    with pytest.raises(NotFound):
        files.read("nope")
    with pytest.raises(NotFound):
        files.chunks("nope")
    assert files.delete("nope") is False
    for bad in ("", "../etc", "a/b", ".hidden", "x" * 129, "a b"):
        assert not valid_file_id(bad)
        assert files.get(bad) is None
        with pytest.raises(StoreError):
            files.put(bad, b"x", content_type="audio/wav")


def test_delete(files: FileStore) -> None:
    files.put(FILE, b"abc", content_type="audio/wav")
    assert files.delete(FILE) is True
    assert files.get(FILE) is None
    with pytest.raises(NotFound):
        files.read(FILE)
    assert files.delete(FILE) is False


def test_put_async(files: FileStore) -> None:
    async def main() -> StoredFile:
        return await files.put_async(
            FILE, b"async bytes", content_type="audio/mpeg", application_id=APP
        )

    stored = asyncio.run(main())
    assert stored.size == 11 and files.read(FILE) == b"async bytes"
    assert files.get(FILE) == stored


# -- what only the disk store shows -----------------------------------------------------------


def test_disk_layout_and_atomic_replace(tmp_path: Path) -> None:
    meta = MemoryStore()
    disk = DiskFileStore(tmp_path / "f", meta)
    disk.put(FILE, b"12345", content_type="audio/wav")
    path = tmp_path / "f" / FILE[:2] / FILE
    assert path.read_bytes() == b"12345"
    disk.put(FILE, b"678", content_type="audio/wav")
    assert path.read_bytes() == b"678"
    assert [p.name for p in path.parent.iterdir()] == [FILE]  # no temporary left behind
    # a second store over the same directory and metadata sees the same file
    assert DiskFileStore(tmp_path / "f", meta).read(FILE) == b"678"
    assert disk.delete(FILE) and not path.exists()


def test_disk_file_gone_from_disk_is_not_found(tmp_path: Path) -> None:
    disk = DiskFileStore(tmp_path / "f", MemoryStore())
    disk.put(FILE, b"x", content_type="audio/wav")
    disk.path(FILE).unlink()
    with pytest.raises(NotFound):
        disk.read(FILE)


def test_disk_write_failure_is_a_store_error(tmp_path: Path) -> None:
    meta = MemoryStore()
    disk = DiskFileStore(tmp_path / "f", meta)
    (tmp_path / "f" / FILE[:2]).write_text("a file where a directory should be")
    with pytest.raises(StoreError):
        disk.put(FILE, b"x", content_type="audio/wav")
    assert meta.get_file(FILE) is None  # no row for a file that was not written


def test_default_files_dir() -> None:
    assert default_files_dir("sqlite:///var/trunkline.db") == Path("var/files")
    assert default_files_dir("sqlite:////srv/t/db.sqlite") == Path("/srv/t/files")
    assert default_files_dir("data/t.db") == Path("data/files")
    assert default_files_dir("memory:") is None
    assert default_files_dir("sqlite://") is None
    assert default_files_dir("sqlite:///:memory:") is None
    assert default_files_dir("postgresql+psycopg://u@h/db") == Path("var/files")
