"""Calls whose NCCO connects to a WebSocket: the engine (virtual clock, sim caller), the
WebSocket driver, a real MediaPump, and a real ``websockets`` app on 127.0.0.1.

Virtual time stands still while a socket is open; each test waits (bounded) for what the
socket does, then runs the clock on to let the engine react.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import numpy as np
import pytest

from trunkline.engine.hooks import Hook
from trunkline.engine.leg import Leg
from trunkline.engine.ports import Prompt
from trunkline.media.port import FakePort
from trunkline.media.pump import MediaPump
from trunkline.media.tts import AsyncTts
from trunkline.testing.harness import Harness
from trunkline.webhooks.guard import UrlGuard
from trunkline.webhooks.signing import WebhookSigner
from trunkline.wsdoor.network import WebSocketChannel, WebSocketDriver

# the fake application server is shared with the unit tests of the package
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "wsdoor"))
from wsapp import AppConn, WsApp

CALLER = "447700900100"
WS_EVENTS = "http://app.test/ws-event"
SECRET = "signature-secret-for-the-websocket-tests"


@dataclass
class Rig:
    h: Harness
    pump: MediaPump
    driver: WebSocketDriver
    app: WsApp

    def ws_events(self) -> list[dict[str, Any]]:
        return [x.body for x in self.h.requests_to("/ws-event")]

    def ws_statuses(self) -> list[str]:
        return [b["status"] for b in self.ws_events()]

    def ws_leg(self) -> Leg:
        uuid = self.ws_events()[0]["uuid"]
        leg = self.h.switch.legs.get(uuid)
        assert leg is not None
        return leg

    async def run_until(self, predicate: Callable[[], bool]) -> None:
        await self.h.clock.run_async(until=predicate, max_time=60, io_timeout=10)
        assert predicate()

    async def socket_done(self, leg: Leg) -> None:
        """Wait (bounded) until the leg's socket task has handed everything over."""
        channel = leg.channel
        assert isinstance(channel, WebSocketChannel) and channel.task is not None
        async with asyncio.timeout(5):
            await asyncio.shield(channel.task)


def talk(text: str) -> dict[str, Any]:
    return {"action": "talk", "text": text}


def connect_ws(uri: str, **endpoint: Any) -> dict[str, Any]:
    extra = {k: endpoint.pop(k) for k in list(endpoint) if k in ("eventType",)}
    return {
        "action": "connect",
        "endpoint": [{"type": "websocket", "uri": uri, **endpoint}],
        "eventUrl": [WS_EVENTS],
        **extra,
    }


@asynccontextmanager
async def rig(mode: str = "echo", *, render: Any = None) -> AsyncIterator[Rig]:
    h = Harness()
    h.phone(CALLER)
    h.on("/ws-event", None)
    pump = MediaPump()

    async def no_prompts(prompt: Prompt) -> np.ndarray:
        raise AssertionError(f"unexpected prompt {prompt}")

    driver = WebSocketDriver(
        pump,
        h.clock,
        UrlGuard(),
        render=render or no_prompts,
        signer=WebhookSigner(SECRET, "apikey"),
        connect_timeout=3.0,
    )
    h.platform.router.websocket = driver
    async with WsApp(mode) as app, asyncio.TaskGroup() as tg:
        ready = asyncio.Event()
        task = tg.create_task(driver.run(ready))
        async with asyncio.timeout(5):
            await ready.wait()
        try:
            yield Rig(h, pump, driver, app)
        finally:
            await driver.aclose()
            task.cancel()


async def answered_call(r: Rig, ncco: list[dict[str, Any]]) -> tuple[Any, Leg, AppConn]:
    r.h.answer(ncco)
    call = r.h.sim.call(CALLER, r.h.number)
    await r.run_until(lambda: "answered" in r.ws_statuses())
    return call, r.ws_leg(), await r.app.connection()


async def test_connect_opens_the_socket_and_answers() -> None:
    async with rig("listen") as r:
        ncco = [
            connect_ws(
                r.app.url,
                **{"content-type": "audio/l16;rate=8000"},
                headers={"customer": "42", "lang": "en-GB"},
                authorization={"type": "vonage"},
            )
        ]
        call, ws, conn = await answered_call(r, ncco)
        assert conn.first == {
            "event": "websocket:connected",
            "content-type": "audio/l16;rate=8000",
            "customer": "42",
            "lang": "en-GB",
        }
        scheme, token = conn.headers["authorization"].split(" ", 1)
        assert scheme == "Bearer"
        claims = jwt.decode(token, SECRET, algorithms=["HS256"])
        assert claims["iss"] == "Vonage" and claims["application_id"] == r.h.application.id
        events = r.ws_events()
        assert [e["status"] for e in events] == ["started", "answered"]
        assert all(e["to"] == r.app.url for e in events)
        assert all(e["headers"] == {"customer": "42", "lang": "en-GB"} for e in events)
        assert (
            events[0]["conversation_uuid"] == r.h.events(status="started")[0]["conversation_uuid"]
        )
        # bridged: the websocket leg hears the caller, in the pump
        assert r.pump.hearing(ws.uuid) == frozenset({call.id})


