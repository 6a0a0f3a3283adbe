"""The ``Store`` port: what trunkline persists and how it asks for it back.

Two implementations pass one conformance suite (``tests/unit/store``):
:class:`~trunkline.store.memory.MemoryStore` (the fake for unit tests and
benchmarks) and :class:`~trunkline.store.sql.SqlStore` (SQLite by default,
PostgreSQL by URL). This module also holds the encoding rules both share, so the
fake stores exactly what the database would: dict fields go through JSON, numbers
are E.164 digits, and every error is a :class:`~trunkline.errors.StoreError` (or
:class:`~trunkline.errors.NotFound`).

Every method is synchronous and meant to be called from the event loop thread;
each one is a single short transaction.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from trunkline.domain import Application, CallRecord, EventRecord, TimelineEntry, Webhook
from trunkline.errors import StoreError

Order = Literal["asc", "desc"]

_NUMBER = re.compile(r"[0-9]{1,15}")


@dataclass(frozen=True)
class CallFilter:
    """A query over calls, as ``GET /v1/calls`` takes it (spec/VOICE-API.md §5.3).

    ``date_start`` and ``date_end`` are POSIX seconds compared with ``created_at``,
    both inclusive. Results are ordered by ``created_at``, then by the order in
    which the calls were first saved; ``"desc"`` reverses both.
    """

    status: str | None = None
    date_start: float | None = None
    date_end: float | None = None
    conversation_uuid: str | None = None
    application_id: str | None = None
    page_size: int = 10
    record_index: int = 0
    order: Order = "asc"

    def __post_init__(self) -> None:
        if self.page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {self.page_size}")
        if self.record_index < 0:
            raise ValueError(f"record_index must not be negative, not {self.record_index}")
        if self.order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', not {self.order!r}")


@dataclass(frozen=True)
class StoredFile:
    """What the store knows of one file (a recording): who owns it and what it holds.

    The bytes live in a :class:`~trunkline.files.FileStore`; this is the metadata row.
    ``created_at`` is POSIX seconds; ``size`` is in bytes.
    """

    file_id: str
    content_type: str
    size: int
    created_at: float
    application_id: str | None = None
    call_uuid: str | None = None
    conversation_uuid: str | None = None


class Store(Protocol):
    """Applications, numbers, calls (legs), the event outbox, call timelines and files."""

    # applications and numbers

    def put_application(self, app: Application) -> None:
        """Insert ``app``, or replace the one with its id (its numbers stay linked)."""
        ...

    def get_application(self, app_id: str) -> Application | None: ...

    def list_applications(self) -> list[Application]:
        """Every application, by name then id."""
        ...

    def delete_application(self, app_id: str) -> bool:
        """Delete an application and unlink its numbers; False if there was none."""
        ...

    def link_number(self, number: str, app_id: str | None) -> None:
        """Link ``number`` (E.164 digits) to ``app_id``; None unlinks it but keeps it known.

        Raises :class:`~trunkline.errors.NotFound` if ``app_id`` names no application.
        """
        ...

    def application_for_number(self, number: str) -> Application | None: ...

    def list_numbers(self) -> list[tuple[str, str | None]]:
        """Every known number and the application it is linked to, by number."""
        ...

    # calls (legs)

    def save_call(self, call: CallRecord) -> None:
        """Insert ``call`` or update the one with its uuid (which keeps its place in lists)."""
        ...

    def get_call(self, uuid: str) -> CallRecord | None: ...

    def list_calls(self, flt: CallFilter) -> tuple[int, list[CallRecord]]:
        """The number of calls matching ``flt`` and the page of them it asks for."""
        ...

    # events: the outbox, stored before delivery

    def add_event(self, ev: EventRecord) -> int:
        """Store a new event durably, set ``ev.id`` (increasing) and return it.

        Raises :class:`~trunkline.errors.StoreError` if ``ev.id`` is already set.
        """
        ...

    def update_event(self, ev: EventRecord) -> None:
        """Save ``state``, ``attempts``, ``response_status`` and ``delivered_at`` of ``ev``.

        Raises :class:`~trunkline.errors.NotFound` if no event has ``ev.id``.
        """
        ...

    def pending_events(self, limit: int = 1000) -> list[EventRecord]:
        """Up to ``limit`` events whose state is ``"pending"``, in id order."""
        ...

    def events_for_call(self, call_uuid: str) -> list[EventRecord]:
        """The events of one leg, in id order."""
        ...

    def events_for_conversation(self, conversation_uuid: str) -> list[EventRecord]:
        """The events of one conversation, in id order."""
        ...

    # timeline

    def add_timeline(self, entry: TimelineEntry) -> None:
        """Append a timeline entry (it may be buffered; every read sees it)."""
        ...

    def timeline(
        self, *, conversation_uuid: str | None = None, call_uuid: str | None = None
    ) -> list[TimelineEntry]:
        """Entries matching every given key (all entries if none), by time then insertion."""
        ...

    # files (metadata; the bytes are a FileStore's)

    def put_file(self, file: StoredFile) -> None:
        """Insert ``file`` or replace the one with its ``file_id``."""
        ...

    def get_file(self, file_id: str) -> StoredFile | None: ...

    def delete_file(self, file_id: str) -> bool:
        """Forget a file; False if there was none."""
        ...

    def close(self) -> None:
        """Write what is buffered and release the store; later calls raise StoreError."""
        ...


# -- encoding rules shared by every implementation ---------------------------------


def dump_json(value: dict[str, Any], what: str) -> str:
    """Encode a dict field as compact JSON text (NaN and infinities are refused)."""
    if not isinstance(value, dict):
        raise StoreError(f"{what}: expected a dict, got {type(value).__name__}")
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what}: not storable as JSON: {exc}") from exc


_FLAT = (str, int, bool, type(None))


def copy_json(value: dict[str, Any], what: str) -> dict[str, Any]:
    """A private copy of a JSON object: exactly what storing it and reading it back gives.

    Flat objects of strings, numbers, booleans and nulls (most of what calls carry) are
    copied shallowly; anything else goes through JSON, so the rules of ``dump_json``
    hold either way.
    """
    if not isinstance(value, dict):
        raise StoreError(f"{what}: expected a dict, got {type(value).__name__}")
    for key, item in value.items():
        kind = type(item)
        if type(key) is not str or not (kind in _FLAT or (kind is float and math.isfinite(item))):
            return load_json(dump_json(value, what))
    return dict(value)


def load_json(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise StoreError(f"stored JSON is not an object: {text[:60]!r}")
    return value


def dump_webhook(hook: Webhook | None) -> str | None:
    if hook is None:
        return None
    return dump_json(
        {
            "address": hook.address,
            "http_method": hook.http_method,
            "connect_timeout": hook.connect_timeout,
            "socket_timeout": hook.socket_timeout,
        },
        "webhook",
    )


def load_webhook(text: str | None) -> Webhook | None:
    if text is None:
        return None
    d = load_json(text)
    return Webhook(
        address=d["address"],
        http_method=d["http_method"],
        connect_timeout=float(d["connect_timeout"]),
        socket_timeout=float(d["socket_timeout"]),
    )


_SETTINGS = (
    "signed_callbacks",
    "conversations_ttl",
    "leg_persistence_time",
    "region",
    "improve_ai",
    "call_rate_limit",
    "tts",
)


def dump_settings(app: Application) -> str:
    """The application's Application-API settings as JSON text (one column, one field)."""
    return dump_json({key: getattr(app, key) for key in _SETTINGS}, "application settings")


