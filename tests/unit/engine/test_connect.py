"""connect: new leg in the same conversation, bridging, failures, synchronous fallback."""

from __future__ import annotations

from typing import Any

from trunkline.engine.hooks import Hook
from trunkline.sim import Step
from trunkline.testing.harness import Harness

CALLER = "447700900100"
AGENT = "447700900001"
BACKUP = "447700900002"


def connect(number: str, **extra: Any) -> dict[str, Any]:
    return {
        "action": "connect",
        "from": "447700900000",
        "endpoint": [{"type": "phone", "number": number}],
        "eventUrl": ["http://app.test/connect-event"],
        **extra,
    }


def test_connect_answered_bridges_into_the_same_conversation() -> None:
    h = Harness()
    h.answer([{"action": "talk", "text": "Connecting you"}, connect(AGENT)])
    h.on("/connect-event", None)
    h.phone(CALLER)
    h.phone(AGENT, ring=3, script=[Step(at=10, hangup=True)])
    call = h.sim.call(CALLER, h.number)
    h.run()
    agent_events = h.requests_to("/connect-event")
    statuses = [x.body["status"] for x in agent_events]
    assert statuses == ["started", "ringing", "answered", "completed"]
    assert {x.body["conversation_uuid"] for x in agent_events} == {
        h.events(status="started")[0]["conversation_uuid"]
    }
    agent_done = agent_events[-1].body
    assert agent_done["disconnected_by"] == "user"
    assert agent_done["duration"] == "10"
    hears = [e for e in h.phone(CALLER).log if e.event == "hears"]
    assert hears and hears[0].detail["peers"] == [AGENT]
    # the callee hung up, nothing follows the connect: the caller's leg ends too
    caller_done = next(x for x in h.events(status="completed") if x["uuid"] == call.id)
    assert caller_done["disconnected_by"] == "platform"


def test_caller_continues_after_the_callee_hangs_up() -> None:
    h = Harness()
    h.answer([connect(AGENT), {"action": "talk", "text": "The agent has left"}])
    h.on("/connect-event", None)
    h.phone(CALLER)
    h.phone(AGENT, ring=1, script=[Step(at=5, hangup=True)])
    h.sim.call(CALLER, h.number)
    h.run()
    assert h.phone(CALLER).heard() == ["The agent has left"]


def test_caller_hangup_ends_the_callee_too() -> None:
    h = Harness()
    h.answer([connect(AGENT)])
    h.on("/connect-event", None)
    h.phone(CALLER, script=[Step(at=20, hangup=True)])
    h.phone(AGENT, ring=1)
    h.sim.call(CALLER, h.number)
    h.run()
    agent_done = h.requests_to("/connect-event")[-1].body
    assert agent_done["status"] == "completed"
    assert h.phone(AGENT).log[-1].event == "hung_up"


def test_busy_callee_moves_on_to_the_next_action() -> None:
    h = Harness()
    h.answer([connect(AGENT), connect(BACKUP)])
    h.on("/connect-event", None)
    h.phone(CALLER)
    h.phone(AGENT, answer="busy", ring=0)
    h.phone(BACKUP, ring=2, script=[Step(at=3, hangup=True)])
    h.sim.call(CALLER, h.number)
    h.run()
    statuses = [(x.body["to"], x.body["status"]) for x in h.requests_to("/connect-event")]
    assert (AGENT, "busy") in statuses
    assert (BACKUP, "answered") in statuses
    busy = next(x.body for x in h.requests_to("/connect-event") if x.body["status"] == "busy")
    assert busy["sip_code"] == 486


def test_synchronous_failure_reply_replaces_the_ncco() -> None:
    """Seed 000: the main agent is busy; the app's reply connects the next agent."""
    h = Harness()
    h.answer(
        [
            {"action": "talk", "text": "Please hold"},
            connect(AGENT, eventType="synchronous", timeout="10"),
            {"action": "talk", "text": "Never reached"},
        ]
    )

    def on_event(hook: Hook) -> Any:
        if hook.body.get("status") == "busy":
            return [{"action": "talk", "text": "Trying another agent"}, connect(BACKUP)]
        return None

    h.on("/connect-event", on_event)
    h.phone(CALLER)
    h.phone(AGENT, answer="busy", ring=1)
    h.phone(BACKUP, ring=3, script=[Step(at=6, hangup=True)])
    h.sim.call(CALLER, h.number)
    h.run()
    assert h.phone(CALLER).heard() == ["Please hold", "Trying another agent"]
    assert "answered" in h.phone(BACKUP).events()


