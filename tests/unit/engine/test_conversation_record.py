"""conversation record: true — the whole conversation in one file, a record event at its end."""

from __future__ import annotations

import datetime as dt
from typing import Any

from trunkline.engine.hooks import Hook
from trunkline.files import file_id_of
from trunkline.recordings import FileRecordings
from trunkline.sim import Step
from trunkline.sim.network import SimConversationRecorder
from trunkline.testing.harness import Harness

A, B, C, MOD = "447700900101", "447700900102", "447700900103", "447700900999"


def seconds(body: dict[str, Any]) -> float:
    start = dt.datetime.fromisoformat(body["start_time"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(body["end_time"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def recorder(h: Harness) -> SimConversationRecorder:
    rec = h.switch.conversations.recorder
    assert isinstance(rec, SimConversationRecorder)
    return rec


def test_the_whole_conversation_is_recorded_until_the_last_member_leaves() -> None:
    h = Harness()
    h.answer(
        [
            {
                "action": "conversation",
                "name": "standup",
                "record": True,
                "eventUrl": ["http://app.test/conv-record"],
            }
        ]
    )
    h.on("/conv-record", None)
    h.phone(A, script=[Step(at=30, hangup=True)])
    h.phone(B, script=[Step(at=50, hangup=True)])
    a = h.sim.call(A, h.number)
    h.run(5)
    b = h.sim.call(B, h.number)
    h.run(1)
    (rec_id,) = recorder(h).active
    assert sorted(recorder(h).members[rec_id]) == sorted([a.id, b.id])
    h.run(40)
    # A left: the recording follows the members, and goes on
    assert recorder(h).members[rec_id] == [b.id]
    assert h.requests_to("/conv-record") == []
    h.run()
    (req,) = h.requests_to("/conv-record")
    body = req.body
    assert set(body) == {
        "start_time",
        "end_time",
        "recording_url",
        "size",
        "recording_uuid",
        "conversation_uuid",
        "timestamp",
    }
    assert body["recording_uuid"] == rec_id
    conv = h.store.get_call(a.id)
    assert conv is not None and body["conversation_uuid"] == conv.conversation_uuid
    assert body["recording_url"].startswith("http://trunkline.test/v1/files/")
    assert file_id_of(body["recording_url"]) != rec_id  # a file id, not the recording's
    # from A's joining (t=0 after answer) to B leaving (t=5+50)
    assert seconds(body) == 55.0
    assert body["size"] == 55 * 4000  # MP3 32 kbps
    assert recorder(h).active == {}
    # the record event is the only one: no record event on the call's own event_url
    assert h.events("record") == [body]


def test_without_record_nothing_is_recorded() -> None:
    h = Harness()
    h.answer([{"action": "conversation", "name": "room"}])
    h.phone(A, script=[Step(at=5, hangup=True)])
    h.sim.call(A, h.number)
    h.run()
    assert h.events("record") == []
    assert recorder(h).active == {}


def test_a_moderated_conversation_records_from_when_the_moderator_enters() -> None:
    h = Harness()

    def answer(hook: Hook) -> Any:
        if hook.body["from"] == MOD:
            return [{"action": "conversation", "name": "conf", "endOnExit": True}]
        return [
            {
                "action": "conversation",
                "name": "conf",
                "startOnEnter": False,
                "record": True,
                "musicOnHoldUrl": ["http://app.test/moh.mp3"],
            }
        ]

    h.answer(answer)
    h.phone(A)
    h.phone(MOD, script=[Step(at=20, hangup=True)])
    h.sim.call(A, h.number)
    h.run(10)
    assert recorder(h).active == {}  # waiting for the moderator: not recording yet
    h.sim.call(MOD, h.number)
    h.run()
    # no eventUrl on the action: the call's event_url gets it
    (body,) = h.events("record")
    assert seconds(body) == 20.0  # the moderator's 20 s, not the attendee's wait


def test_end_on_exit_ends_the_recording_once() -> None:
    h = Harness()

    def answer(hook: Hook) -> Any:
        end = hook.body["from"] == MOD
        return [{"action": "conversation", "name": "c", "record": True, "endOnExit": end}]

    h.answer(answer)
    for n in (A, B, C):
        h.phone(n)
        h.sim.call(n, h.number)
        h.run(1)
    h.phone(MOD, script=[Step(at=10, hangup=True)])
    h.sim.call(MOD, h.number)
    h.run()
    (body,) = h.events("record")
    assert seconds(body) == 13.0
    assert all(not leg.alive for leg in h.switch.legs.values())


def test_a_later_conversation_of_the_same_name_is_a_new_recording() -> None:
    h = Harness()
    h.answer([{"action": "conversation", "name": "daily", "record": True}])
    h.phone(A, script=[Step(at=3, hangup=True)])
    h.sim.call(A, h.number)
    h.run()
    h.sim.call(A, h.number)
    h.run()
    first, second = h.events("record")
    assert first["recording_uuid"] != second["recording_uuid"]
    assert first["conversation_uuid"] != second["conversation_uuid"]


def test_the_recording_is_a_real_file_through_the_recording_sink() -> None:
    from trunkline.files import MemoryFileStore

    h = Harness()
    files = MemoryFileStore(h.store, now=h.clock.now)
    sink = FileRecordings(files, h.clock, inline=True)
    h.switch.conversations.recorder = SimConversationRecorder(h.clock, sink)
    h.answer([{"action": "conversation", "name": "room", "record": True}])
    h.phone(A, script=[Step(at=4, hangup=True)])
    h.sim.call(A, h.number)
    h.run()
    (body,) = h.events("record")
    file_id = file_id_of(body["recording_url"])
    data = files.read(file_id)
    assert body["size"] == len(data) > 0
    assert data[:3] == b"ID3" or data[0] == 0xFF  # an MP3 stream


def test_without_a_recorder_the_record_event_reports_an_empty_file() -> None:
    h = Harness()
    h.switch.conversations.recorder = None
    h.answer([{"action": "conversation", "name": "room", "record": True}])
    h.phone(A, script=[Step(at=4, hangup=True)])
    h.sim.call(A, h.number)
    h.run()
    (body,) = h.events("record")
    assert body["size"] == 0 and seconds(body) == 4.0


def test_the_recorder_that_started_a_recording_stops_it_even_if_rewired() -> None:
    h = Harness()
    first = recorder(h)
    h.answer([{"action": "conversation", "name": "room", "record": True}])
    h.phone(A, script=[Step(at=4, hangup=True)])
    h.sim.call(A, h.number)
    h.run(2)
    assert len(first.active) == 1
    h.switch.conversations.recorder = SimConversationRecorder(h.clock)
    h.run()
    assert first.active == {}
    (body,) = h.events("record")
    assert body["size"] == 4 * 4000
