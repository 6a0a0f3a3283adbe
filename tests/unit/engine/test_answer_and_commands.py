"""Answer webhook failures and fallback, outbound calls, REST-level commands."""

from __future__ import annotations

import pytest

from trunkline.engine.hooks import HookResult
from trunkline.engine.ports import Prompt
from trunkline.engine.switch import CallOptions
from trunkline.errors import CallStateError, NotFound
from trunkline.ncco import parse_ncco
from trunkline.sim import Step
from trunkline.testing.harness import Harness

CALLER = "447700900100"
CALLEE = "447700900500"


def test_invalid_answer_ncco_gives_an_error_event_naming_the_field() -> None:
    h = Harness()
    h.answer(
        [
            {"action": "talk", "text": "ok"},
            {"action": "connect", "endpoint": [{"type": "phone", "number": "12"}]},
        ]
    )
    h.phone(CALLER)
    call = h.sim.call(CALLER, h.number)
    h.run()
    (err,) = h.events(kind="error")
    assert "/1/endpoint/0/number" in err["reason"]
    assert h.store.get_call(call.id).status == "failed"  # type: ignore[union-attr]
    assert h.phone(CALLER).log[-1].event == "call_failed"


def test_answer_is_retried_once_on_503_then_succeeds() -> None:
    h = Harness()
    replies = [HookResult(status=503), [{"action": "talk", "text": "Second time lucky"}]]
    h.answer(lambda hook: replies.pop(0))
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    assert len(h.requests_to("/answer")) == 2
    assert h.phone(CALLER).heard() == ["Second time lucky"]


def test_answer_500_is_not_retried_and_fallback_is_used() -> None:
    h = Harness(fallback=True)
    h.answer(HookResult(status=500))
    h.on("/fallback", [{"action": "talk", "text": "Fallback speaking"}])
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    assert len(h.requests_to("/answer")) == 1
    (fb,) = h.requests_to("/fallback")
    assert fb.body["original_request"] == {"url": "http://app.test/answer", "type": "answer"}
    assert "500" in fb.body["reason"]
    assert h.phone(CALLER).heard() == ["Fallback speaking"]


def test_answer_and_fallback_both_failing_end_the_call_with_an_error() -> None:
    h = Harness(fallback=True)
    h.answer(HookResult(status=None, error="connect timeout"))
    h.on("/fallback", HookResult(status=None, error="connection refused"))
    h.phone(CALLER)
    call = h.sim.call(CALLER, h.number)
    h.run()
    assert len(h.requests_to("/answer")) == 2
    assert len(h.requests_to("/fallback")) == 2
    assert h.events(kind="error")
    assert h.store.get_call(call.id).status == "failed"  # type: ignore[union-attr]


def test_invalid_reply_to_input_keeps_the_current_flow() -> None:
    h = Harness()
    h.answer(
        [
            {
                "action": "input",
                "type": ["dtmf"],
                "dtmf": {"maxDigits": 1},
                "eventUrl": ["http://app.test/input"],
            },
            {"action": "talk", "text": "Carrying on"},
        ]
    )
    h.on("/input", [{"action": "dance"}])
    h.phone(CALLER, script=[Step(at=0.2, press="1")])
    h.sim.call(CALLER, h.number)
    h.run()
    (err,) = h.events(kind="error")
    assert "/0/action" in err["reason"]
    assert h.phone(CALLER).heard() == ["Carrying on"]


def outbound(h: Harness, **kw: object) -> str:
    opts = CallOptions(
        to={"type": "phone", "number": CALLEE},
        from_={"type": "phone", "number": h.number},
        **kw,  # type: ignore[arg-type]
    )
    return h.switch.create_call(h.application, opts).uuid


def test_outbound_call_with_inline_ncco() -> None:
    h = Harness()
    h.phone(CALLEE, ring=2)
    uuid = outbound(
        h, ncco=parse_ncco([{"action": "talk", "text": "This is an outbound call"}]).actions
    )
    h.run()
    assert h.statuses(uuid) == ["started", "ringing", "answered", "completed"]
    assert h.phone(CALLEE).heard() == ["This is an outbound call"]
    assert h.requests_to("/answer") == []


