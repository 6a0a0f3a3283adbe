"""A WebSocket leg: the call's audio to and from an application's WebSocket server.

:class:`WebSocketLeg` is a :class:`~trunkline.media.port.MediaPort`: the media pump
calls :meth:`~WebSocketLeg.send` with what the leg hears each 20 ms tick and
:meth:`~WebSocketLeg.receive` for what the application says. The wire side follows
spec/VOICE-API.md §4 (see :mod:`trunkline.wsdoor.protocol` for the sans-I/O part):

* :meth:`connect` opens the socket with aiohttp (``Authorization`` header when the
  endpoint asks for one; host names resolved through the URL guard when the session
  is built with :func:`guarded_session`) and sends ``websocket:connected``;
* :meth:`run` — a task owned by the caller's TaskGroup — reads the application's
  messages and writes ours (audio frames, DTMF, acks) until the socket closes; then
  ``on_closed`` is called once with a :class:`CloseInfo` saying who closed it and why.

Writes never block the pump: :meth:`send` queues the frame for the writer; a backlog
beyond ``max_send_backlog`` frames (an application that stopped reading) drops the
oldest audio and counts it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl

from trunkline.errors import TrunklineError
from trunkline.media.port import Frame
from trunkline.webhooks.guard import ForbiddenAddress, GuardedResolver, UrlGuard
from trunkline.wsdoor.protocol import (
    MAX_QUEUED_FRAMES,
    Clear,
    Encoder,
    Ignored,
    Notify,
    Playout,
    PlayoutStats,
    cleared_message,
    connected_message,
    dtmf_message,
    notify_message,
    parse_app_message,
    rate_of,
)

log = logging.getLogger(__name__)

#: One second of audio waiting to be written before the oldest frames are dropped.
DEFAULT_SEND_BACKLOG = 50


class WebSocketConnectError(TrunklineError):
    """The WebSocket could not be opened; ``status``/``detail`` as the leg's failure event."""

    def __init__(self, reason: str, *, status: str = "failed", detail: str = "cannot_route"):
        super().__init__(reason)
        self.reason = reason
        self.status = status  # "failed" | "unanswered" (spec §3.9)
        self.detail = detail


@dataclass(frozen=True)
class CloseInfo:
    """How the socket ended: ``by`` is ``"app"`` (it closed), ``"trunkline"`` or ``"error"``."""

    by: str
    code: int | None
    reason: str


@dataclass
class SendStats:
    frames_sent: int = 0
    frames_dropped: int = 0  # backlog overflow: the application was not reading
    texts_sent: int = 0


def guarded_session(guard: UrlGuard | None, **kwargs: Any) -> aiohttp.ClientSession:
    """A client session whose host names resolve through the URL guard."""
    resolver = GuardedResolver(guard) if guard is not None else None
    connector = aiohttp.TCPConnector(resolver=resolver, limit=0)
    return aiohttp.ClientSession(connector=connector, **kwargs)


