"""The engine's core rules on the virtual clock: talk, order, run-out, events."""

from __future__ import annotations

from trunkline.clock import VIRTUAL_EPOCH, iso
from trunkline.sim import speech_seconds
from trunkline.testing.harness import Harness

CALLER = "447700900100"


def test_talk_then_ncco_runs_out_and_call_completes() -> None:
    h = Harness()
    h.answer([{"action": "talk", "text": "Hello from trunkline"}])
    h.phone(CALLER)
    call = h.sim.call(CALLER, h.number)
    h.run()
    assert h.phone(CALLER).heard() == ["Hello from trunkline"]
    assert h.statuses(call.id) == ["started", "ringing", "answered", "completed"]
    done = h.events(status="completed")[0]
    assert done["disconnected_by"] == "platform"
    assert done["duration"] == str(round(speech_seconds("Hello from trunkline")))
    assert done["direction"] == "inbound"
    assert done["from"] == CALLER and done["to"] == h.number
    for key in ("start_time", "end_time", "rate", "price", "network", "conversation_uuid"):
        assert key in done
    assert "hung_up" in h.phone(CALLER).events()


def test_answer_webhook_is_a_get_with_vonage_parameters() -> None:
    h = Harness()
    h.answer([{"action": "talk", "text": "Hi"}])
    h.phone(CALLER)
    call = h.sim.call(CALLER, h.number)
    h.run()
    (req,) = h.requests_to("/answer")
    assert req.method == "GET"
    assert req.body["to"] == h.number and req.body["from"] == CALLER
    assert req.body["uuid"] == call.id
    assert req.body["conversation_uuid"].startswith("CON-")


def test_actions_run_in_order_and_loop_multiplies_talk_time() -> None:
    h = Harness()
    h.answer(
        [
            {"action": "talk", "text": "One", "loop": 3},
            {"action": "wait", "timeout": 2},
            {"action": "talk", "text": "Two"},
        ]
    )
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    log = h.phone(CALLER).log
    heard = [e for e in log if e.event == "heard_talk"]
    assert [e.detail["text"] for e in heard] == ["One", "Two"]
    gap = heard[1].t - heard[0].t
    assert abs(gap - (3 * speech_seconds("One") + 2)) < 1e-6


def test_timestamps_are_virtual_iso_with_milliseconds() -> None:
    h = Harness()
    h.answer([{"action": "talk", "text": "Hi"}])
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    started = h.events(status="started")[0]
    assert started["timestamp"] == iso(VIRTUAL_EPOCH)
    assert started["timestamp"].endswith(".000Z")


def test_talk_with_loop_zero_plays_until_the_caller_hangs_up() -> None:
    h = Harness()
    h.answer([{"action": "talk", "text": "Music", "loop": 0}, {"action": "talk", "text": "Never"}])
    h.phone(CALLER)
    call = h.sim.call(CALLER, h.number)
    h.run(600)
    assert h.phone(CALLER).heard() == ["Music"]
    call.hang_up()
    h.run()
    done = h.events(status="completed")[0]
    assert done["disconnected_by"] == "user"
    assert done["duration"] == "600"


def test_unknown_number_is_refused_and_reaches_no_app() -> None:
    h = Harness()
    h.phone(CALLER)
    call = h.sim.call(CALLER, "15550000000")
    h.run()
    assert h.webhooks.sent == []
    assert call.state == "ended"
    assert h.phone(CALLER).log[-1].event == "call_failed"


def test_call_records_are_stored_with_final_state() -> None:
    h = Harness()
    h.answer([{"action": "talk", "text": "Hi"}])
    h.phone(CALLER)
    call = h.sim.call(CALLER, h.number)
    h.run()
    rec = h.store.get_call(call.id)
    assert rec is not None
    assert rec.status == "completed"
    assert rec.duration is not None and rec.end_time is not None
    assert rec.disconnected_by == "platform"
    assert h.switch.legs == {}


def test_every_event_is_stored_before_delivery() -> None:
    h = Harness()
    h.answer([{"action": "talk", "text": "Hi"}])
    h.phone(CALLER)
    call = h.sim.call(CALLER, h.number)
    h.run()
    stored = [e.body.get("status") for e in h.store.events_for_call(call.id)]
    assert stored == ["started", "ringing", "answered", "completed"]
