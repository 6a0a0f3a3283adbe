"""An application with ``tts = "piper"``: a real softphone hears piper's voice over SIP/RTP.

trunkline runs as ``trunkline serve`` does (a :class:`Runtime` with ``[sip]`` on, on
loopback); the webhook app is a real HTTP app; baresip registers, calls in, hears the talk
and is hung up on. What it heard (its decoded-audio dump) is compared with what the piper
engine rendered (sample for sample, after G.711) and goes through a speech recogniser.
Every wait is bounded.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from peers import active_seconds, baresip, free_port, read_wav, write_wav

from trunkline.call.runtime import Runtime
from trunkline.config import parse_config
from trunkline.media.asr import PocketsphinxEngine
from trunkline.media.piper import PiperEngine
from trunkline.media.tts import Samples, TtsCache, resample
from trunkline.testing.server import ServedApp
from trunkline.testing.webapp import WebhookApp

NUMBER = "447700900000"
TEXT = "Please hold, I will connect you to technical support."


async def test_a_softphone_hears_the_piper_voice_of_its_application(tmp_path: Path) -> None:
    app = WebhookApp()
    app.route("/event", None)
    app.route("/answer", [{"action": "talk", "text": TEXT}])
    async with ServedApp(app.asgi()) as web:
        low = free_port() // 2 * 2
        cfg = parse_config(
            {
                "server": {"port": 0, "database": "memory:"},
                "sip": {
                    "enabled": True,
                    "port": 0,
                    "rtp_ports": [30000, 40000] if not 30000 <= low <= 39000 else [low, low + 1000],
                    "users": [{"username": "bob", "password": "pw-pw-pw", "application": "ivr"}],
                },
                "applications": [
                    {
                        "name": "ivr",
                        "tts": "piper",
                        "answer_url": f"{web.url}/answer",
                        "event_url": f"{web.url}/event",
                        "numbers": [NUMBER],
                    }
                ],
            }
        )
        async with Runtime(cfg) as rt:
            door = rt.doors.sip
            address = rt.doors.sip_address
            assert door is not None and door.registrar is not None and address is not None
            port = address[1]
            silence = write_wav(tmp_path / "silence.wav", np.zeros(8000 * 30, np.int16))
            account = f"<sip:bob@127.0.0.1:{port}>;auth_pass=pw-pw-pw;regint=600;audio_codecs=PCMU"
            async with baresip(tmp_path / "bob", account=account, source=silence) as phone:
                async with asyncio.timeout(10):
                    while door.registrar.binding("bob", rt.clock.now()) is None:
                        await asyncio.sleep(0.05)  # baresip registers as it starts
                await phone.command("dial", f"sip:{NUMBER}@127.0.0.1:{port}")
                await phone.wait_event("CALL_ESTABLISHED", timeout=20)
                # the talk ends the NCCO: trunkline hangs up (the first piper prompt loads
                # the voice, about a second)
                await phone.wait_event("CALL_CLOSED", timeout=30)
                dumped = phone.dump("dec")
            piper = rt.doors.prompts.engines["piper"]
            sent = piper.cache.get(TtsCache.key("piper", TEXT, "en-US", 0, 8000))
    assert dumped is not None, "baresip wrote no dump of what it heard"
    heard, rate = read_wav(dumped)
    assert rate == 8000
    assert sent is not None, "the piper prompt was not rendered through the piper engine"
    # what was played is piper's rendering, found sample for sample in what the phone heard
    # (after G.711 both ways: a correlation near 1; another rendering or voice is far lower)
    assert active_seconds(heard, rate) >= 0.8 * active_seconds(sent, 8000)
    lag, corr = best_alignment(heard, sent)
    assert corr > 0.9, (lag, corr)
    other = PiperEngine()
    try:
        again = other.synthesize(TEXT, language="en-US", style=0, ssml=False, sample_rate=8000)
    finally:
        other.close()
    assert best_alignment(heard, again)[1] < corr
    print(f"correlation {corr:.3f} at lag {lag}", end="; ")
    # and the words are there (pocketsphinx free speech, telephone audio: a loose check)
    rec = PocketsphinxEngine().recognizer("en-US", [])
    rec.feed(resample(heard, 8000, 16000))
    (text, _), *_ = rec.finish()
    said = set(TEXT.lower().replace(",", "").replace(".", "").split())
    assert len(said & set(text.split())) >= 2, text
    print(f"recognised {text!r}")


def best_alignment(heard: Samples, sent: Samples) -> tuple[int, float]:
    """The lag of ``sent`` in ``heard`` and the normalised correlation there (0..1)."""
    x = heard.astype(np.float64)
    y = sent.astype(np.float64)
    n = 1 << (len(x) + len(y)).bit_length()
    corr = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(y, n)), n)[: len(x)]
    lag = int(np.argmax(corr))
    window = x[lag : lag + len(y)]
    norm = float(np.linalg.norm(window) * np.linalg.norm(y[: len(window)]))
    return lag, float(corr[lag]) / norm if norm else 0.0
