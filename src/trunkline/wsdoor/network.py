"""The engine's side of WebSocket legs: a network driver for ``{"type": "websocket"}``.

:class:`WebSocketDriver` implements the engine's ``Network.dial`` for websocket
endpoints; each dialled leg gets a :class:`WebSocketChannel` (the engine's
``Channel``) that owns a :class:`~trunkline.wsdoor.leg.WebSocketLeg` and its place in
the media pump:

* the socket opens → ``leg.on_answered()`` (no ``ringing``: there is nothing to ring);
  it cannot open → ``leg.on_failed("failed" | "unanswered", detail)`` with the reason
  in the leg's timeline;
* the application closes it → ``leg.on_disconnected()`` (a ``disconnected`` event,
  spec §3.9, then ``completed``); trunkline hangs up → the socket is closed with 1000
  and no ``disconnected`` event;
* prompts, mute/earmuff and who-hears-whom go through the pump's ``LegMedia``;
  ``send_dtmf`` becomes ``websocket:dtmf`` messages; recordings tap the leg's media
  and are handed to the platform's ``RecordingSink``.

Everything the engine hears back goes through its clock (``call_soon``). Under a
:class:`~trunkline.clock.VirtualClock` a live socket counts as outside work
(``io_begin``/``io_end``), so virtual time does not run ahead of a real connection.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid as uuidlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Protocol

import aiohttp
import numpy as np
import numpy.typing as npt

from trunkline.clock import Callback, Clock
from trunkline.door.prompts import PromptPlayer
from trunkline.engine.leg import Leg
from trunkline.engine.ports import (
    Prompt,
    RecordedAudio,
    RecordingOptions,
    RecordingSink,
    SpeechOptions,
)
from trunkline.media.port import Frame, MediaPort
from trunkline.media.tts import resample
from trunkline.webhooks.guard import UrlGuard
from trunkline.webhooks.signing import WebhookSigner
from trunkline.wsdoor.leg import (
    DEFAULT_SEND_BACKLOG,
    CloseInfo,
    WebSocketConnectError,
    WebSocketLeg,
    guarded_session,
)
from trunkline.wsdoor.protocol import (
    DEFAULT_CONTENT_TYPE,
    MAX_QUEUED_FRAMES,
    PTIME,
    PUMP_RATE,
    VALID_DIGITS,
    WebSocketProtocolError,
)

log = logging.getLogger(__name__)

Samples = npt.NDArray[np.int16]

#: Renders a prompt (TTS or a stream URL) to 8 kHz samples; the lead passes the SIP door's.
Render = Callable[[Prompt], Awaitable[Samples]]


DTMF_DURATION_MS = 100
DTMF_GAP = 0.05  # seconds between two key messages of one send_dtmf
DTMF_PAUSE = 0.5  # the ``p`` of a DTMF string


class LegMediaLike(Protocol):
    """What this driver uses of the pump's ``LegMedia``."""

    muted: bool
    earmuffed: bool

    def play(
        self,
        samples: Samples,
        *,
        loop: int = 1,
        level: float = 0.0,
        on_done: Callable[[], None] | None = None,
    ) -> int: ...

    def stop_play(self, handle: int) -> None: ...

    def add_tap(self, fn: Callable[[Frame], None]) -> Callable[[], None]: ...

    def add_out_tap(self, fn: Callable[[Frame], None]) -> Callable[[], None]: ...


class PumpLike(Protocol):
    """What this driver uses of :class:`~trunkline.media.pump.MediaPump`."""

    def add(self, port: MediaPort) -> Any: ...

    def remove(self, uuid: str) -> None: ...

    def set_hearing(self, uuid: str, heard: Iterable[str]) -> None: ...


