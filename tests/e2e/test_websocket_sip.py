"""A SIP call connected to a WebSocket bot, end to end (issue 6).

trunkline runs as ``trunkline serve`` does (a :class:`Runtime` with ``[sip]`` on, on
loopback); a baresip softphone registers and calls in, speaking espeak-ng speech; the
answer NCCO connects the call to a ``websockets`` echo app on 127.0.0.1. The app must
receive the caller's speech as 16 kHz L16 frames, and the caller must hear its echo.
Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from peers import active_seconds, baresip, free_port, read_wav, write_wav

from trunkline.call.runtime import Runtime
from trunkline.config import parse_config
from trunkline.media.tts import EspeakEngine
from trunkline.testing.server import ServedApp
from trunkline.testing.webapp import WebhookApp
from trunkline.wsdoor.network import WebSocketDriver

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "wsdoor"))
from wsapp import WsApp

NUMBER = "447700900000"


def speech(text: str, seconds: float) -> npt.NDArray[np.int16]:
    """``text`` spoken by espeak-ng at 8 kHz, repeated with pauses to ``seconds``."""
    said = EspeakEngine().synthesize(text, language="en-US", style=0, ssml=False, sample_rate=8000)
    pause = np.zeros(4000, np.int16)
    parts: list[npt.NDArray[np.int16]] = []
    while sum(len(p) for p in parts) < seconds * 8000:
        parts += [said, pause]
    return np.concatenate(parts)[: int(seconds * 8000)]


@contextlib.asynccontextmanager
async def trunkline(app: WebhookApp) -> AsyncIterator[tuple[Runtime, WebSocketDriver]]:
    """A runtime with SIP on and a WebSocket driver plugged into its router."""
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
                    "trunks": [],
                    "users": [
                        {"username": "alice", "password": "correct-horse", "application": "ivr"}
                    ],
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
            existing = rt.platform.router.websocket
            if isinstance(existing, WebSocketDriver):  # the runtime wires its own
                yield rt, existing
                return
            driver = WebSocketDriver(
                rt.doors.pump,
                rt.clock,
                rt.url_guard,
                render=rt.doors.prompts.render,
                recordings=rt.recordings,
            )
            async with asyncio.TaskGroup() as tg:
                ready = asyncio.Event()
                task = tg.create_task(driver.run(ready))
                async with asyncio.timeout(5):
                    await ready.wait()
                rt.platform.router.websocket = driver
                try:
                    yield rt, driver
                finally:
                    rt.platform.router.websocket = None
                    await driver.aclose()
                    task.cancel()


async def test_a_softphone_caller_talks_to_a_websocket_echo_bot(tmp_path: Path) -> None:
    app = WebhookApp()
    app.route("/event", None)
    async with WsApp("echo") as bot, trunkline(app) as (rt, _driver):
        ws_endpoint: dict[str, Any] = {
            "type": "websocket",
            "uri": bot.url,
            "content-type": "audio/l16;rate=16000",
            "headers": {"caller": "alice"},
        }
        app.route("/answer", [{"action": "connect", "endpoint": [ws_endpoint]}])
        address = rt.doors.sip_address
        assert address is not None
        port = address[1]
        source = write_wav(tmp_path / "alice.wav", speech("I would like to talk to a robot.", 60))
        account = (
            f"<sip:alice@127.0.0.1:{port}>;auth_pass=correct-horse;regint=600;"
            "audio_codecs=PCMU,PCMA"
        )
        async with baresip(tmp_path / "alice", account=account, source=source) as phone:
            door = rt.doors.sip
            assert door is not None and door.registrar is not None
            async with asyncio.timeout(10):
                while door.registrar.binding("alice", rt.clock.now()) is None:
                    await asyncio.sleep(0.05)  # baresip registers as it starts
            await phone.command("dial", f"sip:{NUMBER}@127.0.0.1:{port}")
            await phone.wait_event("CALL_ESTABLISHED")
            conn = await bot.connection(timeout=10)
            assert conn.first == {
                "event": "websocket:connected",
                "content-type": "audio/l16;rate=16000",
                "caller": "alice",
            }
            await bot.wait_for(lambda: len(conn.frames) >= 200, timeout=15)  # 4 s of the call
            await phone.command("hangup")
            await phone.wait_event("CALL_CLOSED", timeout=10)
            await bot.wait_for(lambda: conn.closed, timeout=10)
        dump = phone.dump("dec")
        assert dump is not None, "baresip wrote no dump of what it heard"
        heard, rate = read_wav(dump)
    assert {len(f) for f in conn.frames} == {640}
    wire = np.frombuffer(b"".join(conn.frames), dtype="<i2")
    # the bot received the caller's speech (16 kHz), and the caller heard it come back
    assert active_seconds(wire, 16000) >= 1.0
    assert active_seconds(heard, rate) >= 1.0
    ws_events = [r.json for r in app.requests_to("/event") if r.json.get("to") == bot.url]
    assert [e["status"] for e in ws_events] == ["started", "answered", "completed"]
