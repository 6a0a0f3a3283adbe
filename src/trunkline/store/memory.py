"""An in-memory :class:`~trunkline.store.base.Store`: the fake for tests and benchmarks.

It keeps what the SQL store would keep and nothing more: dict fields are held as
private copies made by the JSON rules (``copy_json``) on every write and read, so
a caller that mutates a record after saving it (or a dict it got back) changes
nothing stored, and a value that JSON cannot carry fails here exactly as it would
in the database.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from trunkline.domain import Application, CallRecord, Direction, EventRecord, TimelineEntry
from trunkline.errors import NotFound, StoreError
from trunkline.store.base import (
    CallFilter,
    StoredFile,
    check_new_event,
    check_number,
    check_stored_event,
    copy_json,
    dump_settings,
    dump_webhook,
    load_application,
)


@dataclass(frozen=True, slots=True)
class _Call:
    seq: int
    uuid: str
    conversation_uuid: str
    direction: Direction
    from_json: dict[str, Any]
    to_json: dict[str, Any]
    status: str
    created_at: float
    application_id: str | None
    start_time: float | None
    end_time: float | None
    duration: int | None
    rate: str | None
    price: str | None
    network: str | None
    disconnected_by: str | None

    def record(self) -> CallRecord:
        return CallRecord(
            uuid=self.uuid,
            conversation_uuid=self.conversation_uuid,
            direction=self.direction,
            from_=copy_json(self.from_json, "call.from_"),
            to=copy_json(self.to_json, "call.to"),
            status=self.status,
            created_at=self.created_at,
            application_id=self.application_id,
            start_time=self.start_time,
            end_time=self.end_time,
            duration=self.duration,
            rate=self.rate,
            price=self.price,
            network=self.network,
            disconnected_by=self.disconnected_by,
        )


@dataclass(slots=True)
class _Event:
    id: int
    call_uuid: str | None
    conversation_uuid: str | None
    kind: str
    url: str
    method: str
    body_json: dict[str, Any]
    created_at: float
    state: str
    attempts: int
    response_status: int | None
    delivered_at: float | None

    def record(self) -> EventRecord:
        return EventRecord(
            id=self.id,
            call_uuid=self.call_uuid,
            conversation_uuid=self.conversation_uuid,
            kind=self.kind,
            url=self.url,
            method=self.method,
            body=copy_json(self.body_json, "event.body"),
            created_at=self.created_at,
            state=self.state,
            attempts=self.attempts,
            response_status=self.response_status,
            delivered_at=self.delivered_at,
        )


@dataclass(frozen=True, slots=True)
class _Entry:
    t: float
    seq: int
    kind: str
    summary: str
    call_uuid: str | None
    conversation_uuid: str | None
    data_json: dict[str, Any]

    def record(self) -> TimelineEntry:
        return TimelineEntry(
            t=self.t,
            kind=self.kind,
            summary=self.summary,
            call_uuid=self.call_uuid,
            conversation_uuid=self.conversation_uuid,
            data=copy_json(self.data_json, "timeline.data"),
        )


class MemoryStore:
    """A :class:`~trunkline.store.base.Store` held in dicts and lists."""

    def __init__(self) -> None:
        self._apps: dict[str, Application] = {}
        self._numbers: dict[str, str | None] = {}
        self._calls: dict[str, _Call] = {}
        self._call_seq = itertools.count(1)
        self._events: dict[int, _Event] = {}
        self._event_seq = itertools.count(1)
        self._pending: set[int] = set()
        self._events_by_call: dict[str, list[_Event]] = defaultdict(list)
        self._events_by_conversation: dict[str, list[_Event]] = defaultdict(list)
        self._timeline: list[_Entry] = []
        self._timeline_by_call: dict[str, list[_Entry]] = defaultdict(list)
        self._timeline_by_conversation: dict[str, list[_Entry]] = defaultdict(list)
        self._files: dict[str, StoredFile] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("store is closed")

    # applications and numbers

    def put_application(self, app: Application) -> None:
        self._check_open()
        self._apps[app.id] = load_application(
            id=app.id,
            name=app.name,
            answer_url=dump_webhook(app.answer_url),
            event_url=dump_webhook(app.event_url),
            fallback_answer_url=dump_webhook(app.fallback_answer_url),
            public_key=app.public_key,
            settings=dump_settings(app),
        )

    def get_application(self, app_id: str) -> Application | None:
        self._check_open()
        return self._apps.get(app_id)

    def list_applications(self) -> list[Application]:
        self._check_open()
        return sorted(self._apps.values(), key=lambda a: (a.name, a.id))

    def delete_application(self, app_id: str) -> bool:
        self._check_open()
        if self._apps.pop(app_id, None) is None:
            return False
        for number, linked in self._numbers.items():
            if linked == app_id:
                self._numbers[number] = None
        return True

    def link_number(self, number: str, app_id: str | None) -> None:
        self._check_open()
        check_number(number)
        if app_id is not None and app_id not in self._apps:
            raise NotFound(f"application {app_id} does not exist")
        self._numbers[number] = app_id

    def application_for_number(self, number: str) -> Application | None:
        self._check_open()
        app_id = self._numbers.get(number)
        return None if app_id is None else self._apps.get(app_id)

    def list_numbers(self) -> list[tuple[str, str | None]]:
        self._check_open()
        return sorted(self._numbers.items())

    # calls

    def save_call(self, call: CallRecord) -> None:
        self._check_open()
        old = self._calls.get(call.uuid)
        self._calls[call.uuid] = _Call(
            seq=old.seq if old is not None else next(self._call_seq),
            uuid=call.uuid,
            conversation_uuid=call.conversation_uuid,
            direction=call.direction,
            from_json=copy_json(call.from_, "call.from_"),
            to_json=copy_json(call.to, "call.to"),
            status=call.status,
            created_at=call.created_at,
            application_id=call.application_id,
            start_time=call.start_time,
            end_time=call.end_time,
            duration=call.duration,
            rate=call.rate,
            price=call.price,
            network=call.network,
            disconnected_by=call.disconnected_by,
        )

    def get_call(self, uuid: str) -> CallRecord | None:
        self._check_open()
        stored = self._calls.get(uuid)
        return None if stored is None else stored.record()

    def list_calls(self, flt: CallFilter) -> tuple[int, list[CallRecord]]:
        self._check_open()
        matching = [
            c
            for c in self._calls.values()
            if (flt.status is None or c.status == flt.status)
            and (flt.date_start is None or c.created_at >= flt.date_start)
            and (flt.date_end is None or c.created_at <= flt.date_end)
            and (flt.conversation_uuid is None or c.conversation_uuid == flt.conversation_uuid)
            and (flt.application_id is None or c.application_id == flt.application_id)
        ]
        matching.sort(key=lambda c: (c.created_at, c.seq), reverse=flt.order == "desc")
        page = matching[flt.record_index : flt.record_index + flt.page_size]
        return len(matching), [c.record() for c in page]

    # events

    def add_event(self, ev: EventRecord) -> int:
        self._check_open()
        check_new_event(ev)
        body_json = copy_json(ev.body, "event.body")
        event_id = next(self._event_seq)
        stored = self._events[event_id] = _Event(
            id=event_id,
            call_uuid=ev.call_uuid,
            conversation_uuid=ev.conversation_uuid,
            kind=ev.kind,
            url=ev.url,
            method=ev.method,
            body_json=body_json,
            created_at=ev.created_at,
            state=ev.state,
            attempts=ev.attempts,
            response_status=ev.response_status,
            delivered_at=ev.delivered_at,
        )
        if stored.state == "pending":
            self._pending.add(event_id)
        if stored.call_uuid is not None:
            self._events_by_call[stored.call_uuid].append(stored)
        if stored.conversation_uuid is not None:
            self._events_by_conversation[stored.conversation_uuid].append(stored)
        ev.id = event_id
        return event_id

    def update_event(self, ev: EventRecord) -> None:
        self._check_open()
        stored = self._events.get(check_stored_event(ev))
        if stored is None:
            raise NotFound(f"event {ev.id} does not exist")
        stored.state = ev.state
        stored.attempts = ev.attempts
        stored.response_status = ev.response_status
        stored.delivered_at = ev.delivered_at
        if stored.state == "pending":
            self._pending.add(stored.id)
        else:
            self._pending.discard(stored.id)

    def pending_events(self, limit: int = 1000) -> list[EventRecord]:
        self._check_open()
        if limit <= 0:
            return []
        return [self._events[i].record() for i in sorted(self._pending)[:limit]]

    def events_for_call(self, call_uuid: str) -> list[EventRecord]:
        self._check_open()
        return [e.record() for e in self._events_by_call.get(call_uuid, ())]

    def events_for_conversation(self, conversation_uuid: str) -> list[EventRecord]:
        self._check_open()
        return [e.record() for e in self._events_by_conversation.get(conversation_uuid, ())]

    # timeline

    def add_timeline(self, entry: TimelineEntry) -> None:
        self._check_open()
        stored = _Entry(
            t=entry.t,
            seq=len(self._timeline),
            kind=entry.kind,
            summary=entry.summary,
            call_uuid=entry.call_uuid,
            conversation_uuid=entry.conversation_uuid,
            data_json=copy_json(entry.data, "timeline.data"),
        )
        self._timeline.append(stored)
        if stored.call_uuid is not None:
            self._timeline_by_call[stored.call_uuid].append(stored)
        if stored.conversation_uuid is not None:
            self._timeline_by_conversation[stored.conversation_uuid].append(stored)

    def timeline(
        self, *, conversation_uuid: str | None = None, call_uuid: str | None = None
    ) -> list[TimelineEntry]:
        self._check_open()
        if call_uuid is not None:
            candidates = self._timeline_by_call.get(call_uuid, [])
        elif conversation_uuid is not None:
            candidates = self._timeline_by_conversation.get(conversation_uuid, [])
        else:
            candidates = self._timeline
        entries = [
            e
            for e in candidates
            if (conversation_uuid is None or e.conversation_uuid == conversation_uuid)
            and (call_uuid is None or e.call_uuid == call_uuid)
        ]
        entries.sort(key=lambda e: (e.t, e.seq))
        return [e.record() for e in entries]

    # files (StoredFile is frozen and flat: holding it is holding a copy)

    def put_file(self, file: StoredFile) -> None:
        self._check_open()
        self._files[file.file_id] = file

    def get_file(self, file_id: str) -> StoredFile | None:
        self._check_open()
        return self._files.get(file_id)

    def delete_file(self, file_id: str) -> bool:
        self._check_open()
        return self._files.pop(file_id, None) is not None

    def close(self) -> None:
        self._closed = True
