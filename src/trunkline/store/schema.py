"""The tables of the SQL store (SQLAlchemy Core), portable between SQLite and PostgreSQL.

Strings are TEXT (no length that PostgreSQL would enforce and SQLite would not);
dict fields are JSON text; times are double-precision POSIX seconds. Calls, events
and timeline entries carry an increasing integer key that gives "insertion order".
``schema_version`` holds one row; :data:`SCHEMA_VERSION` is the version this code
writes, and migrations start from it.
"""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 3

#: Columns added since version 1, added to older files when they are opened.
#: (Tables added since — ``files`` in version 3 — are created by ``create_all``.)
ADDED_COLUMNS: dict[int, list[tuple[str, str]]] = {
    2: [("applications", "public_key"), ("applications", "settings")],
    3: [],
}

#: 64-bit keys in PostgreSQL; SQLite's rowid alias must be spelled INTEGER.
_Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    # each webhook as JSON {address, http_method, connect_timeout, socket_timeout} (seconds)
    sa.Column("answer_url", sa.Text),
    sa.Column("event_url", sa.Text),
    sa.Column("fallback_answer_url", sa.Text),
    sa.Column("public_key", sa.Text),  # PEM (version 2)
    # JSON {signed_callbacks, conversations_ttl, leg_persistence_time, region, ...} (version 2)
    sa.Column("settings", sa.Text),
)

numbers = sa.Table(
    "numbers",
    metadata,
    sa.Column("number", sa.Text, primary_key=True),
    sa.Column(
        "application_id",
        sa.Text,
        sa.ForeignKey("applications.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
)

calls = sa.Table(
    "calls",
    metadata,
    sa.Column("seq", _Key, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.Text, nullable=False, unique=True),
    sa.Column("conversation_uuid", sa.Text, nullable=False, index=True),
    sa.Column("direction", sa.Text, nullable=False),
    sa.Column("from_json", sa.Text, nullable=False),
    sa.Column("to_json", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("application_id", sa.Text),
    sa.Column("start_time", sa.Double),
    sa.Column("end_time", sa.Double),
    sa.Column("duration", sa.Integer),
    sa.Column("rate", sa.Text),
    sa.Column("price", sa.Text),
    sa.Column("network", sa.Text),
    sa.Column("disconnected_by", sa.Text),
)
sa.Index("ix_calls_created", calls.c.created_at, calls.c.seq)
sa.Index("ix_calls_status_created", calls.c.status, calls.c.created_at, calls.c.seq)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", _Key, primary_key=True, autoincrement=True),
    sa.Column("call_uuid", sa.Text, index=True),
    sa.Column("conversation_uuid", sa.Text, index=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("response_status", sa.Integer),
    sa.Column("delivered_at", sa.Double),
    # ids are never reused, even after the newest rows are deleted (outbox ids are keys)
    sqlite_autoincrement=True,
)
sa.Index("ix_events_state_id", events.c.state, events.c.id)

timeline = sa.Table(
    "timeline",
    metadata,
    sa.Column("id", _Key, primary_key=True, autoincrement=True),
    sa.Column("t", sa.Double, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("call_uuid", sa.Text),
    sa.Column("conversation_uuid", sa.Text),
    sa.Column("data", sa.Text, nullable=False),
)
sa.Index("ix_timeline_call", timeline.c.call_uuid, timeline.c.t, timeline.c.id)
sa.Index("ix_timeline_conversation", timeline.c.conversation_uuid, timeline.c.t, timeline.c.id)

# recordings and other files: the metadata (the bytes are on disk, see trunkline.files)
files = sa.Table(
    "files",
    metadata,
    sa.Column("file_id", sa.Text, primary_key=True),
    sa.Column("application_id", sa.Text, index=True),
    sa.Column("call_uuid", sa.Text, index=True),
    sa.Column("conversation_uuid", sa.Text),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)
