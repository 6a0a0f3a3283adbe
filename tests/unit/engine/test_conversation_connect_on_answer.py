"""connect onAnswer: an NCCO for the callee before the bridge, ringback to the caller meanwhile."""

from __future__ import annotations

from typing import Any

from trunkline.engine.hooks import Hook, HookResult
from trunkline.sim import Step
from trunkline.sim.phones import speech_seconds
from trunkline.testing.harness import Harness

CALLER = "447700900100"
AGENT = "447700900001"
WHISPER = "Call from a gold customer. Press nothing, you are being connected."
RINGBACK = "http://app.test/ringback.mp3"


def connect_with_on_answer(**on_answer: Any) -> dict[str, Any]:
    return {
        "action": "connect",
        "from": "447700900000",
        "eventUrl": ["http://app.test/connect-event"],
        "endpoint": [
            {
                "type": "phone",
                "number": AGENT,
                "onAnswer": {"url": "http://app.test/whisper", **on_answer},
            }
        ],
    }


def harness(whisper: Any, *, agent_hangs_up_at: float = 30.0) -> Harness:
    h = Harness()
    h.answer([connect_with_on_answer(ringbackTone=RINGBACK), {"action": "talk", "text": "Bye"}])
    h.on("/connect-event", None)
    h.on("/whisper", whisper)
    h.phone(CALLER)
    h.phone(AGENT, ring=2, script=[Step(at=agent_hangs_up_at, hangup=True)])
    return h


def test_the_callee_hears_the_on_answer_ncco_before_the_bridge() -> None:
    h = harness([{"action": "talk", "text": WHISPER}])
    call = h.sim.call(CALLER, h.number)
    h.run()
    (req,) = h.requests_to("/whisper")
    agent_leg = next(r.body for r in h.requests_to("/connect-event"))["uuid"]
    assert req.method == "GET"
    assert req.body["uuid"] == agent_leg and req.body["to"] == AGENT
    assert req.body["conversation_uuid"] == h.store.get_call(call.id).conversation_uuid  # type: ignore[union-attr]
    agent = h.phone(AGENT).log
    answered = next(e.t for e in agent if e.event == "answered")
    talk = next(e for e in agent if e.event == "heard_talk")
    assert talk.detail["text"] == WHISPER and talk.t == answered
    hears = next(e for e in agent if e.event == "hears")
    # bridged once the whisper has been said in full
    assert hears.t == answered + speech_seconds(WHISPER)
    assert hears.detail["peers"] == [CALLER]
    caller = h.phone(CALLER).log
    ringback = next(e for e in caller if e.event == "heard_stream")
    assert ringback.detail["url"] == RINGBACK
    stopped = next(e for e in caller if e.event == "prompt_stopped")
    assert stopped.detail["text"] == RINGBACK and stopped.t == hears.t
    caller_hears = next(e for e in caller if e.event == "hears")
    assert caller_hears.t == hears.t and caller_hears.detail["peers"] == [AGENT]
    # the agent hangs up after 30 s: the caller goes on with the next action
    assert h.phone(CALLER).heard() == ["Bye"]


def test_the_on_answer_ncco_can_ask_the_callee_and_route_on_the_reply() -> None:
    """A screening question: the reply to the input is an empty NCCO, so the callee's
    NCCO runs out and the bridge is made; the callee's digit went to the input URL."""

    def whisper(hook: Hook) -> Any:
        return [
            {"action": "talk", "text": "Press 1 to accept."},
            {
                "action": "input",
                "type": ["dtmf"],
                "dtmf": {"maxDigits": 1, "timeOut": 5},
                "eventUrl": ["http://app.test/accept"],
            },
        ]

    h = Harness()
    h.answer([connect_with_on_answer()])
    h.on("/connect-event", None)
    h.on("/whisper", whisper)
    h.on("/accept", [])
    h.phone(CALLER)
    h.phone(AGENT, ring=1, script=[Step(at=3, press="1"), Step(at=20, hangup=True)])
    h.sim.call(CALLER, h.number)
    h.run()
    (accept,) = h.requests_to("/accept")
    assert accept.body["dtmf"]["digits"] == "1"
    agent = h.phone(AGENT).log
    pressed = next(e.t for e in agent if e.event == "pressed")
    hears = [e for e in agent if e.event == "hears"]
    assert hears and hears[0].detail["peers"] == [CALLER]
    assert hears[0].t >= pressed  # not bridged before the callee accepted


def test_a_failed_on_answer_fetch_hangs_up_the_callee_and_the_caller_goes_on() -> None:
    h = harness(HookResult(status=500, json={"error": "down"}))
    h.sim.call(CALLER, h.number)
    h.run()
    errors = h.events("error")
    assert any("onAnswer" in e["reason"] for e in errors), errors
    assert h.phone(CALLER).heard() == ["Bye"]
    assert not any(e.event == "hears" and e.detail["peers"] for e in h.phone(AGENT).log)
    assert "prompt_stopped" in h.phone(CALLER).events()


def test_the_callee_hanging_up_during_the_on_answer_ncco_ends_the_connect() -> None:
    h = harness([{"action": "talk", "text": "A long whisper " * 20}], agent_hangs_up_at=2.0)
    h.sim.call(CALLER, h.number)
    h.run()
    assert h.phone(CALLER).heard() == ["Bye"]
    assert not any(e.event == "hears" and e.detail["peers"] for e in h.phone(CALLER).log)
    statuses = [r.body["status"] for r in h.requests_to("/connect-event")]
    assert statuses == ["started", "ringing", "answered", "completed"]


def test_the_caller_hanging_up_during_the_on_answer_ncco_hangs_up_the_callee() -> None:
    h = Harness()
    h.answer([connect_with_on_answer()])
    h.on("/connect-event", None)
    h.on("/whisper", [{"action": "talk", "text": "A long whisper " * 20}])
    h.phone(CALLER, script=[Step(at=5, hangup=True)])
    h.phone(AGENT, ring=1)
    h.sim.call(CALLER, h.number)
    h.run()
    assert h.phone(AGENT).log[-1].event == "hung_up"
    assert h.requests_to("/connect-event")[-1].body["status"] == "completed"
