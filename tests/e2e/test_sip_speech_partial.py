"""Interim speech results (trunkline's ``partialResultsUrl``) over a real SIP leg: sipp
plays a synthetic sentence as RTP, trunkline recognises it, and the application receives
``speech_partial`` events on its partial URL while the caller speaks — before the input's
result. trunkline, the HTTP app and sipp are set up as in test_sip_speech.py."""

from __future__ import annotations

import difflib
import itertools
from pathlib import Path
from typing import Any

from test_sip_speech import call_in, caller_scenario, trunkline

from trunkline.testing import voices as V
from trunkline.testing.webapp import WebhookApp

SENTENCE = "please connect me to technical support"


def head_match(partial: str, final: list[str]) -> float:
    """How closely ``partial``'s words match the first as many words of ``final`` (0…1)."""
    words = partial.split()
    return difflib.SequenceMatcher(None, words, final[: len(words)]).ratio()


def speech_input(base: str, **speech: Any) -> list[dict[str, Any]]:
    return [
        {
            "action": "input",
            "type": ["speech"],
            "speech": {"endOnSilence": 1, **speech},
            "eventUrl": [f"{base}/input"],
        },
        {"action": "talk", "text": "Thank you.", "loop": 0},
    ]


async def test_partials_are_posted_while_the_caller_speaks(tmp_path: Path) -> None:
    app = WebhookApp()
    app.route("/event", None)
    app.route("/input", None)
    app.route("/partial", None)
    said = V.say(SENTENCE, V.PIPER[1])
    async with trunkline(app) as (rt, base):
        app.route("/answer", speech_input(base, partialResultsUrl=[f"{base}/partial"]))
        await call_in(rt, caller_scenario(tmp_path, said), tmp_path)
        (result,) = await app.wait_for("/input", 1, timeout=15)
        stored = rt.store.events_for_call(result.json["uuid"])
    partials = app.requests_to("/partial")
    assert partials, "no partial result was posted"
    # every partial arrived before the final result
    order = app.requests
    assert max(order.index(p) for p in partials) < order.index(result)
    assert all(p.at <= result.at for p in partials)
    for p in partials:
        assert p.method == "POST"
        assert set(p.json) == {"uuid", "conversation_uuid", "speech", "timestamp"}
        assert p.json["uuid"] == result.json["uuid"]
        assert p.json["conversation_uuid"] == result.json["conversation_uuid"]
        assert p.json["timestamp"] <= result.json["timestamp"]
        assert isinstance(p.json["speech"]["partial"], str) and p.json["speech"]["partial"]
    texts = [p.json["speech"]["partial"] for p in partials]
    assert all(a != b for a, b in itertools.pairwise(texts)), texts  # changes only
    final = result.json["speech"]["results"][0]["text"].split()
    assert sum(w in final for w in SENTENCE.split()) >= 4
    # the last hypothesis is (nearly) the final text; some earlier ones are its head
    assert head_match(texts[-1], final) >= 0.75, (texts, final)
    early = [t for t in texts if len(t.split()) < len(final)]
    assert any(head_match(t, final) >= 0.6 for t in early), (texts, final)
    # stored in the outbox like every event, before it was delivered
    kinds = [e.kind for e in stored]
    assert kinds.count("speech_partial") == len(partials)
    assert all(e.state == "delivered" for e in stored if e.kind == "speech_partial")


async def test_without_the_url_nothing_extra_is_posted(tmp_path: Path) -> None:
    app = WebhookApp()
    app.route("/event", None)
    app.route("/input", None)
    said = V.say("billing", V.PIPER[1])
    async with trunkline(app) as (rt, base):
        app.route("/answer", speech_input(base, context=["sales", "billing"]))
        await call_in(rt, caller_scenario(tmp_path, said, 3), tmp_path)
        (result,) = await app.wait_for("/input", 1, timeout=10)
        stored = rt.store.events_for_call(result.json["uuid"])
    assert result.json["speech"]["results"][0]["text"] == "billing"
    assert "speech_partial" not in [e.kind for e in stored]
    assert {r.path for r in app.requests} <= {"/answer", "/event", "/input"}