def load_application(
    *,
    id: str,
    name: str,
    answer_url: str | None,
    event_url: str | None,
    fallback_answer_url: str | None,
    public_key: str | None,
    settings: str | None,
) -> Application:
    """An application from its stored columns (``settings`` None: a version-1 row)."""
    extra = load_json(settings) if settings else {}
    return Application(
        id=id,
        name=name,
        answer_url=load_webhook(answer_url),
        event_url=load_webhook(event_url),
        fallback_answer_url=load_webhook(fallback_answer_url),
        public_key=public_key,
        **{key: extra[key] for key in _SETTINGS if key in extra},
    )


def check_number(number: str) -> str:
    """Refuse anything but E.164 digits (no ``+``, 1 to 15 digits)."""
    if not isinstance(number, str) or _NUMBER.fullmatch(number) is None:
        raise StoreError(f"number must be 1 to 15 digits (E.164 without '+'), not {number!r}")
    return number


def check_new_event(ev: EventRecord) -> None:
    if ev.id is not None:
        raise StoreError(f"event {ev.id} is already stored")


def check_stored_event(ev: EventRecord) -> int:
    if ev.id is None:
        raise StoreError("event has no id: add_event() it first")
    return ev.id


__all__ = ["CallFilter", "Order", "Store", "StoredFile"]
