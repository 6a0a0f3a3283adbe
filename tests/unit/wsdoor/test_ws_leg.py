"""WebSocketLeg against a real ``websockets`` server on 127.0.0.1, driven by a real MediaPump.

The pump is ticked by hand (``pump.tick()``), so each test controls exactly how many 20 ms
frames go out; everything that crosses the socket is awaited with bounded waits.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
import numpy as np
import pytest
from wsapp import WsApp

from trunkline.media.port import FakePort
from trunkline.media.pump import MediaPump
from trunkline.webhooks.guard import UrlGuard
from trunkline.wsdoor.leg import CloseInfo, WebSocketConnectError, WebSocketLeg, guarded_session


def tone(freq: float, rate: int, seconds: float, amp: float = 8000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[spectrum.argmax()])


class Watch:
    """Bounded waits on what the leg received (its ``on_input`` hook)."""

    def __init__(self, leg: WebSocketLeg) -> None:
        self.changed = asyncio.Event()
        leg.on_input = self.changed.set

    async def until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


@asynccontextmanager
async def running(
    app: WsApp, content_type: str = "audio/l16;rate=16000", **kwargs: object
) -> AsyncIterator[tuple[WebSocketLeg, list[CloseInfo]]]:
    """A connected leg whose run() task is owned by a TaskGroup; closed on exit."""
    async with guarded_session(UrlGuard()) as session:
        leg = WebSocketLeg(
            "ws-leg",
            app.url,
            session=session,
            content_type=content_type,
            **kwargs,  # type: ignore[arg-type]
        )
        closes: list[CloseInfo] = []
        leg.on_closed = closes.append
        await leg.connect()
        async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
            task = tg.create_task(leg.run())
            yield leg, closes
            leg.close()
            await task


def call_with(leg: WebSocketLeg) -> tuple[MediaPump, FakePort]:
    """A pump where a fake caller and the websocket leg hear each other."""
    pump = MediaPump()
    caller = FakePort("caller")
    pump.add(caller)
    pump.add(leg)
    pump.set_hearing(leg.uuid, ["caller"])
    pump.set_hearing("caller", [leg.uuid])
    return pump, caller


async def test_first_message_and_handshake_headers() -> None:
    async with (
        WsApp("listen") as app,
        running(
            app,
            headers={"caller": "447700900001", "lang": "en-GB", "nested": {"a": 1}},
            authorization="Bearer s3cret",
        ),
    ):
        conn = await app.connection()
        assert conn.path == "/socket"
        assert conn.headers["authorization"] == "Bearer s3cret"
        assert conn.first == {
            "event": "websocket:connected",
            "content-type": "audio/l16;rate=16000",
            "caller": "447700900001",
            "lang": "en-GB",
            "nested": {"a": 1},
        }


async def test_no_authorization_header_unless_asked() -> None:
    async with WsApp("listen") as app, running(app):
        conn = await app.connection()
        assert "authorization" not in conn.headers


@pytest.mark.parametrize(
    ("content_type", "rate"),
    [
        ("audio/l16;rate=8000", 8000),
        ("audio/l16;rate=16000", 16000),
        ("audio/l16;rate=24000", 24000),
    ],
)
async def test_round_trip_of_a_tone_through_an_echo_app(content_type: str, rate: int) -> None:
    """The caller's 1 kHz tone reaches the app as 20 ms L16 frames at the socket's rate;
    the echoed audio comes back to the caller at 8 kHz."""
    async with WsApp("echo") as app, running(app, content_type) as (leg, _):
        watch = Watch(leg)
        pump, caller = call_with(leg)
        conn = await app.connection()
        source = tone(1000, 8000, 1.0)
        caller.push(*(source[i : i + 160] for i in range(0, source.size, 160)))
        for _ in range(50):
            pump.tick()
        await app.wait_for(lambda: len(conn.frames) >= 50)
        assert len(conn.frames) == 50
        assert {len(f) for f in conn.frames} == {rate // 50 * 2}
        wire = np.frombuffer(b"".join(conn.frames), dtype="<i2")
        assert wire.size == rate  # one second at the socket's rate
        assert peak_hz(wire[rate // 10 :], rate) == pytest.approx(1000, abs=5)
        assert wire[rate // 10 :].std() == pytest.approx(source.std(), rel=0.05)

        await watch.until(lambda: leg.stats.frames_in >= 50)
        caller.sent.clear()
        for _ in range(50):
            pump.tick()
        back = np.concatenate(caller.sent)
        assert back.size == 8000
        assert peak_hz(back[800:], 8000) == pytest.approx(1000, abs=5)
        assert back[800:].std() == pytest.approx(source.std(), rel=0.05)
        assert leg.stats.odd_frames == 0


async def test_silence_is_still_sent_every_tick() -> None:
    async with WsApp("listen") as app, running(app, "audio/l16;rate=8000") as (leg, _):
        pump, _caller = call_with(leg)
        conn = await app.connection()
        for _ in range(10):
            pump.tick()
        await app.wait_for(lambda: len(conn.frames) == 10)
        assert conn.frames == [bytes(320)] * 10


async def test_a_backlog_beyond_the_limit_drops_the_oldest_audio() -> None:
    """Ticks that outrun the socket (here: 60 ticks without yielding to the writer) keep
    the newest ``max_send_backlog`` frames and count the rest."""
    async with WsApp("listen") as app, running(app, "audio/l16;rate=8000") as (leg, _):
        pump, caller = call_with(leg)
        conn = await app.connection()
        caller.push(*(np.full(160, i, dtype=np.int16) for i in range(60)))
        for _ in range(60):
            pump.tick()
        assert leg.send_stats.frames_dropped == 10
        await app.wait_for(lambda: len(conn.frames) == 50)
        first = np.frombuffer(conn.frames[0], dtype="<i2")
        assert (first == 10).all()  # frames 0..9 were dropped


async def test_dtmf_goes_to_the_app() -> None:
    async with WsApp("listen") as app, running(app) as (leg, _):
        conn = await app.connection()
        leg.send_dtmf("5", 260)
        leg.send_dtmf("#")
        await app.wait_for(lambda: len(conn.events("websocket:dtmf")) == 2)
        assert conn.events("websocket:dtmf") == [
            {"event": "websocket:dtmf", "digit": "5", "duration": 260},
            {"event": "websocket:dtmf", "digit": "#", "duration": 100},
        ]


async def test_clear_drops_queued_audio_and_is_acknowledged() -> None:
    async with WsApp("listen") as app, running(app, "audio/l16;rate=8000") as (leg, _):
        watch = Watch(leg)
        pump, caller = call_with(leg)
        conn = await app.connection()
        loud = tone(440, 8000, 0.02).astype("<i2").tobytes()
        await conn.send_audio(*([loud] * 20))
        await watch.until(lambda: leg.stats.frames_in == 20)
        pump.tick()
        assert caller.sent[-1].std() > 1000  # playing
        await conn.send_text({"action": "clear"})
        await app.wait_for(lambda: bool(conn.events("websocket:cleared")))
        assert leg.playout.queued_frames == 0
        assert leg.stats.cleared == 19
        pump.tick()
        assert not caller.sent[-1].any()  # silence from now on


async def test_notify_answers_after_the_audio_queued_before_it() -> None:
    async with WsApp("listen") as app, running(app, "audio/l16;rate=8000") as (leg, _):
        watch = Watch(leg)
        pump, _caller = call_with(leg)
        conn = await app.connection()
        await conn.send_audio(bytes(320), bytes(320), bytes(320))
        await conn.send_text({"action": "notify", "payload": {"step": "greeting done"}})
        await watch.until(lambda: leg.playout.queued_notifies == 1)
        assert leg.playout.queued_frames == 3
        for _ in range(3):
            pump.tick()
        # texts go out in order: the DTMF arriving first proves no notify was due yet
        leg.send_dtmf("1")
        await app.wait_for(lambda: bool(conn.events("websocket:dtmf")))
        assert conn.events("websocket:notify") == []
        pump.tick()  # the third frame has now had its 20 ms
        await app.wait_for(lambda: bool(conn.events("websocket:notify")))
        assert conn.events("websocket:notify") == [
            {"event": "websocket:notify", "payload": {"step": "greeting done"}}
        ]


async def test_unknown_text_is_ignored() -> None:
    async with WsApp("listen") as app, running(app, "audio/l16;rate=8000") as (leg, closes):
        watch = Watch(leg)
        seen: list[str] = []
        leg.on_message = seen.append
        conn = await app.connection()
        await conn.send_text({"action": "dance"})
        await conn.conn.send("not json")
        await watch.until(lambda: len(seen) == 2)
        assert leg.open and closes == []


async def test_app_closing_the_socket_is_reported() -> None:
    async with WsApp("listen") as app, running(app) as (leg, closes):
        conn = await app.connection()
        await conn.conn.close(code=4000, reason="bot done")
        await Watch(leg).until(lambda: bool(closes))
        assert closes == [CloseInfo("app", 4000, "closed by the application")]
        assert not leg.open


async def test_our_close_is_reported_as_ours_and_the_app_sees_1000() -> None:
    async with WsApp("listen") as app, running(app) as (leg, closes):
        conn = await app.connection()
        leg.close()
        await app.wait_for(lambda: conn.closed)
        assert conn.conn.close_code == 1000
    assert closes == [CloseInfo("trunkline", 1000, "closed by trunkline")]


async def _connect(uri: str, timeout: float = 5.0) -> None:
    guard = UrlGuard()
    async with guarded_session(guard) as session:
        leg = WebSocketLeg("x", uri, session=session, guard=guard, connect_timeout=timeout)
        await leg.connect()


async def test_refused_connection_fails() -> None:
    async with WsApp() as app:
        url = app.url
    with pytest.raises(WebSocketConnectError, match="cannot connect") as err:
        await _connect(url)
    assert err.value.status == "failed"


async def test_handshake_refused_by_the_app_fails() -> None:
    async with WsApp(refuse_status=403) as app:
        with pytest.raises(WebSocketConnectError, match="HTTP 403"):
            await _connect(app.url)


@pytest.mark.parametrize(
    "uri",
    ["ws://169.254.169.254/latest", "ws://169.254.10.1:8080/x", "wss://metadata.google.internal/"],
)
async def test_link_local_and_metadata_addresses_are_refused(uri: str) -> None:
    with pytest.raises(WebSocketConnectError, match="forbidden address"):
        await _connect(uri)


async def test_not_a_websocket_url() -> None:
    with pytest.raises(WebSocketConnectError, match="not a ws"):
        await _connect("http://127.0.0.1:1/")


async def test_handshake_that_never_completes_times_out() -> None:
    """A TCP server that accepts and says nothing: the handshake times out (unanswered)."""
    accepted = asyncio.Event()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(WebSocketConnectError) as err:
            await _connect(f"ws://127.0.0.1:{port}/", timeout=0.3)
        assert accepted.is_set()
        assert err.value.status == "unanswered"


async def test_messages_are_json_text() -> None:
    """The DTMF message is valid JSON text with the documented keys only."""
    async with WsApp("listen") as app, running(app) as (leg, _):
        conn = await app.connection()
        leg.send_dtmf("9", 100)
        await app.wait_for(lambda: bool(conn.texts))
        assert set(conn.texts[0]) == {"event", "digit", "duration"}
        assert json.dumps(conn.texts[0])  # round-trips


async def test_session_helper_resolves_through_the_guard() -> None:
    """A host name that resolves to a forbidden address is refused inside the connector."""

    class LinkLocalResolver(aiohttp.abc.AbstractResolver):
        async def resolve(self, host: str, port: int = 0, family: int = 0) -> list:  # type: ignore[override]
            return [
                {
                    "hostname": host,
                    "host": "169.254.1.1",
                    "port": port,
                    "family": 2,
                    "proto": 0,
                    "flags": 0,
                }
            ]

        async def close(self) -> None:
            return None

    from trunkline.webhooks.guard import GuardedResolver

    guard = UrlGuard()
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(guard, LinkLocalResolver()))
    async with aiohttp.ClientSession(connector=connector) as session:
        leg = WebSocketLeg("x", "ws://bot.example.test/", session=session, guard=guard)
        with pytest.raises(WebSocketConnectError, match="forbidden address"):
            await leg.connect()
