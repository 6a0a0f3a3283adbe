"""input with speech on a leg whose driver recognises audio: start/stop_speech and the
results, errors and speech-start reports a real driver sends (sim call as the channel)."""

from __future__ import annotations

from typing import Any

from trunkline.engine.leg import Leg
from trunkline.engine.ports import SpeechOptions
from trunkline.sim import SimCall, speech_seconds
from trunkline.testing.harness import Harness

CALLER = "447700900100"
PROMPT = "Which department?"


class Recognising:
    """A fake recognising driver on a sim call: records what the engine asks of it."""

    def __init__(self, call: SimCall) -> None:
        self.call = call
        self.started: list[tuple[str, SpeechOptions]] = []
        self.stopped: list[str] = []
        call.start_speech = self.start_speech  # type: ignore[method-assign]
        call.stop_speech = self.stop_speech  # type: ignore[method-assign]

    def start_speech(self, listen_id: str, options: SpeechOptions) -> None:
        self.started.append((listen_id, options))

    def stop_speech(self, listen_id: str) -> None:
        self.stopped.append(listen_id)

    @property
    def leg(self) -> Leg:
        assert self.call.leg is not None
        return self.call.leg


def speech_input(*, barge_in: bool = False, **speech: Any) -> list[dict[str, Any]]:
    return [
        {"action": "talk", "text": PROMPT, "bargeIn": barge_in},
        {
            "action": "input",
            "type": ["speech"],
            "speech": speech,
            "eventUrl": ["http://app.test/input"],
        },
        {"action": "talk", "text": "Goodbye"},
    ]


def start(h: Harness, ncco: list[dict[str, Any]]) -> Recognising:
    h.answer(ncco)
    h.on("/input", None)
    h.phone(CALLER)
    driver = Recognising(h.sim.call(CALLER, h.number))
    h.run(speech_seconds(PROMPT) + 0.5)  # listening starts when the prompt has played
    return driver


def test_the_driver_gets_the_speech_settings_and_its_result_is_posted() -> None:
    h = Harness()
    driver = start(
        h,
        speech_input(
            language="en-GB",
            context=["sales", "support"],
            endOnSilence=1.5,
            startTimeout=5,
            maxDuration=20,
            saveAudio=True,
            sensitivity=60,
        ),
    )
    ((listen_id, options),) = driver.started
    assert options == SpeechOptions(
        language="en-GB",
        context=("sales", "support"),
        end_on_silence=1.5,
        start_timeout=5,
        max_duration=20,
        save_audio=True,
        sensitivity=60,
    )
    driver.leg.on_speech_started()
    driver.leg.on_speech_result(
        [("sales", 0.9405097), ("sails", 0.70543784)],
        "end_on_silence_timeout",
        "http://trunkline.test/v1/files/abc",
    )
    h.run()
    (req,) = h.requests_to("/input")
    assert req.body["speech"] == {
        "recording_url": "http://trunkline.test/v1/files/abc",
        "timeout_reason": "end_on_silence_timeout",
        "results": [
            {"text": "sales", "confidence": "0.9405097"},
            {"text": "sails", "confidence": "0.7054378"},
        ],
    }
    assert req.body["dtmf"] == {"digits": None, "timed_out": False}
    assert driver.stopped == [listen_id]
    assert h.phone(CALLER).heard()[-1] == "Goodbye"


def test_speech_start_stops_the_start_timer() -> None:
    h = Harness()
    driver = start(h, speech_input(startTimeout=2))
    assert driver.started
    driver.leg.on_speech_started()
    h.run(4.0)  # past startTimeout: still listening, the caller is speaking
    assert h.requests_to("/input") == []
    driver.leg.on_speech_result([("billing", 0.8)], "max_duration")
    h.run()
    (req,) = h.requests_to("/input")
    assert req.body["speech"]["timeout_reason"] == "max_duration"
    assert req.body["speech"]["results"] == [{"text": "billing", "confidence": "0.8"}]


def test_a_recognition_error_completes_the_input_and_sends_an_error_event() -> None:
    h = Harness()
    driver = start(h, speech_input(language="cy-GB"))
    reason = "ERR1: speech recognition language 'cy-GB' is not supported"
    driver.leg.on_speech_error(reason)
    h.run()
    (req,) = h.requests_to("/input")
    assert req.body["speech"] == {"error": reason, "results": []}
    errors = h.events("error")
    assert [e["reason"] for e in errors] == [reason]
    assert len(driver.stopped) == 1


def test_driver_start_timeout_result_is_posted_as_such() -> None:
    h = Harness()
    driver = start(h, speech_input(startTimeout=8))
    driver.leg.on_speech_result([], "start_timeout")
    h.run()
    (req,) = h.requests_to("/input")
    assert req.body["speech"] == {"timeout_reason": "start_timeout", "results": []}


def test_hanging_up_while_listening_stops_recognition() -> None:
    h = Harness()
    driver = start(h, speech_input())
    assert len(driver.started) == 1
    driver.call.hang_up()
    h.run()
    assert driver.stopped == [driver.started[0][0]]
    assert h.requests_to("/input") == []


def test_speech_barges_in_on_a_barge_in_prompt() -> None:
    """Recognition starts with the input while the bargeIn prompt plays; speech stops it."""
    h = Harness()
    h.answer(speech_input(barge_in=True, startTimeout=3, context=["sales"]))
    h.on("/input", None)
    h.phone(CALLER)
    driver = Recognising(h.sim.call(CALLER, h.number))
    h.run(0.2)  # the prompt is playing
    ((_, options),) = driver.started
    assert options.start_timeout == 60.0  # the engine's own timer applies startTimeout
    assert options.context == ("sales",)
    driver.leg.on_speech_started()
    h.run(0.1)
    stopped = [e for e in h.phone(CALLER).log if e.event == "prompt_stopped"]
    assert stopped and stopped[0].detail["text"] == PROMPT
    h.run(10.0)  # well past startTimeout: the caller is talking
    assert h.requests_to("/input") == []
    driver.leg.on_speech_result([("sales", 0.9)], "end_on_silence_timeout")
    h.run()
    (req,) = h.requests_to("/input")
    assert req.body["speech"]["results"] == [{"text": "sales", "confidence": "0.9"}]
    assert len(driver.started) == 1


def test_barge_in_prompt_then_silence_gives_start_timeout_after_the_prompt() -> None:
    h = Harness()
    h.answer(speech_input(barge_in=True, startTimeout=3))
    h.on("/input", None)
    h.phone(CALLER)
    driver = Recognising(h.sim.call(CALLER, h.number))
    h.run(0.2)
    answered = next(e.t for e in h.phone(CALLER).log if e.event == "answered")
    h.run(answered + speech_seconds(PROMPT) + 2.9 - h.clock.now())
    assert h.requests_to("/input") == []  # startTimeout counts from the end of the prompt
    h.run(0.2)
    (req,) = h.requests_to("/input")
    assert req.body["speech"] == {"timeout_reason": "start_timeout", "results": []}
    assert len(driver.started) == 1 and driver.stopped == [driver.started[0][0]]
