"""Advanced machine detection (spec §4.4): modes default, detect and detect_beep, on sim phones.

A sim answering machine is known as a machine when it answers and beeps after its
greeting (4 s unless set); a human never beeps.
"""

from __future__ import annotations

from typing import Any

from trunkline.engine.switch import CallOptions
from trunkline.ncco import parse_ncco
from trunkline.testing.harness import Harness

CALLEE = "447700900500"
TALK = [{"action": "talk", "text": "Please leave a message", "loop": 5}]  # ~8 s


def call(h: Harness, mode: str, behavior: str = "continue", beep_timeout: float = 45.0) -> str:
    opts = CallOptions(
        to={"type": "phone", "number": CALLEE},
        from_={"type": "phone", "number": h.number},
        ncco=parse_ncco(TALK).actions,
        machine_detection=behavior,
        amd_mode=mode,
        beep_timeout=beep_timeout,
    )
    return h.switch.create_call(h.application, opts).uuid


def amd_events(h: Harness) -> list[tuple[str, Any]]:
    return [
        (e["status"], e.get("sub_state"))
        for e in h.events()
        if e.get("status") in ("human", "machine")
    ]


def heard_at(h: Harness) -> float:
    (entry,) = [e for e in h.phone(CALLEE).log if e.event == "heard_talk"]
    return entry.t


def answered_at(h: Harness) -> float:
    (entry,) = [e for e in h.phone(CALLEE).log if e.event == "answered"]
    return entry.t


def test_default_mode_sends_the_verdict_and_the_beep_while_the_ncco_runs() -> None:
    h = Harness()
    h.phone(CALLEE, answer="machine", ring=1)
    call(h, "default")
    h.run()
    assert amd_events(h) == [("machine", None), ("machine", "beep_start")]
    assert heard_at(h) == answered_at(h)  # the NCCO did not wait


def test_default_mode_takes_an_ncco_in_reply_to_the_beep() -> None:
    h = Harness()
    h.phone(CALLEE, answer="machine", ring=1)

    def reply(hook: Any) -> Any:
        if hook.body.get("sub_state") == "beep_start":
            return [{"action": "talk", "text": "Hello machine, after the beep"}]
        return None

    h.on("/event", reply)
    call(h, "default")
    h.run()
    assert "Hello machine, after the beep" in h.phone(CALLEE).heard()


def test_detect_mode_holds_the_ncco_for_the_verdict_and_sends_no_beep() -> None:
    h = Harness()
    h.phone(CALLEE, answer="machine", ring=1)
    call(h, "detect")
    h.run()
    assert amd_events(h) == [("machine", None)]
    assert h.phone(CALLEE).heard() == ["Please leave a message"]


def test_detect_beep_mode_waits_for_the_beep_and_sends_only_it() -> None:
    h = Harness()
    h.phone(CALLEE, answer="machine", ring=1, greeting=6.0)
    call(h, "detect_beep")
    h.run()
    assert amd_events(h) == [("machine", "beep_start")]
    assert heard_at(h) - answered_at(h) == 6.0  # the message starts after the beep


def test_detect_beep_without_a_beep_times_out() -> None:
    h = Harness()
    h.phone(CALLEE, answer="machine", ring=1, greeting=None)
    call(h, "detect_beep", beep_timeout=45)
    h.run()
    assert amd_events(h) == [("machine", "beep_timeout")]
    assert heard_at(h) - answered_at(h) == 45.0


def test_detect_beep_on_a_human_goes_ahead_at_once() -> None:
    h = Harness()
    h.phone(CALLEE, answer="human", ring=1)
    call(h, "detect_beep")
    h.run()
    assert amd_events(h) == [("human", None)]
    assert heard_at(h) == answered_at(h)


def test_hangup_behavior_ends_a_machine_call_without_playing() -> None:
    h = Harness()
    h.phone(CALLEE, answer="machine", ring=1)
    uuid = call(h, "detect", behavior="hangup")
    h.run()
    assert h.phone(CALLEE).heard() == []
    assert h.statuses(uuid)[-1] == "completed"
