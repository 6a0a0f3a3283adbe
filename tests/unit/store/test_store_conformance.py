"""One conformance suite for every Store: MemoryStore and SqlStore on a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from trunkline.domain import (
    Application,
    CallRecord,
    EventRecord,
    TimelineEntry,
    Webhook,
    answer_webhook,
    event_webhook,
)
from trunkline.errors import NotFound, StoreError
from trunkline.store import CallFilter, MemoryStore, SqlStore, Store, open_store
from trunkline.store.sql import TIMELINE_BATCH

APP_A = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
APP_B = "bbbbbbbb-bbbb-cccc-dddd-0123456789ab"
T0 = 1767225600.0


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        s = open_store("memory:")
        assert isinstance(s, MemoryStore)
    else:
        s = open_store(f"sqlite:///{tmp_path}/store.db")
        assert isinstance(s, SqlStore)
    yield s
    s.close()


def app(app_id: str = APP_A, name: str = "call-centre") -> Application:
    return Application(
        id=app_id,
        name=name,
        answer_url=Webhook("http://127.0.0.1:3000/answer", "GET", 0.3, 2.5),
        event_url=event_webhook("http://127.0.0.1:3000/event"),
        fallback_answer_url=answer_webhook("https://fallback.example/answer", "POST"),
    )


def call(uuid: str, created_at: float = T0, **kw: object) -> CallRecord:
    fields: dict[str, object] = {
        "uuid": uuid,
        "conversation_uuid": "CON-1",
        "direction": "outbound",
        "from_": {"type": "phone", "number": "447700900000"},
        "to": {"type": "phone", "number": "447700900001"},
        "status": "started",
        "created_at": created_at,
    }
    fields.update(kw)
    return CallRecord(**fields)  # type: ignore[arg-type]


def event(
    call_uuid: str | None = "leg-1", conversation_uuid: str | None = "CON-1", **kw: object
) -> EventRecord:
    fields: dict[str, object] = {
        "call_uuid": call_uuid,
        "conversation_uuid": conversation_uuid,
        "kind": "status",
        "url": "http://127.0.0.1:3000/event",
        "method": "POST",
        "body": {"status": "started", "uuid": call_uuid},
        "created_at": T0,
    }
    fields.update(kw)
    return EventRecord(**fields)  # type: ignore[arg-type]


# applications and numbers


def test_application_round_trips_every_field(store: Store) -> None:
    full = app()
    bare = Application(id=APP_B, name="bare")
    store.put_application(full)
    store.put_application(bare)
    assert store.get_application(APP_A) == full
    assert store.get_application(APP_B) == bare
    assert store.get_application("nope") is None


def test_put_application_replaces_and_keeps_numbers(store: Store) -> None:
    store.put_application(app())
    store.link_number("447700900000", APP_A)
    changed = Application(id=APP_A, name="renamed", event_url=event_webhook("http://x.test/e"))
    store.put_application(changed)
    assert store.get_application(APP_A) == changed
    assert store.list_applications() == [changed]
    assert store.application_for_number("447700900000") == changed


def test_list_applications_by_name_then_id(store: Store) -> None:
    store.put_application(app("c", "zeta"))
    store.put_application(app("b", "alpha"))
    store.put_application(app("a", "alpha"))
    assert [a.id for a in store.list_applications()] == ["a", "b", "c"]


def test_delete_application_unlinks_its_numbers(store: Store) -> None:
    store.put_application(app())
    store.put_application(app(APP_B, "other"))
    store.link_number("447700900000", APP_A)
    store.link_number("447700900001", APP_B)
    assert store.delete_application(APP_A) is True
    assert store.delete_application(APP_A) is False
    assert store.get_application(APP_A) is None
    assert store.application_for_number("447700900000") is None
    assert store.list_numbers() == [("447700900000", None), ("447700900001", APP_B)]


def test_numbers_link_relink_and_unlink(store: Store) -> None:
    store.put_application(app())
    store.put_application(app(APP_B, "other"))
    store.link_number("447700900002", APP_A)
    store.link_number("447700900000", APP_A)
    assert store.application_for_number("447700900000") == app()
    assert store.list_numbers() == [("447700900000", APP_A), ("447700900002", APP_A)]
    store.link_number("447700900000", APP_B)
    assert store.application_for_number("447700900000") == app(APP_B, "other")
    store.link_number("447700900000", None)
    assert store.application_for_number("447700900000") is None
    assert store.list_numbers() == [("447700900000", None), ("447700900002", APP_A)]
    assert store.application_for_number("15550000000") is None


def test_link_number_to_unknown_application(store: Store) -> None:
    with pytest.raises(NotFound):
        store.link_number("447700900000", "no-such-app")
    assert store.list_numbers() == []


@pytest.mark.parametrize("number", ["+447700900000", "", "44 7700", "1234567890123456", "abc"])
def test_link_number_refuses_non_e164_digits(store: Store, number: str) -> None:
    store.put_application(app())
    with pytest.raises(StoreError, match="digits"):
        store.link_number(number, APP_A)
    assert store.list_numbers() == []


# calls


def test_call_round_trips_every_field(store: Store) -> None:
    full = call(
        "leg-1",
        created_at=T0 + 0.123456,
        direction="inbound",
        from_={"type": "sip", "uri": "sip:alice@example.com", "headers": {"X-Ä": ["1", 2.5]}},
        to={"type": "websocket", "uri": "wss://x/y", "content-type": "audio/l16;rate=16000"},
        status="completed",
        application_id=APP_A,
        start_time=T0 + 1.5,
        end_time=T0 + 63.25,
        duration=62,
        rate="0.10000000",
        price="0.10333333",
        network="23420",
        disconnected_by="user",
    )
    store.save_call(full)
    got = store.get_call("leg-1")
    assert got == full
    assert got is not full
    minimal = call("leg-2")
    store.save_call(minimal)
    assert store.get_call("leg-2") == minimal
    assert store.get_call("nope") is None


def test_save_call_updates_in_place(store: Store) -> None:
    first = call("leg-1")
    store.save_call(first)
    store.save_call(call("leg-2"))
    first.status = "completed"
    first.end_time = T0 + 5
    first.duration = 5
    first.to = {"type": "phone", "number": "447700900009"}
    assert store.get_call("leg-1") != first  # saving copies: no aliasing
    store.save_call(first)
    assert store.get_call("leg-1") == first
    # the update keeps the call's first place among equal created_at values
    assert [c.uuid for c in store.list_calls(CallFilter())[1]] == ["leg-1", "leg-2"]


def test_returned_records_are_copies(store: Store) -> None:
    store.save_call(call("leg-1"))
    got = store.get_call("leg-1")
    assert got is not None
    got.from_["number"] = "changed"
    got.status = "answered"
    assert store.get_call("leg-1") == call("leg-1")


def test_unstorable_dict_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match=r"call\.from_"):
        store.save_call(call("leg-1", from_={"bad": object()}))
    with pytest.raises(StoreError, match=r"call\.to"):
        store.save_call(call("leg-1", to={"nan": float("nan")}))
    assert store.get_call("leg-1") is None
    with pytest.raises(StoreError, match=r"event\.body"):
        store.add_event(event(body={"x": {1, 2}}))
    assert store.pending_events() == []
    with pytest.raises(StoreError, match=r"timeline\.data"):
        store.add_timeline(TimelineEntry(T0, "leg", "x", data={"x": object()}))
    assert store.timeline() == []


def test_json_normalises_like_the_database(store: Store) -> None:
    store.save_call(call("leg-1", from_={"list": (1, 2), "n": None, "ok": True}))
    got = store.get_call("leg-1")
    assert got is not None
    assert got.from_ == {"list": [1, 2], "n": None, "ok": True}


@pytest.fixture
def calls(store: Store) -> Store:
    """Seven legs: two share a created_at; two conversations; mixed statuses."""
    rows = [
        call("c1", T0 + 10, status="completed", conversation_uuid="CON-A"),
        call("c2", T0 + 20, status="completed", conversation_uuid="CON-A"),
        call("c3", T0 + 20, status="busy", conversation_uuid="CON-B"),
        call("c4", T0 + 5, status="answered", conversation_uuid="CON-B"),
        call("c5", T0 + 30, status="completed", conversation_uuid="CON-B"),
        call("c6", T0 + 40, status="ringing", conversation_uuid="CON-C"),
        call("c7", T0 + 20, status="completed", conversation_uuid="CON-C"),
    ]
    for row in rows:
        store.save_call(row)
    return store


def uuids(result: tuple[int, list[CallRecord]]) -> tuple[int, list[str]]:
    return result[0], [c.uuid for c in result[1]]


ALL_ASC = ["c4", "c1", "c2", "c3", "c7", "c5", "c6"]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (CallFilter(page_size=100), (7, ALL_ASC)),
        (CallFilter(page_size=100, order="desc"), (7, ALL_ASC[::-1])),
        (CallFilter(), (7, ALL_ASC)),
        (CallFilter(page_size=3), (7, ["c4", "c1", "c2"])),
        (CallFilter(page_size=3, record_index=3), (7, ["c3", "c7", "c5"])),
        (CallFilter(page_size=3, record_index=6), (7, ["c6"])),
        (CallFilter(page_size=3, record_index=7), (7, [])),
        (CallFilter(page_size=2, record_index=1, order="desc"), (7, ["c5", "c7"])),
        (CallFilter(status="completed"), (4, ["c1", "c2", "c7", "c5"])),
        (CallFilter(status="completed", order="desc"), (4, ["c5", "c7", "c2", "c1"])),
        (CallFilter(status="failed"), (0, [])),
        (CallFilter(date_start=T0 + 20), (5, ["c2", "c3", "c7", "c5", "c6"])),
        (CallFilter(date_end=T0 + 20), (5, ["c4", "c1", "c2", "c3", "c7"])),
        (CallFilter(date_start=T0 + 10, date_end=T0 + 20), (4, ["c1", "c2", "c3", "c7"])),
        (CallFilter(date_start=T0 + 20.5, date_end=T0 + 39.9), (1, ["c5"])),
        (CallFilter(conversation_uuid="CON-B"), (3, ["c4", "c3", "c5"])),
        (CallFilter(conversation_uuid="CON-Z"), (0, [])),
        (
            CallFilter(status="completed", conversation_uuid="CON-A", date_start=T0 + 15),
            (1, ["c2"]),
        ),
        (
            CallFilter(status="completed", date_start=T0, page_size=1, record_index=1),
            (4, ["c2"]),
        ),
    ],
)
def test_list_calls(calls: Store, flt: CallFilter, expected: tuple[int, list[str]]) -> None:
    assert uuids(calls.list_calls(flt)) == expected


def test_list_calls_returns_full_records(calls: Store) -> None:
    _, page = calls.list_calls(CallFilter(conversation_uuid="CON-A"))
    assert page == [
        call("c1", T0 + 10, status="completed", conversation_uuid="CON-A"),
        call("c2", T0 + 20, status="completed", conversation_uuid="CON-A"),
    ]


def test_list_calls_empty_store(store: Store) -> None:
    assert store.list_calls(CallFilter()) == (0, [])


@pytest.mark.parametrize("kwargs", [{"page_size": 0}, {"record_index": -1}, {"order": "sideways"}])
def test_call_filter_refuses_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CallFilter(**kwargs)  # type: ignore[arg-type]


# events


def test_add_event_sets_increasing_ids_and_round_trips(store: Store) -> None:
    first = event(body={"status": "started", "nested": {"a": [1, "ü"]}})
    full = event(
        kind="input",
        url="https://app.example/input",
        method="GET",
        body={"dtmf": {"digits": "12#"}},
        created_at=T0 + 7.25,
        state="delivered",
        attempts=2,
        response_status=204,
        delivered_at=T0 + 7.5,
    )
    id1 = store.add_event(first)
    id2 = store.add_event(full)
    assert first.id == id1 and full.id == id2
    assert id1 < id2
    assert store.events_for_call("leg-1") == [first, full]


def test_add_event_twice_is_refused(store: Store) -> None:
    ev = event()
    store.add_event(ev)
    with pytest.raises(StoreError, match="already stored"):
        store.add_event(ev)
    assert len(store.events_for_call("leg-1")) == 1


def test_update_event_saves_delivery_fields_only(store: Store) -> None:
    ev = event()
    store.add_event(ev)
    ev.state = "delivered"
    ev.attempts = 1
    ev.response_status = 200
    ev.delivered_at = T0 + 0.2
    ev.body = {"changed": True}  # not a delivery field: stays as stored
    store.update_event(ev)
    assert store.events_for_call("leg-1") == [
        replace(ev, body={"status": "started", "uuid": "leg-1"})
    ]
    ev.state = "failed"
    ev.attempts = 2
    ev.response_status = None
    ev.delivered_at = None
    store.update_event(ev)
    (got,) = store.events_for_call("leg-1")
    assert (got.state, got.attempts, got.response_status, got.delivered_at) == (
        "failed",
        2,
        None,
        None,
    )


def test_update_event_needs_a_stored_event(store: Store) -> None:
    with pytest.raises(StoreError, match="add_event"):
        store.update_event(event())
    with pytest.raises(NotFound):
        store.update_event(event(id=12345))


def test_pending_events_in_id_order(store: Store) -> None:
    evs = [event(call_uuid=f"leg-{i}", body={"i": i}) for i in range(6)]
    for ev in evs:
        store.add_event(ev)
    evs[1].state = "delivered"
    evs[4].state = "failed"
    store.update_event(evs[1])
    store.update_event(evs[4])
    assert store.pending_events() == [evs[0], evs[2], evs[3], evs[5]]
    assert store.pending_events(limit=2) == [evs[0], evs[2]]
    assert store.pending_events(limit=0) == []
    evs[0].attempts = 1  # still pending after a failed attempt
    store.update_event(evs[0])
    assert store.pending_events(limit=1) == [evs[0]]
    evs[1].state = "pending"  # back to pending (a redelivery): keeps its place by id
    store.update_event(evs[1])
    assert store.pending_events() == [evs[0], evs[1], evs[2], evs[3], evs[5]]


def test_events_by_call_and_conversation(store: Store) -> None:
    a1 = event("leg-1", "CON-1")
    b1 = event("leg-2", "CON-1")
    conv = event(None, "CON-1", kind="notify")
    a2 = event("leg-1", "CON-1", kind="record")
    other = event("leg-3", "CON-2")
    for ev in (a1, b1, conv, a2, other):
        store.add_event(ev)
    assert store.events_for_call("leg-1") == [a1, a2]
    assert store.events_for_conversation("CON-1") == [a1, b1, conv, a2]
    assert store.events_for_conversation("CON-2") == [other]
    assert store.events_for_call("nope") == []


# timeline


def test_timeline_orders_by_time_then_insertion(store: Store) -> None:
    e1 = TimelineEntry(T0 + 2, "action", "talk", "leg-1", "CON-1", {"text": "hello"})
    e2 = TimelineEntry(T0 + 1, "leg", "ringing", "leg-1", "CON-1")
    e3 = TimelineEntry(T0 + 2, "webhook", "POST /event", "leg-1", "CON-1", {"ms": 12.5})
    e4 = TimelineEntry(T0 + 1, "leg", "started", "leg-2", "CON-1")
    e5 = TimelineEntry(T0 + 0.5, "event", "x", None, "CON-2")
    e6 = TimelineEntry(T0 + 3, "error", "no conversation", None, None, {"why": ["a", 1]})
    for e in (e1, e2, e3, e4, e5, e6):
        store.add_timeline(e)
    assert store.timeline() == [e5, e2, e4, e1, e3, e6]
    assert store.timeline(conversation_uuid="CON-1") == [e2, e4, e1, e3]
    assert store.timeline(call_uuid="leg-1") == [e2, e1, e3]
    assert store.timeline(conversation_uuid="CON-1", call_uuid="leg-2") == [e4]
    assert store.timeline(conversation_uuid="CON-2", call_uuid="leg-1") == []


def test_timeline_reads_see_every_write(store: Store) -> None:
    written: list[TimelineEntry] = []
    for i in range(2 * TIMELINE_BATCH + 3):
        entry = TimelineEntry(T0 + i / 10, "action", f"step {i}", "leg-1", "CON-1", {"i": i})
        store.add_timeline(entry)
        written.append(entry)
        if i % 7 == 0:
            assert store.timeline(call_uuid="leg-1") == written
        if i % 11 == 0:  # writes of other kinds between buffered entries
            store.add_event(event(body={"i": i}))
            store.save_call(call("leg-1", status="answered"))
    assert store.timeline(call_uuid="leg-1") == written
    assert store.timeline(conversation_uuid="CON-1") == written


def test_timeline_entries_are_copies(store: Store) -> None:
    data = {"k": [1]}
    store.add_timeline(TimelineEntry(T0, "leg", "x", "leg-1", "CON-1", data))
    data["k"].append(2)
    (got,) = store.timeline()
    assert got.data == {"k": [1]}


# lifecycle


def test_closed_store_refuses_work(store: Store) -> None:
    store.add_timeline(TimelineEntry(T0, "leg", "x"))
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.get_call("x")
    with pytest.raises(StoreError, match="closed"):
        store.save_call(call("x"))
    with pytest.raises(StoreError, match="closed"):
        store.add_timeline(TimelineEntry(T0, "leg", "x"))
    with pytest.raises(StoreError, match="closed"):
        store.timeline()


# Application API settings and per-application call lists (schema version 2)

PEM = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"


def test_application_settings_round_trip(store: Store) -> None:
    full = replace(
        app(),
        public_key=PEM,
        signed_callbacks=False,
        conversations_ttl=9000,
        leg_persistence_time=31,
        region="eu-west",
        improve_ai=True,
        call_rate_limit=2.5,
    )
    store.put_application(full)
    assert store.get_application(APP_A) == full
    assert store.list_applications() == [full]
    store.link_number("447700900000", APP_A)
    assert store.application_for_number("447700900000") == full
    plain = replace(full, public_key=None, region=None, call_rate_limit=None)
    store.put_application(plain)
    assert store.get_application(APP_A) == plain


def test_list_calls_by_application(store: Store) -> None:
    store.save_call(call("a1", T0 + 1, application_id=APP_A))
    store.save_call(call("b1", T0 + 2, application_id=APP_B))
    store.save_call(call("a2", T0 + 3, application_id=APP_A))
    store.save_call(call("n1", T0 + 4))
    assert uuids(store.list_calls(CallFilter(application_id=APP_A))) == (2, ["a1", "a2"])
    assert uuids(store.list_calls(CallFilter(application_id=APP_B, order="desc"))) == (1, ["b1"])
    assert uuids(store.list_calls(CallFilter(application_id="other"))) == (0, [])
    assert store.list_calls(CallFilter())[0] == 4
