"""The WebSocket driver with the engine: edge cases of dialling, REST calls to a websocket,
recordings. Engine on a virtual clock (the test harness), a real pump ticked by hand, a
real ``websockets`` app on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from wsapp import WsApp

from trunkline.engine.leg import Leg
from trunkline.engine.ports import Prompt, RecordedAudio, RecordingOptions
from trunkline.engine.switch import CallOptions
from trunkline.media.port import FakePort
from trunkline.media.pump import MediaPump
from trunkline.ncco import parse_ncco
from trunkline.testing.harness import Harness
from trunkline.webhooks.guard import UrlGuard
from trunkline.wsdoor.network import WebSocketChannel, WebSocketDriver

CALLER = "447700900100"
TALK = {"action": "talk", "text": "hello"}


def beep(seconds: float = 0.2, freq: float = 600.0) -> np.ndarray:
    t = np.arange(int(8000 * seconds)) / 8000
    return (7000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


async def render_beep(prompt: Prompt) -> np.ndarray:
    """A prompt renderer that speaks every prompt as a 0.2 s 600 Hz tone."""
    return beep()


class MemorySink:
    """An in-memory RecordingSink: keeps what it is given, answers with the PCM size."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.saved: list[RecordedAudio] = []

    def save(self, audio: RecordedAudio, done: Callable[[int], None]) -> None:
        self.saved.append(audio)
        size = len(audio.pcm()) if audio.pcm is not None else 0
        self.h.clock.call_soon(lambda: done(size))


@asynccontextmanager
async def wired(
    *, running: bool = True, **kwargs: Any
) -> AsyncIterator[tuple[Harness, MediaPump, WebSocketDriver]]:
    h = Harness()
    h.phone(CALLER)
    pump = MediaPump()
    driver = WebSocketDriver(pump, h.clock, UrlGuard(), render=render_beep, **kwargs)
    h.platform.router.websocket = driver
    if not running:
        yield h, pump, driver
        return
    async with asyncio.TaskGroup() as tg:
        ready = asyncio.Event()
        task = tg.create_task(driver.run(ready))
        async with asyncio.timeout(5):
            await ready.wait()
        try:
            yield h, pump, driver
        finally:
            await driver.aclose()
            task.cancel()


def statuses(h: Harness, leg: Leg) -> list[str]:
    return h.statuses(leg.uuid)


def rest_call(h: Harness, uri: str, ncco: list[dict[str, Any]], **endpoint: Any) -> Leg:
    return h.switch.create_call(
        h.application,
        CallOptions(
            to={"type": "websocket", "uri": uri, **endpoint},
            from_={"type": "phone", "number": h.number},
            ncco=tuple(parse_ncco(ncco).actions),
        ),
    )


async def test_rest_call_to_a_websocket_plays_its_ncco_to_the_app_then_hangs_up() -> None:
    async with WsApp("listen") as app, wired() as (h, pump, _driver):
        leg = rest_call(h, app.url, [{"action": "talk", "text": "Hello bot"}])
        await h.clock.run_async(until=lambda: leg.answered, io_timeout=10)
        conn = await app.connection()
        assert conn.first == {
            "event": "websocket:connected",
            "content-type": "audio/l16;rate=16000",
        }
        channel = leg.channel
        assert isinstance(channel, WebSocketChannel)
        async with asyncio.timeout(5):
            while channel.player.rendering:  # the prompt is being rendered
                await asyncio.gather(*channel.player.rendering.values())
        for _ in range(10):  # 0.2 s of tone
            pump.tick()
        assert not leg.alive or leg.answered
        await h.clock.run_async(until=lambda: not leg.alive, io_timeout=10)
        assert statuses(h, leg) == ["started", "answered", "completed"]
        await app.wait_for(lambda: conn.closed)
        assert conn.conn.close_code == 1000
        wire = np.frombuffer(b"".join(conn.frames[:10]), dtype="<i2")
        spectrum = np.abs(np.fft.rfft(wire[640:]))
        assert np.fft.rfftfreq(wire.size - 640, 1 / 16000)[spectrum.argmax()] == 600


