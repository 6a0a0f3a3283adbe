"""The SQL :class:`~trunkline.store.base.Store` (SQLAlchemy 2 Core).

SQLite is the embedded default: a file in WAL mode with ``synchronous=NORMAL``,
so a commit costs no fsync and survives a crash of trunkline (not necessarily a
power cut). PostgreSQL works with a ``postgresql+psycopg://…`` URL once psycopg is
installed; nothing here needs it otherwise.

Each call is one transaction. Timeline entries are the exception: they are
buffered and written with the next write transaction, or every
:data:`TIMELINE_BATCH` entries, or before any timeline read, or on :meth:`close`,
so the many small entries of a call cost almost nothing. Events (the outbox) and
calls are committed before their method returns.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url

from trunkline.domain import Application, CallRecord, Direction, EventRecord, TimelineEntry
from trunkline.errors import NotFound, StoreError
from trunkline.store import schema
from trunkline.store.base import (
    CallFilter,
    StoredFile,
    check_new_event,
    check_number,
    check_stored_event,
    dump_json,
    dump_settings,
    dump_webhook,
    load_application,
    load_json,
)

#: Buffered timeline entries written at once when no other write comes first.
TIMELINE_BATCH = 64


class SqlStore:
    """A :class:`~trunkline.store.base.Store` in a SQL database reached through SQLAlchemy."""

    def __init__(self, url: str | URL) -> None:
        try:
            self._url = make_url(url)
            self._engine = _create_engine(self._url)
        except (sa.exc.SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreError(f"cannot open database {url!s}: {exc}") from exc
        self._lock = threading.RLock()
        self._timeline_buf: list[dict[str, Any]] = []
        self._closed = False
        try:
            self._create_schema()
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def url(self) -> URL:
        return self._url

    # plumbing

    def _create_schema(self) -> None:
        with self._write() as conn:
            schema.metadata.create_all(conn, checkfirst=True)
            version = conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar()
            if version is None:
                conn.execute(schema.schema_version.insert().values(version=schema.SCHEMA_VERSION))
            elif version > schema.SCHEMA_VERSION:
                raise StoreError(
                    f"database schema version {version} is newer than this trunkline "
                    f"understands ({schema.SCHEMA_VERSION})"
                )
            elif version < schema.SCHEMA_VERSION:
                _migrate(conn, version)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._lock:
            if self._closed:
                raise StoreError("store is closed")
            try:
                with self._engine.connect() as conn:
                    yield conn
            except sa.exc.SQLAlchemyError as exc:
                raise StoreError(f"database read failed: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One transaction, which also writes the buffered timeline entries."""
        with self._lock:
            if self._closed:
                raise StoreError("store is closed")
            batch = len(self._timeline_buf)
            try:
                with self._engine.begin() as conn:
                    if batch:
                        conn.execute(schema.timeline.insert(), self._timeline_buf[:batch])
                    yield conn
            except sa.exc.SQLAlchemyError as exc:
                raise StoreError(f"database write failed: {exc}") from exc
            del self._timeline_buf[:batch]

    def _flush_timeline(self) -> None:
        if self._timeline_buf:
            with self._write():
                pass

    def _upsert(
        self, conn: Connection, table: sa.Table, key: str, values: Mapping[str, Any]
    ) -> None:
        """Insert ``values`` or update the row with the same ``key`` in place."""
        stmt = _upsert_statement(conn.dialect.name, table, key)
        if stmt is None:
            update_or_insert(conn, table, key, values)
        else:
            conn.execute(stmt, values)

    # applications and numbers

    def put_application(self, app: Application) -> None:
        values = {
            "id": app.id,
            "name": app.name,
            "answer_url": dump_webhook(app.answer_url),
            "event_url": dump_webhook(app.event_url),
            "fallback_answer_url": dump_webhook(app.fallback_answer_url),
            "public_key": app.public_key,
            "settings": dump_settings(app),
        }
        with self._write() as conn:
            self._upsert(conn, schema.applications, "id", values)

    def get_application(self, app_id: str) -> Application | None:
        with self._read() as conn:
            row = conn.execute(
                sa.select(schema.applications).where(schema.applications.c.id == app_id)
            ).first()
        return None if row is None else _application(row)

    def list_applications(self) -> list[Application]:
        t = schema.applications
        with self._read() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.name, t.c.id)).all()
        return [_application(r) for r in rows]

    def delete_application(self, app_id: str) -> bool:
        with self._write() as conn:
            conn.execute(
                schema.numbers.update()
                .where(schema.numbers.c.application_id == app_id)
                .values(application_id=None)
            )
            deleted = conn.execute(
                schema.applications.delete().where(schema.applications.c.id == app_id)
            ).rowcount
        return bool(deleted)

    def link_number(self, number: str, app_id: str | None) -> None:
        check_number(number)
        with self._write() as conn:
            if app_id is not None:
                found = conn.execute(
                    sa.select(schema.applications.c.id).where(schema.applications.c.id == app_id)
                ).first()
                if found is None:
                    raise NotFound(f"application {app_id} does not exist")
            self._upsert(
                conn, schema.numbers, "number", {"number": number, "application_id": app_id}
            )

    def application_for_number(self, number: str) -> Application | None:
        a, n = schema.applications, schema.numbers
        with self._read() as conn:
            row = conn.execute(
                sa.select(a).join(n, n.c.application_id == a.c.id).where(n.c.number == number)
            ).first()
        return None if row is None else _application(row)

    def list_numbers(self) -> list[tuple[str, str | None]]:
        n = schema.numbers
        with self._read() as conn:
            rows = conn.execute(sa.select(n.c.number, n.c.application_id).order_by(n.c.number))
            return [(r.number, r.application_id) for r in rows]

    # calls

    def save_call(self, call: CallRecord) -> None:
        values = {
            "uuid": call.uuid,
            "conversation_uuid": call.conversation_uuid,
            "direction": call.direction,
            "from_json": dump_json(call.from_, "call.from_"),
            "to_json": dump_json(call.to, "call.to"),
            "status": call.status,
            "created_at": call.created_at,
            "application_id": call.application_id,
            "start_time": call.start_time,
            "end_time": call.end_time,
            "duration": call.duration,
            "rate": call.rate,
            "price": call.price,
            "network": call.network,
            "disconnected_by": call.disconnected_by,
        }
        with self._write() as conn:
            self._upsert(conn, schema.calls, "uuid", values)

    def get_call(self, uuid: str) -> CallRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(schema.calls).where(schema.calls.c.uuid == uuid)).first()
        return None if row is None else _call(row)

    def list_calls(self, flt: CallFilter) -> tuple[int, list[CallRecord]]:
        c = schema.calls
        where: list[sa.ColumnElement[bool]] = []
        if flt.status is not None:
            where.append(c.c.status == flt.status)
        if flt.date_start is not None:
            where.append(c.c.created_at >= flt.date_start)
        if flt.date_end is not None:
            where.append(c.c.created_at <= flt.date_end)
        if flt.conversation_uuid is not None:
            where.append(c.c.conversation_uuid == flt.conversation_uuid)
        if flt.application_id is not None:
            where.append(c.c.application_id == flt.application_id)
        if flt.order == "asc":
            order = (c.c.created_at.asc(), c.c.seq.asc())
        else:
            order = (c.c.created_at.desc(), c.c.seq.desc())
        with self._read() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(c).where(*where)).scalar()
            rows = conn.execute(
                sa.select(c)
                .where(*where)
                .order_by(*order)
                .limit(flt.page_size)
                .offset(flt.record_index)
            ).all()
        return int(total or 0), [_call(r) for r in rows]

    # events

    def add_event(self, ev: EventRecord) -> int:
        check_new_event(ev)
        values = {
            "call_uuid": ev.call_uuid,
            "conversation_uuid": ev.conversation_uuid,
            "kind": ev.kind,
            "url": ev.url,
            "method": ev.method,
            "body": dump_json(ev.body, "event.body"),
            "created_at": ev.created_at,
            "state": ev.state,
            "attempts": ev.attempts,
            "response_status": ev.response_status,
            "delivered_at": ev.delivered_at,
        }
        with self._write() as conn:
            key = conn.execute(schema.events.insert(), values).inserted_primary_key
        if key is None or key[0] is None:
            raise StoreError("the database did not give the new event an id")
        ev.id = int(key[0])
        return ev.id

    def update_event(self, ev: EventRecord) -> None:
        event_id = check_stored_event(ev)
        with self._write() as conn:
            updated = conn.execute(
                _UPDATE_EVENT,
                {
                    "event_id": event_id,
                    "state": ev.state,
                    "attempts": ev.attempts,
                    "response_status": ev.response_status,
                    "delivered_at": ev.delivered_at,
                },
            ).rowcount
            if updated == 0:
                raise NotFound(f"event {event_id} does not exist")

    def pending_events(self, limit: int = 1000) -> list[EventRecord]:
        if limit <= 0:
            return []
        e = schema.events
        return self._events(
            sa.select(e).where(e.c.state == "pending").order_by(e.c.id).limit(limit)
        )

    def events_for_call(self, call_uuid: str) -> list[EventRecord]:
        e = schema.events
        return self._events(sa.select(e).where(e.c.call_uuid == call_uuid).order_by(e.c.id))

    def events_for_conversation(self, conversation_uuid: str) -> list[EventRecord]:
        e = schema.events
        return self._events(
            sa.select(e).where(e.c.conversation_uuid == conversation_uuid).order_by(e.c.id)
        )

    def _events(self, query: sa.Select[Any]) -> list[EventRecord]:
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_event(r) for r in rows]

    # timeline

    def add_timeline(self, entry: TimelineEntry) -> None:
        row = {
            "t": entry.t,
            "kind": entry.kind,
            "summary": entry.summary,
            "call_uuid": entry.call_uuid,
            "conversation_uuid": entry.conversation_uuid,
            "data": dump_json(entry.data, "timeline.data"),
        }
        with self._lock:
            if self._closed:
                raise StoreError("store is closed")
            self._timeline_buf.append(row)
            if len(self._timeline_buf) >= TIMELINE_BATCH:
                self._flush_timeline()

    def timeline(
        self, *, conversation_uuid: str | None = None, call_uuid: str | None = None
    ) -> list[TimelineEntry]:
        t = schema.timeline
        query = sa.select(t).order_by(t.c.t, t.c.id)
        if conversation_uuid is not None:
            query = query.where(t.c.conversation_uuid == conversation_uuid)
        if call_uuid is not None:
            query = query.where(t.c.call_uuid == call_uuid)
        with self._lock:
            self._flush_timeline()
            with self._read() as conn:
                rows = conn.execute(query).all()
        return [_entry(r) for r in rows]

    # files

    def put_file(self, file: StoredFile) -> None:
        values = {
            "file_id": file.file_id,
            "application_id": file.application_id,
            "call_uuid": file.call_uuid,
            "conversation_uuid": file.conversation_uuid,
            "content_type": file.content_type,
            "size": file.size,
            "created_at": file.created_at,
        }
        with self._write() as conn:
            self._upsert(conn, schema.files, "file_id", values)

    def get_file(self, file_id: str) -> StoredFile | None:
        f = schema.files
        with self._read() as conn:
            row = conn.execute(sa.select(f).where(f.c.file_id == file_id)).first()
        return None if row is None else _file(row)

    def delete_file(self, file_id: str) -> bool:
        f = schema.files
        with self._write() as conn:
            deleted = conn.execute(f.delete().where(f.c.file_id == file_id)).rowcount
        return bool(deleted)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self._flush_timeline()
            finally:
                self._closed = True
                self._engine.dispose()


