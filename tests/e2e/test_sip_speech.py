"""Speech input and machine detection over real SIP legs: sipp plays synthetic speech
(piper and espeak-ng voices, :mod:`trunkline.testing.voices`) as RTP; trunkline recognises it.

trunkline runs as ``trunkline serve`` does (a :class:`Runtime` with ``[sip]`` on, on
loopback); the application is a real HTTP app on 127.0.0.1; the caller is the sipp scenario
door_caller_speaks.xml with its pcap swapped for one made here. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from peers import free_port, run_sipp, start_sipp, stop_process

from trunkline.call.runtime import Runtime
from trunkline.config import parse_config
from trunkline.testing import voices as V
from trunkline.testing.server import ServedApp
from trunkline.testing.webapp import WebhookApp

DATA = Path(__file__).parent / "data" / "sipp"
NUMBER = "447700900000"


@contextlib.asynccontextmanager
async def trunkline(app: WebhookApp) -> AsyncIterator[tuple[Runtime, str]]:
    async with ServedApp(app.asgi()) as web:
        low = free_port() // 2 * 2
        cfg = parse_config(
            {
                "server": {"port": 0, "database": "memory:"},
                "sip": {
                    "enabled": True,
                    "port": 0,
                    "rtp_ports": [30000, 40000]
                    if low < 30000 or low > 39000
                    else [low, low + 1000],
                    "trunks": [{"name": "carrier", "sources": ["127.0.0.1"]}],
                },
                "applications": [
                    {
                        "name": "ivr",
                        "answer_url": f"{web.url}/answer",
                        "event_url": f"{web.url}/event",
                        "numbers": [NUMBER],
                    }
                ],
            }
        )
        async with Runtime(cfg) as rt:
            yield rt, web.url


def caller_scenario(tmp_path: Path, said: V.Samples, seconds_after: int = 6) -> Path:
    """door_caller_speaks.xml playing ``said`` (as a PCMA pcap) instead of sipp's capture."""
    pcap = V.write_rtp_pcap(tmp_path / "said.pcap", said, payload_type=8)
    xml = (DATA / "door_caller_speaks.xml").read_text(encoding="iso-8859-1")
    assert 'play_pcap_audio="pcap/g711a.pcap"' in xml
    xml = xml.replace('play_pcap_audio="pcap/g711a.pcap"', f'play_pcap_audio="{pcap}"')
    xml = xml.replace(
        '<pause milliseconds="8000"/>', f'<pause milliseconds="{seconds_after * 1000}"/>'
    )
    path = tmp_path / "caller_says.xml"
    path.write_text(xml, encoding="iso-8859-1")
    return path


async def call_in(rt: Runtime, scenario: Path, cwd: Path) -> None:
    address = rt.doors.sip_address
    assert address is not None
    code, out = await run_sipp(
        "-sf",
        str(scenario),
        "-s",
        NUMBER,
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "-mi",
        "127.0.0.1",
        "-m",
        "1",
        "-timeout",
        "30",
        f"127.0.0.1:{address[1]}",
        cwd=cwd,
    )
    assert code == 0, out[-2000:]


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


async def test_a_caller_says_a_menu_word_over_sip(tmp_path: Path) -> None:
    app = WebhookApp()
    app.route("/event", None)
    app.route("/input", None)
    said = V.say("billing", V.PIPER[1])
    async with trunkline(app) as (rt, base):
        app.route(
            "/answer",
            speech_input(base, context=["sales", "support", "billing"], saveAudio=True),
        )
        await call_in(rt, caller_scenario(tmp_path, said), tmp_path)
        (request,) = await app.wait_for("/input", 1, timeout=10)
    speech = request.json["speech"]
    assert speech["timeout_reason"] == "end_on_silence_timeout"
    assert speech["results"][0]["text"] == "billing"
    assert 0.0 <= float(speech["results"][0]["confidence"]) <= 1.0
    assert "recording_url" in speech
    assert request.json["dtmf"] == {"digits": None, "timed_out": False}


