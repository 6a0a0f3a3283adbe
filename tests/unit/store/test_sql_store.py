"""What only the SQL store can show: a real SQLite file, reopened, read from outside."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from trunkline.domain import Application, CallRecord, EventRecord, TimelineEntry, event_webhook
from trunkline.errors import StoreError
from trunkline.store import CallFilter, MemoryStore, SqlStore, open_store, schema
from trunkline.store.schema import SCHEMA_VERSION
from trunkline.store.sql import update_or_insert

T0 = 1767225600.0
APP = Application(
    "aaaaaaaa-bbbb-cccc-dddd-0123456789ab", "app", event_url=event_webhook("http://e")
)


def leg(uuid: str, status: str = "started") -> CallRecord:
    return CallRecord(
        uuid, "CON-1", "inbound", {"type": "phone", "number": "1"}, {"type": "phone"}, status, T0
    )


def status_event(uuid: str) -> EventRecord:
    return EventRecord(uuid, "CON-1", "status", "http://e", "POST", {"uuid": uuid}, T0)


def fill(store: SqlStore | MemoryStore) -> tuple[list[EventRecord], list[TimelineEntry]]:
    store.put_application(APP)
    store.link_number("447700900000", APP.id)
    store.link_number("447700900001", None)
    store.save_call(leg("leg-1"))
    store.save_call(leg("leg-1", "answered"))
    store.save_call(leg("leg-2", "completed"))
    events = [status_event("leg-1"), status_event("leg-2")]
    for ev in events:
        store.add_event(ev)
    events[0].state, events[0].attempts, events[0].response_status = "delivered", 1, 200
    events[0].delivered_at = T0 + 1
    store.update_event(events[0])
    entries = [TimelineEntry(T0 + i, "action", f"step {i}", "leg-1", "CON-1") for i in range(5)]
    for e in entries:
        store.add_timeline(e)
    return events, entries


def test_reopened_file_holds_everything(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = open_store(f"sqlite:///{path}")
    events, entries = fill(store)
    store.close()

    again = open_store(f"sqlite:///{path}")
    try:
        assert again.list_applications() == [APP]
        assert again.list_numbers() == [("447700900000", APP.id), ("447700900001", None)]
        assert again.application_for_number("447700900000") == APP
        assert again.list_calls(CallFilter()) == (
            2,
            [leg("leg-1", "answered"), leg("leg-2", "completed")],
        )
        assert again.events_for_conversation("CON-1") == events
        assert again.pending_events() == [events[1]]
        assert again.timeline(call_uuid="leg-1") == entries
        later = status_event("leg-3")
        assert again.add_event(later) > max(e.id or 0 for e in events)
    finally:
        again.close()


def test_events_and_calls_are_committed_before_returning(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    writer = open_store(str(path))
    reader = open_store(str(path))
    try:
        writer.add_timeline(TimelineEntry(T0, "leg", "started", "leg-1", "CON-1"))
        writer.save_call(leg("leg-1"))
        ev = status_event("leg-1")
        writer.add_event(ev)
        # another connection, as a restarted process would see the file
        assert reader.get_call("leg-1") == leg("leg-1")
        assert reader.pending_events() == [ev]
        # buffered timeline entries ride along with the next write transaction
        assert reader.timeline() == [TimelineEntry(T0, "leg", "started", "leg-1", "CON-1")]
    finally:
        writer.close()
        reader.close()


def test_file_is_wal_with_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = open_store(str(path))
    assert isinstance(store, SqlStore)
    with store._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()
    open_store(str(path)).close()  # reopening adds no second version row
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    open_store(str(path)).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer"):
        open_store(str(path))


def test_open_store_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(open_store("memory:"), MemoryStore)
    monkeypatch.chdir(tmp_path)
    relative = open_store("var/deep/trunkline.db")  # bare path, relative to the current dir
    assert isinstance(relative, SqlStore)
    relative.close()
    assert (tmp_path / "var/deep/trunkline.db").is_file()
    url = open_store("sqlite:///rel/x.db")  # the default config's form
    url.close()
    assert (tmp_path / "rel/x.db").is_file()
    absolute = open_store(f"sqlite:///{tmp_path}/abs/y.db")
    absolute.close()
    assert (tmp_path / "abs/y.db").is_file()


@pytest.mark.parametrize(
    "url", ["", "   ", "nosuchdb://x/y", "postgresql+psycopg://u:p@127.0.0.1:1/trunkline"]
)
def test_open_store_failures_are_store_errors(url: str) -> None:
    with pytest.raises(StoreError):
        open_store(url)


def test_database_errors_become_store_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = open_store(str(path))
    with sqlite3.connect(path) as raw:
        raw.execute("DROP TABLE calls")
    try:
        with pytest.raises(StoreError, match="database"):
            store.save_call(leg("leg-1"))
        with pytest.raises(StoreError, match="database"):
            store.get_call("leg-1")
    finally:
        store.close()


def test_portable_upsert_for_other_dialects(tmp_path: Path) -> None:
    """The update-then-insert path that dialects without ON CONFLICT take."""
    store = open_store(str(tmp_path / "t.db"))
    assert isinstance(store, SqlStore)
    store.put_application(APP)
    with store._engine.begin() as conn:
        update_or_insert(conn, schema.numbers, "number", {"number": "1", "application_id": None})
        update_or_insert(conn, schema.numbers, "number", {"number": "2", "application_id": None})
        update_or_insert(conn, schema.numbers, "number", {"number": "1", "application_id": APP.id})
    assert store.list_numbers() == [("1", APP.id), ("2", None)]
    store.close()


def test_version_1_file_is_migrated(tmp_path: Path) -> None:
    """A file written before applications had keys and settings opens and keeps its rows."""
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as raw:
        raw.executescript(
            """
            CREATE TABLE schema_version (version INTEGER NOT NULL);
            INSERT INTO schema_version VALUES (1);
            CREATE TABLE applications (id TEXT PRIMARY KEY, name TEXT NOT NULL,
                answer_url TEXT, event_url TEXT, fallback_answer_url TEXT);
            INSERT INTO applications VALUES ('app-1', 'old', NULL, NULL, NULL);
            """
        )
    store = open_store(str(path))
    assert store.get_application("app-1") == Application(id="app-1", name="old")
    store.put_application(Application(id="app-1", name="old", public_key="PEM", region="eu-west"))
    assert store.get_application("app-1") == Application(
        id="app-1", name="old", public_key="PEM", region="eu-west"
    )
    store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