class _Recording:
    def __init__(self, rec_id: str, options: RecordingOptions) -> None:
        self.rec_id = rec_id
        self.options = options
        self.said: list[Frame] = []  # the application's audio (what the ws leg says)
        self.heard: list[Frame] = []  # what the ws leg hears (the mix sent to the app)
        self.removers: list[Callable[[], None]] = []

    def stop(self) -> None:
        for remove in self.removers:
            remove()
        self.removers.clear()

    def audio(self, leg: Leg) -> RecordedAudio:
        """The recording for the sink: one channel (the mix) or two (``split``: what the
        application said left, what it heard right), resampled off the loop."""
        opts = self.options
        n = min(len(self.said), len(self.heard))
        said, heard = self.said[:n], self.heard[:n]
        split = opts.channels >= 2 or opts.split is not None
        rate = opts.sample_rate

        def pcm() -> bytes:
            a = np.concatenate(said) if n else np.zeros(0, np.int16)
            b = np.concatenate(heard) if n else np.zeros(0, np.int16)
            if split:
                chans = [resample(a, PUMP_RATE, rate), resample(b, PUMP_RATE, rate)]
                return np.column_stack(chans).astype("<i2").tobytes()
            mixed = np.clip(a.astype(np.int32) + b.astype(np.int32), -32768, 32767)
            return resample(mixed.astype(np.int16), PUMP_RATE, rate).astype("<i2").tobytes()

        return RecordedAudio(
            file_id=opts.file_id or self.rec_id,
            format=opts.format,
            sample_rate=rate,
            channels=2 if split else 1,
            seconds=n * PTIME,
            pcm=pcm,
            application_id=leg.record.application_id,
            call_uuid=leg.uuid,
            conversation_uuid=leg.conversation_uuid,
        )


class WebSocketChannel:
    """The network side of one WebSocket leg (the engine's ``Channel``)."""

    def __init__(self, driver: WebSocketDriver, leg: Leg, ws: WebSocketLeg) -> None:
        self.driver = driver
        self.leg = leg
        self.ws = ws
        self.state = "connecting"  # connecting → answered → ended
        self.media: LegMediaLike | None = None
        self.task: asyncio.Task[None] | None = None
        self.hearing: list[str] = []
        self.muted = False
        self.earmuffed = False
        self.player = PromptPlayer(
            leg,
            driver.render,
            driver.spawn,
            lambda: self.media if self.state != "ended" else None,
            deliver=self._deliver,
        )
        self.recordings: dict[str, _Recording] = {}

    @property
    def uuid(self) -> str:
        return self.leg.uuid

    # -- life ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, then carry the audio until the socket closes (a driver-owned task).

        The handshake is outside work for the clock (``io_begin`` in ``dial``, ``io_end``
        once its outcome is handed over); the open socket is not — under a virtual clock a
        test waits for the socket's own events before running the clock on.
        """
        clock = self.driver.clock
        pending = True
        try:
            try:
                await self.ws.connect()
            except WebSocketConnectError as exc:
                self.state = "ended"
                self.driver.forget(self)
                self._deliver(functools.partial(self._failed, exc))
                return
            if self.state == "ended":  # hung up while the handshake was in flight
                clock.io_end()
                pending = False
                await self._close_now()
                return
            self.state = "answered"
            media: LegMediaLike = self.driver.pump.add(self.ws)
            media.muted, media.earmuffed = self.muted, self.earmuffed
            self.media = media
            for rec in self.recordings.values():  # asked for before the socket opened
                self._tap(rec, media)
            self.driver.pump.set_hearing(self.uuid, self.hearing)
            self.ws.on_closed = self._closed
            self._deliver(self.leg.on_answered)
            clock.io_end()
            pending = False
            await self.ws.run()
        except Exception as exc:  # a bug here must not take other calls down
            log.exception("websocket leg %s failed", self.uuid)
            self._end_media()
            reason = f"websocket error: {exc}"
            self._deliver(lambda: self.leg.on_disconnected(reason))
        finally:
            if pending:
                clock.io_end()

    def _failed(self, exc: WebSocketConnectError) -> None:
        self.leg.journal("websocket", exc.reason)
        self.leg.on_failed(exc.status, exc.detail)

    def _closed(self, info: CloseInfo) -> None:
        ours = self.state == "ended"
        self._end_media()
        if not ours and info.by != "trunkline":
            reason = f"{info.reason} (code {info.code})"
            self._deliver(lambda: self.leg.on_disconnected(reason))

    def _end_media(self) -> None:
        self.state = "ended"
        for rec_id in list(self.recordings):
            self.stop_recording(rec_id)
        self.player.close()
        if self.media is not None:
            self.driver.pump.remove(self.uuid)
            self.media = None
        self.driver.forget(self)

    async def _close_now(self) -> None:
        self.ws.close(1000)
        await self.ws.run()

    def _deliver(self, fn: Callback) -> None:
        """Run ``fn`` on the engine's clock and wake a virtual clock waiting for I/O."""
        clock = self.driver.clock
        clock.call_soon(fn)
        clock.io_begin()
        clock.io_end()

    # -- Channel: the engine's commands ------------------------------------------------------
    def answer(self) -> None:
        """WebSocket legs are always outbound: nothing to answer."""

    def reject(self, status: str) -> None:
        self.hangup()

    def hangup(self) -> None:
        self.close(1000)

    def close(self, code: int) -> None:
        """End the leg from our side: the socket is closed with ``code``."""
        if self.state == "ended":
            return
        was_connecting = self.state == "connecting"
        self._end_media()
        if was_connecting:
            if self.task is not None:
                self.task.cancel()  # abandon the handshake
            return
        self.ws.close(code)

    def play(self, play_id: int, prompt: Prompt) -> None:
        if self.state != "ended":
            self.player.play(play_id, prompt)

    def stop_play(self, play_id: int) -> None:
        self.player.stop(play_id)

    def send_dtmf(self, digits: str) -> None:
        """Digits (``p`` = 500 ms pause) as ``websocket:dtmf`` messages, paced in real time."""
        if self.state != "answered":
            return
        self.driver.spawn(self._send_dtmf(digits))

    async def _send_dtmf(self, digits: str) -> None:
        duration = self.driver.dtmf_duration_ms
        for ch in digits:
            if ch == "p":
                await asyncio.sleep(DTMF_PAUSE)
            elif ch in VALID_DIGITS:
                self.ws.send_dtmf(ch, duration)
                await asyncio.sleep(duration / 1000 + DTMF_GAP)

    def start_recording(self, rec_id: str, options: RecordingOptions) -> None:
        rec = _Recording(rec_id, options)
        self.recordings[rec_id] = rec
        if self.media is not None:
            self._tap(rec, self.media)

    @staticmethod
    def _tap(rec: _Recording, media: LegMediaLike) -> None:
        rec.removers.append(media.add_tap(rec.said.append))
        rec.removers.append(media.add_out_tap(rec.heard.append))

    def stop_recording(self, rec_id: str) -> None:
        rec = self.recordings.pop(rec_id, None)
        if rec is None:
            return
        rec.stop()
        leg = self.leg
        sink = self.driver.recordings
        if sink is None:
            leg.journal("warning", "no recording store is wired for websocket legs")
            self._deliver(lambda: leg.on_recording_done(rec_id, 0))
            return
        sink.save(rec.audio(leg), lambda size: leg.on_recording_done(rec_id, size))

    def start_speech(self, listen_id: str, options: SpeechOptions) -> None:
        """Speech input on the websocket leg itself: not offered (the application on the
        socket hears the audio and can recognise it); the input gets ``speech.error``."""
        leg = self.leg
        self._deliver(
            lambda: leg.on_speech_error("speech recognition is not available on websocket legs")
        )

    def stop_speech(self, listen_id: str) -> None:
        """Nothing runs (see :meth:`start_speech`)."""

    def conversation_changed(self, conversation_uuid: str | None, peers: list[str]) -> None:
        self.hearing = list(peers)
        if self.media is not None:
            self.driver.pump.set_hearing(self.uuid, peers)

    def set_audio(self, *, muted: bool, earmuffed: bool) -> None:
        self.muted = muted
        self.earmuffed = earmuffed
        if self.media is not None:
            self.media.muted = muted
            self.media.earmuffed = earmuffed