async def test_hangup_while_the_handshake_is_in_flight_cancels_it() -> None:
    accepted = asyncio.Event()
    gone = asyncio.Event()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # returns once the client has closed the connection
        gone.set()
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, wired() as (h, pump, driver):
        leg = rest_call(h, f"ws://127.0.0.1:{port}/", [{"action": "talk", "text": "x"}])
        h.clock.advance(0)
        async with asyncio.timeout(5):
            await accepted.wait()
        leg.hangup()
        async with asyncio.timeout(5):
            await gone.wait()
        await h.clock.run_async(io_timeout=10, max_time=5)
        assert statuses(h, leg) == ["started", "cancelled"]
        assert driver.channels == {}
        assert leg.uuid not in pump


async def test_unsupported_content_type_fails_the_leg() -> None:
    async with WsApp() as app, wired() as (h, _pump, _driver):
        leg = rest_call(h, app.url, [TALK], **{"content-type": "audio/pcmu;rate=8000"})
        await h.clock.run_async(until=lambda: not leg.alive, io_timeout=10)
        assert statuses(h, leg) == ["started", "failed"]
        assert app.conns == []


async def test_a_driver_that_is_not_running_fails_the_leg() -> None:
    async with WsApp() as app, wired(running=False) as (h, _pump, _driver):
        leg = rest_call(h, app.url, [TALK])
        await h.clock.run_async(until=lambda: not leg.alive, io_timeout=10)
        assert statuses(h, leg) == ["started", "failed"]
        assert h.events(status="failed")[0]["detail"] == "internal_error"


async def test_recording_a_websocket_leg_split_in_two_channels() -> None:
    """What the app says (left) and what it hears (right), resampled to 16 kHz."""
    async with WsApp("echo") as app:
        h_box: list[Harness] = []

        class Sink(MemorySink):
            def __init__(self) -> None:
                super().__init__(h_box[0])

        sink: MemorySink | None = None
        async with wired() as (h, pump, driver):
            h_box.append(h)
            sink = Sink()
            driver.recordings = sink
            leg = rest_call(
                h, app.url, [{"action": "input", "type": ["dtmf"], "dtmf": {"timeOut": 10}}]
            )
            await h.clock.run_async(until=lambda: leg.answered, io_timeout=10)
            conn = await app.connection()
            channel = leg.channel
            assert isinstance(channel, WebSocketChannel)
            caller = FakePort("caller")
            pump.add(caller)
            pump.set_hearing(leg.uuid, ["caller"])
            tone = beep(1.0, 1000)
            caller.push(*(tone[i : i + 160] for i in range(0, 8000, 160)))
            channel.start_recording(
                "rec-1",
                RecordingOptions(format="wav", split="conversation", channels=2, file_id="file-1"),
            )
            for _ in range(25):
                pump.tick()
            await app.wait_for(lambda: len(conn.frames) >= 25)
            changed = asyncio.Event()
            channel.ws.on_input = changed.set
            async with asyncio.timeout(5):
                while channel.ws.stats.frames_in < 25:
                    changed.clear()
                    await changed.wait()
            for _ in range(25):
                pump.tick()
            channel.stop_recording("rec-1")
            h.clock.advance(0)
        assert len(sink.saved) == 1
        audio = sink.saved[0]
        assert (audio.file_id, audio.format, audio.channels, audio.sample_rate) == (
            "file-1",
            "wav",
            2,
            16000,
        )
        assert audio.seconds == 1.0
        assert audio.call_uuid == leg.uuid
        assert audio.pcm is not None
        pcm = np.frombuffer(audio.pcm(), dtype="<i2").reshape(-1, 2)
        said, heard = pcm[:, 0], pcm[:, 1]
        assert said.size == 16000
        # the app echoed the tone: it "said" it in the second half; it heard it throughout
        assert heard[1600:].std() > 3000
        assert said[:6400].std() < 50 and said[9600:].std() > 3000