async def test_app_closing_the_socket_gives_disconnected_then_the_next_action() -> None:
    async with rig("listen") as r:
        _call, ws, conn = await answered_call(r, [connect_ws(r.app.url), talk("Back to you")])
        await conn.conn.close(code=1000)
        await r.socket_done(ws)
        await r.run_until(lambda: "Back to you" in r.h.phone(CALLER).heard())
        assert r.ws_statuses() == ["started", "answered", "disconnected", "completed"]
        disconnected = r.ws_events()[2]
        assert {"from", "to", "uuid", "conversation_uuid", "status", "timestamp"} <= set(
            disconnected
        )
        assert disconnected["uuid"] == ws.uuid and disconnected["to"] == r.app.url
        assert r.ws_events()[3]["disconnected_by"] == "user"
        assert ws.uuid not in r.pump


async def test_synchronous_disconnected_reply_replaces_the_ncco() -> None:
    async with rig("listen") as r:

        def on_ws_event(hook: Hook) -> Any:
            if hook.body["status"] == "disconnected":
                return [talk("The bot hung up")]
            return None

        r.h.on("/ws-event", on_ws_event)
        ncco = [connect_ws(r.app.url, eventType="synchronous"), talk("Not this")]
        _call, ws, conn = await answered_call(r, ncco)
        await conn.conn.close(code=1000)
        await r.socket_done(ws)
        await r.run_until(lambda: "The bot hung up" in r.h.phone(CALLER).heard())
        assert "Not this" not in r.h.phone(CALLER).heard()


async def test_rest_hangup_closes_the_socket_without_disconnected() -> None:
    async with rig("listen") as r:
        _call, ws, conn = await answered_call(r, [connect_ws(r.app.url), talk("Goodbye")])
        r.h.switch.hangup(ws.uuid)
        await r.app.wait_for(lambda: conn.closed)
        assert conn.conn.close_code == 1000
        await r.socket_done(ws)
        await r.run_until(lambda: "Goodbye" in r.h.phone(CALLER).heard())
        assert r.ws_statuses() == ["started", "answered", "completed"]


async def test_caller_hanging_up_closes_the_socket() -> None:
    async with rig("listen") as r:
        call, ws, conn = await answered_call(r, [connect_ws(r.app.url)])
        call.hang_up()
        await r.run_until(lambda: not ws.alive)
        await r.app.wait_for(lambda: conn.closed)
        assert conn.conn.close_code == 1000
        assert "disconnected" not in r.ws_statuses()


async def test_refused_connection_fails_and_the_ncco_goes_on() -> None:
    async with rig() as r:
        dead = r.app.url.replace(str(r.app.port), "1")  # nothing listens on port 1
        r.h.answer([connect_ws(dead), talk("Sorry, the bot is away")])
        r.h.sim.call(CALLER, r.h.number)
        await r.run_until(lambda: "Sorry, the bot is away" in r.h.phone(CALLER).heard())
        events = r.ws_events()
        assert [e["status"] for e in events] == ["started", "failed"]
        assert events[1]["to"] == dead
        assert events[1]["detail"] == "cannot_route"


async def test_link_local_uri_is_refused() -> None:
    async with rig() as r:
        uri = "ws://169.254.169.254/latest/meta-data"
        r.h.answer([connect_ws(uri), talk("No")])
        r.h.sim.call(CALLER, r.h.number)
        await r.run_until(lambda: "No" in r.h.phone(CALLER).heard())
        assert r.ws_statuses() == ["started", "failed"]
        lines = [e.summary for e in r.h.store.timeline(call_uuid=r.ws_events()[0]["uuid"])]
        assert any("forbidden address" in line for line in lines)


async def test_audio_round_trip_between_the_caller_and_an_echo_bot() -> None:
    """The caller's tone (a fake media port standing in for the sim caller's RTP) reaches
    the app at 16 kHz, and the app's echo comes back to the caller."""
    async with rig("echo") as r:
        call, ws, conn = await answered_call(r, [connect_ws(r.app.url)])
        caller = FakePort(call.id)
        r.pump.add(caller)
        r.pump.set_hearing(call.id, [ws.uuid])  # what the SIP door does for a real caller
        t = np.arange(8000) / 8000
        source = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
        caller.push(*(source[i : i + 160] for i in range(0, 8000, 160)))
        for _ in range(50):
            r.pump.tick()
        await r.app.wait_for(lambda: len(conn.frames) >= 50)
        wire = np.frombuffer(b"".join(conn.frames[:50]), dtype="<i2")
        assert {len(f) for f in conn.frames} == {640}
        spectrum = np.abs(np.fft.rfft(wire[1600:]))
        assert np.fft.rfftfreq(wire.size - 1600, 1 / 16000)[spectrum.argmax()] == 1000
        channel = ws.channel
        assert isinstance(channel, WebSocketChannel)
        changed = asyncio.Event()
        channel.ws.on_input = changed.set
        async with asyncio.timeout(5):
            while channel.ws.stats.frames_in < 50:
                changed.clear()
                await changed.wait()
        caller.sent.clear()
        for _ in range(50):
            r.pump.tick()
        back = np.concatenate(caller.sent)
        spectrum = np.abs(np.fft.rfft(back[800:]))
        assert np.fft.rfftfreq(back.size - 800, 1 / 8000)[spectrum.argmax()] == 1000
        assert back[800:].std() == pytest.approx(source.std(), rel=0.05)