def test_outbound_call_fetches_its_answer_url() -> None:
    h = Harness()
    h.on("/outbound-answer", [{"action": "talk", "text": "Fetched"}])
    h.phone(CALLEE, ring=1)
    outbound(h, answer_url="http://app.test/outbound-answer")
    h.run()
    (req,) = h.requests_to("/outbound-answer")
    assert req.body["to"] == CALLEE
    assert h.phone(CALLEE).heard() == ["Fetched"]


def test_outbound_ringing_timer_gives_timeout() -> None:
    h = Harness()
    h.phone(CALLEE, answer="no_answer")
    uuid = outbound(h, ncco=(), ringing_timer=20.0)
    h.run()
    assert h.statuses(uuid) == ["started", "ringing", "timeout"]
    assert h.store.get_call(uuid).end_time - h.store.get_call(uuid).created_at == pytest.approx(
        20.0
    )  # type: ignore[union-attr]


def test_outbound_length_timer() -> None:
    h = Harness()
    h.phone(CALLEE, ring=1)
    uuid = outbound(
        h, ncco=parse_ncco([{"action": "conversation", "name": "x"}]).actions, length_timer=45.0
    )
    h.run()
    rec = h.store.get_call(uuid)
    assert rec is not None and rec.status == "completed" and rec.duration == 45


def test_machine_detection_continue_sends_the_verdict() -> None:
    h = Harness()
    h.phone(CALLEE, answer="machine", ring=1)
    uuid = outbound(
        h,
        ncco=parse_ncco([{"action": "talk", "text": "Hi machine"}]).actions,
        machine_detection="continue",
    )
    h.run()
    machine = h.events(status="machine")
    assert machine and machine[0]["call_uuid"] == uuid
    assert h.phone(CALLEE).heard() == ["Hi machine"]


def test_rest_commands_on_a_live_call() -> None:
    h = Harness()
    h.answer([{"action": "talk", "text": "Hold music", "loop": 0}])
    h.on("/new", [{"action": "talk", "text": "Transferred by URL"}])
    h.phone(CALLER)
    call = h.sim.call(CALLER, h.number)
    h.run(2)
    sw = h.switch
    sw.mute(call.id)
    sw.earmuff(call.id)
    sw.mute(call.id, False)
    play = sw.play(call.id, Prompt(kind="tts", text="An announcement"))
    sw.stop_play(call.id, play)
    sw.play(call.id, Prompt(kind="stream", text="http://app.test/jingle.mp3", loop=2))
    sw.send_dtmf(call.id, "123")
    h.run(1)
    sw.transfer(
        call.id,
        ncco=parse_ncco(
            [{"action": "talk", "text": "Inline transfer"}, {"action": "wait", "timeout": 1}]
        ).actions,
    )
    h.run(0.5)
    sw.transfer(call.id, url="http://app.test/new")
    h.run()
    heard = h.phone(CALLER).heard()
    assert heard == ["Hold music", "An announcement", "Inline transfer", "Transferred by URL"]
    audio = [e.detail for e in h.phone(CALLER).log if e.event == "audio"]
    assert audio == [
        {"muted": True, "earmuffed": False},
        {"muted": True, "earmuffed": True},
        {"muted": False, "earmuffed": True},
    ]
    assert [e.detail["digits"] for e in h.phone(CALLER).log if e.event == "heard_dtmf"] == ["123"]
    streams = [e.detail for e in h.phone(CALLER).log if e.event == "heard_stream"]
    assert streams == [{"url": "http://app.test/jingle.mp3", "loop": 2}]
    stopped = [e.detail["text"] for e in h.phone(CALLER).log if e.event == "prompt_stopped"]
    assert "An announcement" in stopped
    with pytest.raises(NotFound):
        sw.hangup(call.id)


def test_rest_hangup_while_ringing_is_cancelled_and_commands_need_an_answered_call() -> None:
    h = Harness()
    h.phone(CALLEE, answer="no_answer")
    uuid = outbound(h, ncco=())
    h.run(3)
    with pytest.raises(CallStateError):
        h.switch.mute(uuid)
    with pytest.raises(CallStateError):
        h.switch.transfer(uuid, ncco=())
    h.switch.hangup(uuid)
    h.run()
    assert h.statuses(uuid)[-1] == "cancelled"
    with pytest.raises(NotFound):
        h.switch.hangup(uuid)
