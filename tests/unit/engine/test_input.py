"""input: DTMF and speech completion rules, bargeIn, replies that replace the NCCO."""

from __future__ import annotations

from typing import Any

from trunkline.sim import Step, speech_seconds
from trunkline.testing.harness import Harness

CALLER = "447700900100"
MENU = "Press 1 for sales, 2 for support"


def ivr(**dtmf: Any) -> list[dict[str, Any]]:
    return [
        {"action": "talk", "text": MENU, "bargeIn": True},
        {
            "action": "input",
            "type": ["dtmf"],
            "dtmf": {"maxDigits": 1, **dtmf},
            "eventUrl": ["http://app.test/input"],
        },
        {"action": "talk", "text": "Goodbye"},
    ]


def test_barge_in_digit_stops_the_prompt_and_submits_at_max_digits() -> None:
    h = Harness()
    h.answer(ivr())
    h.on("/input", None)
    h.phone(CALLER, script=[Step(at=1.0, press="1")])
    h.sim.call(CALLER, h.number)
    h.run()
    (req,) = h.requests_to("/input")
    assert req.body["dtmf"] == {"digits": "1", "timed_out": False}
    assert req.body["speech"] == {"results": []}
    log = h.phone(CALLER).log
    stopped = [e for e in log if e.event == "prompt_stopped"]
    assert stopped and stopped[0].detail["text"] == MENU
    # no NCCO in the reply: the flow goes on with the next action
    assert h.phone(CALLER).heard() == [MENU, "Goodbye"]


def test_reply_ncco_replaces_the_rest() -> None:
    h = Harness()
    h.answer(ivr())
    h.on(
        "/input",
        lambda hook: [{"action": "talk", "text": f"You chose {hook.body['dtmf']['digits']}"}],
    )
    h.phone(CALLER, script=[Step(at=0.5, press="2")])
    h.sim.call(CALLER, h.number)
    h.run()
    assert h.phone(CALLER).heard() == [MENU, "You chose 2"]


def test_timeout_counts_from_the_end_of_the_prompt() -> None:
    h = Harness()
    h.answer(ivr(timeOut=3))
    h.on("/input", None)
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    (req,) = h.requests_to("/input")
    assert req.body["dtmf"] == {"digits": None, "timed_out": True}
    answered_at = next(e.t for e in h.phone(CALLER).log if e.event == "answered")
    heard = [e for e in h.phone(CALLER).log if e.event == "heard_talk"]
    goodbye_at = heard[1].t
    assert abs(goodbye_at - answered_at - (speech_seconds(MENU) + 3)) < 1e-6


def test_submit_on_hash_excludes_the_hash() -> None:
    h = Harness()
    h.answer(
        [
            {
                "action": "input",
                "type": ["dtmf"],
                "dtmf": {"maxDigits": 10, "submitOnHash": True, "timeOut": 5},
                "eventUrl": ["http://app.test/input"],
            }
        ]
    )
    h.on("/input", None)
    h.phone(CALLER, script=[Step(at=0.2, press="1234#")])
    h.sim.call(CALLER, h.number)
    h.run()
    (req,) = h.requests_to("/input")
    assert req.body["dtmf"] == {"digits": "1234", "timed_out": False}


def test_inter_digit_timeout_restarts_on_each_key() -> None:
    h = Harness()
    h.answer(
        [
            {
                "action": "input",
                "type": ["dtmf"],
                "dtmf": {"maxDigits": 4, "timeOut": 2},
                "eventUrl": ["http://app.test/input"],
            }
        ]
    )
    h.on("/input", None)
    h.phone(CALLER, script=[Step(at=0.5, press="1"), Step(at=2.0, press="2")])
    h.sim.call(CALLER, h.number)
    h.run()
    (req,) = h.requests_to("/input")
    assert req.body["dtmf"] == {"digits": "12", "timed_out": True}
    answered = next(e.t for e in h.phone(CALLER).log if e.event == "answered")
    assert abs(h.clock.now() - answered - 4.0) < 0.5  # 2.0 s + 2 s timeout, then call ends


def test_input_without_event_url_goes_to_the_call_event_url() -> None:
    h = Harness()
    h.answer([{"action": "input", "type": ["dtmf"], "dtmf": {"maxDigits": 1}}])
    h.phone(CALLER, script=[Step(at=0.5, press="9")])
    h.sim.call(CALLER, h.number)
    h.run()
    inputs = [x for x in h.webhooks.sent if x.kind == "input"]
    assert inputs and inputs[0].url == "http://app.test/event"