async def test_dtmf_to_the_socket() -> None:
    async with rig("listen") as r:
        call, ws, conn = await answered_call(r, [connect_ws(r.app.url)])
        r.h.switch.send_dtmf(ws.uuid, "1#")  # REST PUT /dtmf on the websocket leg
        r.driver.dtmf_heard(call.id, "7", 200)  # the caller pressed 7 (from the SIP door)
        await r.app.wait_for(lambda: len(conn.events("websocket:dtmf")) == 3)
        got = {(e["digit"], e["duration"]) for e in conn.events("websocket:dtmf")}
        assert got == {("1", 100), ("#", 100), ("7", 200)}


async def test_mute_and_earmuff_reach_the_pump() -> None:
    async with rig("listen") as r:
        _call, ws, _conn = await answered_call(r, [connect_ws(r.app.url)])
        r.h.switch.mute(ws.uuid)
        r.h.switch.earmuff(ws.uuid)
        media = r.pump.get(ws.uuid)
        assert media is not None and media.muted and media.earmuffed
        r.h.switch.mute(ws.uuid, False)
        assert not media.muted


async def test_talk_into_the_websocket_leg_reaches_the_app() -> None:
    """REST talk on the websocket leg: real espeak-ng audio mixed into what the app hears."""
    tts = AsyncTts()

    async def render(prompt: Prompt) -> np.ndarray:
        return await tts.render(prompt.text, language=prompt.language)

    async with rig("listen", render=render) as r:
        _call, ws, conn = await answered_call(r, [connect_ws(r.app.url)])
        channel = ws.channel
        assert isinstance(channel, WebSocketChannel)
        r.h.switch.play(ws.uuid, Prompt(kind="tts", text="Hello bot"))
        async with asyncio.timeout(20):
            while channel.player.rendering:
                await asyncio.gather(*channel.player.rendering.values(), return_exceptions=True)
        media = r.pump.get(ws.uuid)
        assert media is not None and media.playing
        for _ in range(40):
            r.pump.tick()
        await r.app.wait_for(lambda: len(conn.frames) >= 40)
        wire = np.frombuffer(b"".join(conn.frames[:40]), dtype="<i2")
        assert wire.std() > 300  # speech, not silence


async def test_a_bot_greets_the_caller_is_interrupted_and_hangs_up_on_hash() -> None:
    """The bot's greeting plays to the caller; its notify comes once the greeting has
    played; a key clears what it says; ``#`` makes it hang up (disconnected, next action)."""
    async with rig("bot") as r:
        call, ws, conn = await answered_call(r, [connect_ws(r.app.url), talk("Bot gone")])
        caller = FakePort(call.id)
        r.pump.add(caller)
        r.pump.set_hearing(call.id, [ws.uuid])  # what the SIP door does for a real caller
        channel = ws.channel
        assert isinstance(channel, WebSocketChannel)
        changed = asyncio.Event()
        channel.ws.on_input = changed.set
        async with asyncio.timeout(5):
            while channel.ws.playout.queued_notifies == 0:  # greeting + notify are queued
                changed.clear()
                await changed.wait()
        assert channel.ws.playout.queued_frames == 20
        for _ in range(20):
            r.pump.tick()
        heard = np.concatenate(caller.sent)
        spectrum = np.abs(np.fft.rfft(heard[800:]))
        assert np.fft.rfftfreq(heard.size - 800, 1 / 8000)[spectrum.argmax()] == 500
        assert conn.events("websocket:notify") == []
        r.pump.tick()
        await r.app.wait_for(lambda: bool(conn.events("websocket:notify")))
        # barge-in: a key press clears the rest of whatever the bot queued
        await conn.send_audio(*(bytes(640) for _ in range(10)))
        r.driver.dtmf_heard(call.id, "1")
        await r.app.wait_for(lambda: bool(conn.events("websocket:cleared")))
        assert channel.ws.playout.queued_frames == 0
        r.driver.dtmf_heard(call.id, "#")
        await r.app.wait_for(lambda: conn.closed)
        await r.socket_done(ws)
        await r.run_until(lambda: "Bot gone" in r.h.phone(CALLER).heard())
        assert r.ws_statuses() == ["started", "answered", "disconnected", "completed"]