class WebSocketDriver:
    """Dials websocket endpoints for the engine (its ``Network.dial`` for that type).

    ``run(ready)`` owns the tasks of every leg (a TaskGroup) and, unless one is given,
    the aiohttp session (host names resolved through ``guard``). ``render`` turns a
    prompt into 8 kHz samples (the SIP door's prompt renderer); ``signer`` makes the
    JWT of ``authorization: {"type": "vonage"}``; ``recordings`` stores what
    ``record`` captures on websocket legs (the platform's ``RecordingSink``).
    """

    def __init__(
        self,
        pump: PumpLike,
        clock: Clock,
        guard: UrlGuard | None,
        *,
        render: Render,
        session: aiohttp.ClientSession | None = None,
        signer: WebhookSigner | None = None,
        recordings: RecordingSink | None = None,
        connect_timeout: float = 5.0,
        max_queued_frames: int = MAX_QUEUED_FRAMES,
        max_send_backlog: int = DEFAULT_SEND_BACKLOG,
        dtmf_duration_ms: int = DTMF_DURATION_MS,
    ) -> None:
        self.pump = pump
        self.clock = clock
        self.guard = guard
        self.render = render
        self.signer = signer
        self.recordings = recordings
        self.connect_timeout = connect_timeout
        self.max_queued_frames = max_queued_frames
        self.max_send_backlog = max_send_backlog
        self.dtmf_duration_ms = dtmf_duration_ms
        self.channels: dict[str, WebSocketChannel] = {}
        self._session = session
        self._own_session = session is None
        self._tg: asyncio.TaskGroup | None = None

    async def run(self, ready: asyncio.Event) -> None:
        """Own the legs' tasks until cancelled; ``ready`` is set once dialling works."""
        if self._session is None:
            self._session = guarded_session(self.guard)
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                ready.set()
                await asyncio.Event().wait()
        finally:
            self._tg = None
            if self._own_session and self._session is not None:
                await self._session.close()
                self._session = None

    async def aclose(self, timeout: float = 2.0) -> None:
        """Close every open socket (1001, going away) and wait for them, bounded."""
        tasks = []
        for channel in list(self.channels.values()):
            channel.close(1001)
            if channel.task is not None:
                tasks.append(channel.task)
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=timeout)
        for task in late:  # an app that never answered the close: drop the connection
            log.warning("websocket %s did not close in %.1f s", task.get_name(), timeout)
            task.cancel()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        if self._tg is None:
            coro.close()
            raise RuntimeError("WebSocketDriver.run() is not running")
        return self._tg.create_task(coro)

    def forget(self, channel: WebSocketChannel) -> None:
        if self.channels.get(channel.uuid) is channel:
            del self.channels[channel.uuid]

    # -- Network -------------------------------------------------------------------------------
    def dial(self, leg: Leg, endpoint: dict[str, Any], caller: str) -> None:
        """Open the endpoint's WebSocket for ``leg``; progress is reported on the leg."""
        session = self._session
        if self._tg is None or session is None:
            self._refuse(leg, "the websocket driver is not running", "internal_error")
            return
        try:
            ws = WebSocketLeg(
                leg.uuid,
                str(endpoint.get("uri", "")),
                session=session,
                content_type=_content_type(endpoint),
                headers=dict(endpoint.get("headers") or {}),
                authorization=self._authorization(leg, endpoint),
                guard=self.guard,
                connect_timeout=self.connect_timeout,
                max_queued_frames=self.max_queued_frames,
                max_send_backlog=self.max_send_backlog,
            )
        except WebSocketProtocolError as exc:
            self._refuse(leg, str(exc), "cannot_route")
            return
        channel = WebSocketChannel(self, leg, ws)
        leg.attach(channel)
        self.channels[leg.uuid] = channel
        self.clock.io_begin()  # ended by the channel's task
        channel.task = self._tg.create_task(channel.run(), name=f"websocket {leg.uuid}")

    def dtmf_heard(self, source_uuid: str, digit: str, duration_ms: int = DTMF_DURATION_MS) -> None:
        """A leg pressed a key: tell every websocket leg that hears it (``websocket:dtmf``).

        The SIP door calls this alongside ``leg.on_digits`` so that a bot on a websocket
        hears the caller's keys as Vonage sends them (spec §4.2.3).
        """
        for channel in list(self.channels.values()):
            if channel.state == "answered" and source_uuid in channel.hearing:
                channel.ws.send_dtmf(digit, duration_ms)

    def _refuse(self, leg: Leg, reason: str, detail: str) -> None:
        def refuse() -> None:
            leg.journal("websocket", reason)
            leg.on_failed("failed", detail)

        self.clock.call_soon(refuse)

    def _authorization(self, leg: Leg, endpoint: dict[str, Any]) -> str | None:
        """The handshake's ``Authorization`` header (spec §2.7, §4.1), if any."""
        auth = endpoint.get("authorization")
        if not isinstance(auth, dict):
            return None
        if auth.get("type", "vonage") == "custom":
            value = auth.get("value")
            return str(value) if value else None
        if self.signer is None:
            leg.journal("warning", "websocket authorization 'vonage': no signature secret set")
            return None
        token = self.signer.token(
            {},
            iat=int(self.clock.now()),
            jti=str(uuidlib.uuid4()),
            application_id=leg.app.id if leg.app else None,
        )
        return f"Bearer {token}"


def _content_type(endpoint: dict[str, Any]) -> str:
    for key in ("content-type", "contentType", "content_type"):
        value = endpoint.get(key)
        if value:
            return str(value).replace(" ", "").lower()
    return DEFAULT_CONTENT_TYPE