class WebSocketLeg:
    """One WebSocket media leg (a :class:`~trunkline.media.port.MediaPort`)."""

    def __init__(
        self,
        uuid: str,
        uri: str,
        *,
        session: aiohttp.ClientSession,
        content_type: str = "audio/l16;rate=16000",
        headers: dict[str, Any] | None = None,
        authorization: str | None = None,
        guard: UrlGuard | None = None,
        connect_timeout: float = 5.0,
        max_queued_frames: int = MAX_QUEUED_FRAMES,
        max_send_backlog: int = DEFAULT_SEND_BACKLOG,
    ) -> None:
        self._uuid = uuid
        self.uri = uri
        self.session = session
        self.content_type = content_type
        self.rate = rate_of(content_type)
        self.headers = dict(headers or {})
        self.authorization = authorization
        self.guard = guard
        self.connect_timeout = connect_timeout
        self.max_send_backlog = max_send_backlog
        self.playout = Playout(self.rate, max_queued_frames)
        self.send_stats = SendStats()
        self.on_closed: Callable[[CloseInfo], None] | None = None
        self.on_message: Callable[[str], None] | None = None  # ignored text, for journals
        self.on_input: Callable[[], None] | None = None  # after each message, and at the end
        self._encoder = Encoder(self.rate)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._audio_out: deque[bytes] = deque()
        self._text_out: deque[str] = deque()
        self._wake = asyncio.Event()
        self._closing: CloseInfo | None = None
        self._closed = False

    # -- MediaPort ---------------------------------------------------------------------------
    @property
    def uuid(self) -> str:
        return self._uuid

    def receive(self) -> Frame | None:
        """The application's audio for this tick (8 kHz), None when nothing is queued."""
        frame, due = self.playout.pop()
        for payload in due:
            self._queue_text(notify_message(payload))
        return frame

    def send(self, frame: Frame) -> None:
        """What the leg hears this tick, sent as one 20 ms L16 frame at the socket's rate."""
        if not self.open:
            return
        self._audio_out.append(self._encoder.encode(frame))
        if len(self._audio_out) > self.max_send_backlog:
            self._audio_out.popleft()
            self.send_stats.frames_dropped += 1
        self._wake.set()

    # -- other commands ----------------------------------------------------------------------
    @property
    def open(self) -> bool:
        return self._ws is not None and not self._closed and self._closing is None

    @property
    def stats(self) -> PlayoutStats:
        return self.playout.stats

    def send_dtmf(self, digit: str, duration_ms: int = 100) -> None:
        """Tell the application a key was pressed (``websocket:dtmf``)."""
        self._queue_text(dtmf_message(digit, duration_ms))

    def close(self, code: int = 1000) -> None:
        """Close from our side (hang-up); ``on_closed`` reports ``by="trunkline"``."""
        if self._closing is None and not self._closed:
            self._closing = CloseInfo("trunkline", code, "closed by trunkline")
            self._wake.set()

    def _queue_text(self, text: str) -> None:
        if self.open:
            self._text_out.append(text)
            self._wake.set()

    # -- connecting -------------------------------------------------------------------------
    def handshake_headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization} if self.authorization else {}

    async def connect(self) -> None:
        """Open the socket and send ``websocket:connected``; WebSocketConnectError if not."""
        url = yarl.URL(self.uri)
        if url.scheme not in ("ws", "wss") or not url.host:
            raise WebSocketConnectError(f"{self.uri}: not a ws:// or wss:// URL")
        if self.guard is not None:
            why = self.guard.host_problem(url.raw_host or "")
            if why is not None:
                raise WebSocketConnectError(f"{self.uri}: forbidden address ({why})")
        try:
            async with asyncio.timeout(self.connect_timeout):
                ws = await self.session.ws_connect(
                    url,
                    headers=self.handshake_headers(),
                    autoping=True,
                    max_msg_size=1 << 20,
                )
                await ws.send_str(connected_message(self.content_type, self.headers))
        except TimeoutError:
            raise WebSocketConnectError(
                f"{self.uri}: no answer within {self.connect_timeout:g} s",
                status="unanswered",
                detail="carrier_timeout",
            ) from None
        except ForbiddenAddress as exc:
            raise WebSocketConnectError(f"{self.uri}: forbidden address ({exc.why})") from None
        except aiohttp.WSServerHandshakeError as exc:
            raise WebSocketConnectError(
                f"{self.uri}: handshake refused with HTTP {exc.status}"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, ForbiddenAddress) else exc
            if isinstance(cause, ForbiddenAddress):
                raise WebSocketConnectError(
                    f"{self.uri}: forbidden address ({cause.why})"
                ) from None
            raise WebSocketConnectError(f"{self.uri}: cannot connect ({exc})") from None
        self._ws = ws
        self.send_stats.texts_sent += 1

    # -- running ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Read and write until the socket closes; then ``on_closed`` (once)."""
        ws = self._ws
        if ws is None:
            raise RuntimeError("WebSocketLeg.run() before connect()")
        info: CloseInfo
        try:
            async with asyncio.TaskGroup() as tg:
                writer = tg.create_task(self._write(ws))
                info = await self._read(ws)
                writer.cancel()
        finally:
            self._closed = True
            self._audio_out.clear()
            self._text_out.clear()
        if not ws.closed:
            await ws.close(code=info.code or 1000)
        if self.on_closed is not None:
            self.on_closed(info)
        if self.on_input is not None:
            self.on_input()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> CloseInfo:
        while True:
            msg = await ws.receive()
            if self._closing is not None:
                return self._closing
            kind = msg.type
            if kind is aiohttp.WSMsgType.BINARY:
                self.playout.push_audio(msg.data)
            elif kind is aiohttp.WSMsgType.TEXT:
                self._on_text(msg.data)
            elif kind in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING):
                return CloseInfo("app", ws.close_code, "closed by the application")
            elif kind is aiohttp.WSMsgType.CLOSED:
                if self._closing is not None:
                    return self._closing
                return CloseInfo("app", ws.close_code, "connection closed")
            elif kind is aiohttp.WSMsgType.ERROR:
                return CloseInfo("error", ws.close_code, f"socket error: {ws.exception()}")
            if self.on_input is not None:
                self.on_input()

    def _on_text(self, text: str) -> None:
        command = parse_app_message(text)
        if isinstance(command, Clear):
            due = self.playout.clear()
            self._queue_text(cleared_message())
            for payload in due:
                self._queue_text(notify_message(payload))
        elif isinstance(command, Notify):
            self.playout.push_notify(command.payload)
        elif isinstance(command, Ignored):
            log.debug("websocket %s: ignored message (%s)", self._uuid, command.why)
            if self.on_message is not None:
                self.on_message(text)

    async def _write(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        audio, texts, wake = self._audio_out, self._text_out, self._wake
        stats = self.send_stats
        try:
            while True:
                await wake.wait()
                wake.clear()
                while texts:
                    await ws.send_str(texts.popleft())
                    stats.texts_sent += 1
                while audio:
                    await ws.send_bytes(audio.popleft())
                    stats.frames_sent += 1
                if self._closing is not None:  # after what was queued before the close
                    await ws.close(code=self._closing.code or 1000)
                    return
        except (aiohttp.ClientError, ConnectionError) as exc:
            log.debug("websocket %s: write failed: %s", self._uuid, exc)
            if not ws.closed:
                await ws.close(code=1011)