async def test_free_speech_over_sip(tmp_path: Path) -> None:
    app = WebhookApp()
    app.route("/event", None)
    app.route("/input", None)
    sentence = "please connect me to technical support"
    said = V.say(sentence, V.PIPER[1])
    async with trunkline(app) as (rt, base):
        app.route("/answer", speech_input(base))
        await call_in(rt, caller_scenario(tmp_path, said), tmp_path)
        (request,) = await app.wait_for("/input", 1, timeout=15)
    words = request.json["speech"]["results"][0]["text"].split()
    assert sum(w in words for w in sentence.split()) >= 4


async def test_an_unsupported_language_is_an_error_not_silence(tmp_path: Path) -> None:
    app = WebhookApp()
    app.route("/event", None)
    app.route("/input", None)
    async with trunkline(app) as (rt, base):
        app.route("/answer", speech_input(base, language="fr-FR"))
        await call_in(rt, caller_scenario(tmp_path, V.silence(0.5), 2), tmp_path)
        (request,) = await app.wait_for("/input", 1, timeout=10)
        errors = [r.json for r in app.requests_to("/event") if "reason" in (r.json or {})]
    assert "fr-FR" in request.json["speech"]["error"]
    assert request.json["speech"]["results"] == []
    assert any("fr-FR" in e["reason"] for e in errors)


# -- machine detection on a called SIP endpoint ----------------------------------------------------
def callee_scenario(tmp_path: Path, greeting: V.Samples) -> Path:
    """door_callee_answers.xml answering with ``greeting`` (a PCMA pcap made here)."""
    pcap = V.write_rtp_pcap(tmp_path / "greeting.pcap", greeting, payload_type=8)
    xml = (DATA / "door_callee_answers.xml").read_text(encoding="iso-8859-1")
    assert 'play_pcap_audio="pcap/g711a.pcap"' in xml
    path = tmp_path / "callee_greets.xml"
    path.write_text(
        xml.replace('play_pcap_audio="pcap/g711a.pcap"', f'play_pcap_audio="{pcap}"'),
        encoding="iso-8859-1",
    )
    return path


@pytest.mark.parametrize("index", [0, 1, 10, 13], ids=lambda i: V.greetings()[i].kind)
async def test_machine_detection_on_a_greeting_over_sip(tmp_path: Path, index: int) -> None:
    """An API call with machine_detection to a SIP URI: the callee (sipp) answers with a
    synthetic greeting; the verdict event says human or machine as the greeting was."""
    from trunkline.engine.switch import CallOptions
    from trunkline.ncco import parse_ncco

    greeting = V.greetings()[index]
    app = WebhookApp()
    app.route("/event", None)
    callee_port = free_port()
    callee = await start_sipp(
        "-sf",
        str(callee_scenario(tmp_path, greeting.audio)),
        "-i",
        "127.0.0.1",
        "-p",
        str(callee_port),
        "-mi",
        "127.0.0.1",
        "-m",
        "1",
        "-timeout",
        "30",
        cwd=tmp_path,
    )
    try:
        async with trunkline(app) as (rt, _):
            application = rt.store.get_application(rt.config.applications[0].id)
            leg = rt.platform.switch.create_call(
                application,
                CallOptions(
                    to={"type": "sip", "uri": f"sip:greeting@127.0.0.1:{callee_port}"},
                    from_={"type": "phone", "number": NUMBER},
                    ncco=parse_ncco([{"action": "talk", "text": "Hello.", "loop": 0}]).actions,
                    machine_detection="continue",
                ),
            )
            verdict = await wait_verdict(app)
            rt.platform.switch.hangup(leg.uuid)
            async with asyncio.timeout(10):
                await callee.wait()
    finally:
        await stop_process(callee)
    assert verdict == greeting.kind


async def wait_verdict(app: WebhookApp) -> str:
    """The first ``human``/``machine`` status event (bounded wait)."""
    for _ in range(20):
        for request in app.requests_to("/event"):
            status = (request.json or {}).get("status")
            if status in ("human", "machine"):
                return str(status)
        await app.wait_for("/event", len(app.requests_to("/event")) + 1, timeout=10)
    raise AssertionError("no human/machine event")