def test_speech_input_gets_the_words_said() -> None:
    h = Harness()
    h.answer(
        [
            {"action": "talk", "text": "Say sales or support"},
            {
                "action": "input",
                "type": ["speech"],
                "speech": {"context": ["sales", "support"]},
                "eventUrl": ["http://app.test/input"],
            },
        ]
    )
    h.on("/input", None)
    h.phone(CALLER, script=[Step(at=2.0, say="sales", when_heard="Say sales")])
    h.sim.call(CALLER, h.number)
    h.run()
    (req,) = h.requests_to("/input")
    assert req.body["speech"]["results"][0]["text"] == "sales"
    assert req.body["speech"]["timeout_reason"] == "end_on_silence_timeout"
    assert req.body["dtmf"] == {"digits": None, "timed_out": False}


def test_speech_start_timeout() -> None:
    h = Harness()
    h.answer(
        [
            {
                "action": "input",
                "type": ["speech"],
                "speech": {"startTimeout": 4},
                "eventUrl": ["http://app.test/input"],
            }
        ]
    )
    h.on("/input", None)
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    (req,) = h.requests_to("/input")
    assert req.body["speech"] == {"timeout_reason": "start_timeout", "results": []}


def test_dtmf_overrides_speech_when_both_are_enabled() -> None:
    h = Harness()
    h.answer(
        [
            {
                "action": "input",
                "type": ["dtmf", "speech"],
                "dtmf": {"maxDigits": 1},
                "speech": {},
                "eventUrl": ["http://app.test/input"],
            }
        ]
    )
    h.on("/input", None)
    h.phone(CALLER, script=[Step(at=0.5, press="3")])
    h.sim.call(CALLER, h.number)
    h.run()
    (req,) = h.requests_to("/input")
    assert req.body["dtmf"]["digits"] == "3"
    assert req.body["speech"]["error"] == "Speech overridden by DTMF"


def test_legacy_input_payload() -> None:
    h = Harness()
    h.answer(
        [{"action": "input", "maxDigits": 2, "timeOut": 3, "eventUrl": ["http://app.test/input"]}]
    )
    h.on("/input", None)
    h.phone(CALLER, script=[Step(at=0.5, press="42")])
    h.sim.call(CALLER, h.number)
    h.run()
    (req,) = h.requests_to("/input")
    assert req.body["dtmf"] == "42"
    assert req.body["timed_out"] is False
    assert "speech" not in req.body


def test_asynchronous_input_posts_each_key_and_moves_on() -> None:
    h = Harness()
    h.answer(
        [
            {
                "action": "input",
                "type": ["dtmf"],
                "mode": "asynchronous",
                "eventUrl": ["http://app.test/keys"],
            },
            {"action": "talk", "text": "Keep talking", "loop": 2},
        ]
    )
    h.on("/keys", None)
    h.phone(CALLER, script=[Step(at=0.3, press="12")])
    h.sim.call(CALLER, h.number)
    h.run()
    keys = [x.body["dtmf"]["digits"] for x in h.requests_to("/keys")]
    assert keys == ["1", "2"]
    assert h.phone(CALLER).heard() == ["Keep talking"]


def test_barge_in_without_following_input_is_synchronous() -> None:
    h = Harness()
    h.answer(
        [{"action": "talk", "text": "First", "bargeIn": True}, {"action": "talk", "text": "Second"}]
    )
    h.phone(CALLER)
    h.sim.call(CALLER, h.number)
    h.run()
    heard = [e for e in h.phone(CALLER).log if e.event == "heard_talk"]
    assert abs(heard[1].t - heard[0].t - speech_seconds("First")) < 1e-6


def test_digits_before_the_input_starts_are_not_collected() -> None:
    h = Harness()
    h.answer(
        [
            {"action": "talk", "text": "Please wait for the tone before dialling"},
            {
                "action": "input",
                "type": ["dtmf"],
                "dtmf": {"maxDigits": 1, "timeOut": 1},
                "eventUrl": ["http://app.test/input"],
            },
        ]
    )
    h.on("/input", None)
    h.phone(CALLER, script=[Step(at=0.5, press="5")])
    h.sim.call(CALLER, h.number)
    h.run()
    (req,) = h.requests_to("/input")
    assert req.body["dtmf"] == {"digits": None, "timed_out": True}