def test_no_answer_within_timeout_gives_timeout() -> None:
    h = Harness()
    h.answer([connect(AGENT, timeout=15), {"action": "talk", "text": "Nobody answered"}])
    h.on("/connect-event", None)
    h.phone(CALLER)
    h.phone(AGENT, answer="no_answer")
    h.sim.call(CALLER, h.number)
    h.run()
    statuses = [x.body["status"] for x in h.requests_to("/connect-event")]
    assert statuses == ["started", "ringing", "timeout"]
    assert h.phone(CALLER).heard() == ["Nobody answered"]
    assert "missed_call" in h.phone(AGENT).events()


def test_unreachable_number_fails_with_cannot_route() -> None:
    h = Harness()
    h.answer([connect("15550001111")])
    h.on("/connect-event", None)
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    failed = h.requests_to("/connect-event")[-1].body
    assert failed["status"] == "failed" and failed["detail"] == "cannot_route"


def test_rejected_and_unanswered_details() -> None:
    h = Harness()
    h.answer([connect(AGENT), connect(BACKUP)])
    h.on("/connect-event", None)
    h.phone(CALLER)
    h.phone(AGENT, answer="reject", ring=1)
    h.phone(BACKUP, answer="unanswered", ring=1)
    h.sim.call(CALLER, h.number)
    h.run()
    finals = {x.body["to"]: x.body for x in h.requests_to("/connect-event") if "detail" in x.body}
    assert finals[AGENT]["status"] == "rejected" and finals[AGENT]["detail"] == "declined"
    assert finals[BACKUP]["status"] == "unanswered" and finals[BACKUP]["detail"] == "unavailable"


def test_ringback_plays_to_the_caller_while_the_callee_rings() -> None:
    h = Harness()
    h.answer([connect(AGENT, ringbackTone="http://app.test/ring.mp3")])
    h.on("/connect-event", None)
    h.phone(CALLER)
    h.phone(AGENT, ring=4, script=[Step(at=1, hangup=True)])
    h.sim.call(CALLER, h.number)
    h.run()
    log = h.phone(CALLER).log
    assert any(e.event == "heard_stream" and e.detail["url"].endswith("ring.mp3") for e in log)
    assert any(e.event == "prompt_stopped" for e in log)


def test_dtmf_answer_is_sent_to_the_callee() -> None:
    h = Harness()
    ep = {"type": "phone", "number": AGENT, "dtmfAnswer": "1p2"}
    h.answer([{"action": "connect", "from": h.number, "endpoint": [ep]}])
    h.phone(CALLER)
    h.phone(AGENT, ring=1, script=[Step(at=1, hangup=True)])
    h.sim.call(CALLER, h.number)
    h.run()
    sent = [e.detail["digits"] for e in h.phone(AGENT).log if e.event == "heard_dtmf"]
    assert sent == ["1p2"]


def test_limit_ends_the_bridge() -> None:
    h = Harness()
    h.answer([connect(AGENT, limit=30)])
    h.on("/connect-event", None)
    h.phone(CALLER)
    h.phone(AGENT, ring=1)
    h.sim.call(CALLER, h.number)
    h.run()
    done = h.requests_to("/connect-event")[-1].body
    assert done["status"] == "completed" and done["duration"] == "30"
    assert done["disconnected_by"] == "platform"


def test_machine_detection_hangup_on_connect() -> None:
    h = Harness()
    h.answer(
        [connect(AGENT, machineDetection="hangup"), {"action": "talk", "text": "Voicemail, sorry"}]
    )
    h.on("/connect-event", None)
    h.phone(CALLER)
    h.phone(AGENT, answer="machine", ring=1)
    h.sim.call(CALLER, h.number)
    h.run()
    bodies = [x.body for x in h.requests_to("/connect-event")]
    machine = [b for b in bodies if b.get("status") == "machine"]
    assert machine and "call_uuid" in machine[0] and "uuid" not in machine[0]
    assert h.phone(CALLER).heard() == ["Voicemail, sorry"]
