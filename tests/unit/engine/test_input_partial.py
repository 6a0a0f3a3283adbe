"""Interim speech results (trunkline's ``partialResultsUrl``) on the sim network: the
partial event is stored and posted before the input's result, on the virtual clock."""

from __future__ import annotations

from typing import Any

import pytest

from trunkline.engine.ports import SpeechOptions
from trunkline.sim import SimCall, Step, speech_seconds
from trunkline.testing.harness import Harness

CALLER = "447700900100"
PROMPT = "How can I help?"
SAID = "I would like to talk to sales"


def ncco(**speech: Any) -> list[dict[str, Any]]:
    return [
        {"action": "talk", "text": PROMPT},
        {
            "action": "input",
            "type": ["speech"],
            "speech": speech,
            "eventUrl": ["http://app.test/input"],
        },
        {"action": "talk", "text": "Goodbye"},
    ]


def call(h: Harness, speech: dict[str, Any], script: list[Step]) -> SimCall:
    h.answer(ncco(**speech))
    h.on("/input", None)
    h.on("/partial", None)
    h.phone(CALLER, script=script)
    return h.sim.call(CALLER, h.number)


def capture_options(sim_call: SimCall) -> list[SpeechOptions]:
    """Replace the sim call's start_speech: keep the options the engine asks with."""
    started: list[SpeechOptions] = []

    def start_speech(listen_id: str, options: SpeechOptions) -> None:
        started.append(options)

    sim_call.start_speech = start_speech  # type: ignore[method-assign]
    return started


def says_after_prompt(text: str = SAID) -> list[Step]:
    """Say ``text`` once the prompt has played (the input listens then)."""
    return [Step(at=speech_seconds(PROMPT) + 0.3, say=text, when_heard=PROMPT)]


def test_the_partial_is_posted_before_the_input_result() -> None:
    h = Harness()
    sim_call = call(h, {"partialResultsUrl": ["http://app.test/partial"]}, says_after_prompt())
    h.run()
    (partial,) = h.requests_to("/partial")
    (result,) = h.requests_to("/input")
    sent = h.webhooks.sent
    assert sent.index(partial) < sent.index(result)
    assert partial.kind == "speech_partial" and partial.method == "POST"
    assert set(partial.body) == {"uuid", "conversation_uuid", "speech", "timestamp"}
    assert partial.body["speech"] == {"partial": SAID}
    assert partial.body["uuid"] == sim_call.id == result.body["uuid"]
    assert partial.body["conversation_uuid"] == result.body["conversation_uuid"]
    assert partial.body["timestamp"] < result.body["timestamp"]
    assert result.body["speech"]["results"][0]["text"] == SAID
    assert h.phone(CALLER).heard() == [PROMPT, "Goodbye"]


def test_the_partial_is_stored_like_every_event() -> None:
    h = Harness()
    sim_call = call(h, {"partialResultsUrl": ["http://app.test/partial"]}, says_after_prompt())
    h.run()
    stored = [e for e in h.store.events_for_call(sim_call.id) if e.kind == "speech_partial"]
    assert len(stored) == 1
    (event,) = stored
    assert event.url == "http://app.test/partial"
    assert event.body["speech"] == {"partial": SAID}
    said_at = next(e.t for e in h.phone(CALLER).log if e.event == "said")
    assert event.created_at == pytest.approx(said_at + speech_seconds(SAID) / 2)  # halfway
    lines = [t.summary for t in h.store.timeline(call_uuid=sim_call.id) if t.kind == "speech"]
    assert lines[0] == f"partial {SAID!r}"


def test_get_is_honoured_and_the_reply_is_ignored() -> None:
    h = Harness()
    call(
        h,
        {"partialResultsUrl": ["http://app.test/partial"], "partialResultsMethod": "get"},
        says_after_prompt("billing"),
    )
    # an NCCO in the reply would replace the call's NCCO if it were read
    h.on("/partial", [{"action": "talk", "text": "Should not be heard"}])
    h.run()
    (partial,) = h.requests_to("/partial")
    assert partial.method == "GET"
    assert h.phone(CALLER).heard() == [PROMPT, "Goodbye"]


def test_no_url_no_partial() -> None:
    h = Harness()
    call(h, {}, says_after_prompt())
    h.run()
    assert h.requests_to("/partial") == []
    assert [r.kind for r in h.webhooks.sent if r.kind == "speech_partial"] == []
    (result,) = h.requests_to("/input")
    assert result.body["speech"]["results"][0]["text"] == SAID


def test_nothing_is_posted_once_the_input_has_its_result() -> None:
    h = Harness()
    # the caller talks on while "Goodbye" plays: no input listens any more
    script = [*says_after_prompt(), Step(at=0.1, say="and one more thing", when_heard="Goodbye")]
    call(h, {"partialResultsUrl": ["http://app.test/partial"]}, script)
    h.run()
    assert [e.detail["text"] for e in h.phone(CALLER).log if e.event == "said"] == [
        SAID,
        "and one more thing",
    ]
    partials = [r.body["speech"]["partial"] for r in h.requests_to("/partial")]
    assert partials == [SAID]


def test_the_driver_gets_the_url_in_its_options() -> None:
    h = Harness()
    sim_call = call(
        h,
        {"partialResultsUrl": ["http://app.test/partial"], "partialResultsMethod": "GET"},
        [],
    )
    started = capture_options(sim_call)
    h.run(speech_seconds(PROMPT) + 0.5)
    (options,) = started
    assert options.partial_results_url == "http://app.test/partial"
    assert options.partial_results_method == "GET"
    leg = sim_call.leg
    assert leg is not None
    leg.on_speech_partial(options, "talk to")
    leg.on_speech_partial(options, "")  # nothing heard yet: nothing to post
    leg.on_speech_partial(options, "talk to sales")
    leg.on_speech_result([("talk to sales", 0.8)], "end_on_silence_timeout")
    h.run()
    partials = [r.body["speech"]["partial"] for r in h.requests_to("/partial")]
    assert partials == ["talk to", "talk to sales"]
    assert len(h.requests_to("/input")) == 1


def test_options_default_to_no_url() -> None:
    h = Harness()
    sim_call = call(h, {"language": "en-GB"}, [])
    started = capture_options(sim_call)
    h.run(speech_seconds(PROMPT) + 0.5)
    (options,) = started
    assert options.partial_results_url is None
    assert options.partial_results_method == "POST"