# statements built once (building them is most of the cost of a small write)

_UPDATE_EVENT = schema.events.update().where(schema.events.c.id == sa.bindparam("event_id"))


@functools.cache
def _upsert_statement(dialect: str, table: sa.Table, key: str) -> sa.Executable | None:
    """``INSERT … ON CONFLICT (key) DO UPDATE`` where the dialect has it, else None."""
    if dialect == "sqlite":
        lite = sqlite.insert(table)
        return lite.on_conflict_do_update(index_elements=[key], set_=_excluded(table, key, lite))
    if dialect == "postgresql":
        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(index_elements=[key], set_=_excluded(table, key, pg))
    return None


def update_or_insert(
    conn: Connection, table: sa.Table, key: str, values: Mapping[str, Any]
) -> None:
    """The portable upsert, for dialects without ``ON CONFLICT`` (one writer at a time)."""
    update = table.update().where(table.c[key] == sa.bindparam("_key"))
    if conn.execute(update, {**values, "_key": values[key]}).rowcount == 0:
        conn.execute(table.insert(), values)


def _excluded(table: sa.Table, key: str, stmt: sqlite.Insert | postgresql.Insert) -> dict[str, Any]:
    """SET every column but the conflict key and generated keys to the new row's value."""
    return {
        c.name: stmt.excluded[c.name] for c in table.columns if c.name != key and not c.primary_key
    }


# rows to records


def _application(r: sa.Row[Any]) -> Application:
    return load_application(
        id=r.id,
        name=r.name,
        answer_url=r.answer_url,
        event_url=r.event_url,
        fallback_answer_url=r.fallback_answer_url,
        public_key=r.public_key,
        settings=r.settings,
    )


def _migrate(conn: Connection, version: int) -> None:
    """Bring a file written by an older trunkline up to :data:`schema.SCHEMA_VERSION`."""
    for target in range(version + 1, schema.SCHEMA_VERSION + 1):
        for table, column in schema.ADDED_COLUMNS.get(target, []):
            conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column} TEXT"))
    conn.execute(schema.schema_version.update().values(version=schema.SCHEMA_VERSION))


def _call(r: sa.Row[Any]) -> CallRecord:
    return CallRecord(
        uuid=r.uuid,
        conversation_uuid=r.conversation_uuid,
        direction=cast(Direction, r.direction),
        from_=load_json(r.from_json),
        to=load_json(r.to_json),
        status=r.status,
        created_at=r.created_at,
        application_id=r.application_id,
        start_time=r.start_time,
        end_time=r.end_time,
        duration=r.duration,
        rate=r.rate,
        price=r.price,
        network=r.network,
        disconnected_by=r.disconnected_by,
    )


def _event(r: sa.Row[Any]) -> EventRecord:
    return EventRecord(
        id=r.id,
        call_uuid=r.call_uuid,
        conversation_uuid=r.conversation_uuid,
        kind=r.kind,
        url=r.url,
        method=r.method,
        body=load_json(r.body),
        created_at=r.created_at,
        state=r.state,
        attempts=r.attempts,
        response_status=r.response_status,
        delivered_at=r.delivered_at,
    )


def _file(r: sa.Row[Any]) -> StoredFile:
    return StoredFile(
        file_id=r.file_id,
        content_type=r.content_type,
        size=int(r.size),
        created_at=r.created_at,
        application_id=r.application_id,
        call_uuid=r.call_uuid,
        conversation_uuid=r.conversation_uuid,
    )


def _entry(r: sa.Row[Any]) -> TimelineEntry:
    m = r._mapping  # a Row's own ``t`` attribute shadows the column named t
    return TimelineEntry(
        t=m["t"],
        kind=m["kind"],
        summary=m["summary"],
        call_uuid=m["call_uuid"],
        conversation_uuid=m["conversation_uuid"],
        data=load_json(m["data"]),
    )


# engines


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    database = url.database or ""
    if database not in ("", ":memory:") and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=5000")
    finally:
        cur.close()
