"""A customer's WebSocket application for the tests: a real ``websockets`` server on 127.0.0.1.

Every connection is kept as an :class:`AppConn` (handshake headers, the first message, the
binary frames and text messages received, in order). ``mode`` says what the app does:
``"echo"`` sends every binary frame straight back, ``"listen"`` only listens, ``"bot"``
greets (a 0.4 s 500 Hz tone, then a ``notify``), clears its audio on a key and hangs up
on ``#``. Tests wait on
:meth:`WsApp.wait_for` (bounded) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

GREETING_SECONDS = 0.4
GREETING_HZ = 500


@dataclass
class AppConn:
    conn: ServerConnection
    headers: dict[str, str]
    path: str
    first: dict[str, Any] | None = None
    frames: list[bytes] = field(default_factory=list)
    texts: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False

    def events(self, name: str) -> list[dict[str, Any]]:
        return [t for t in self.texts if t.get("event") == name]

    async def send_text(self, message: dict[str, Any]) -> None:
        await self.conn.send(json.dumps(message))

    async def send_audio(self, *frames: bytes) -> None:
        for frame in frames:
            await self.conn.send(frame)


class WsApp:
    def __init__(self, mode: str = "echo", *, refuse_status: int | None = None) -> None:
        self.mode = mode
        self.refuse_status = refuse_status
        self.conns: list[AppConn] = []
        self._changed = asyncio.Condition()
        self._server: Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket"

    async def __aenter__(self) -> WsApp:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            compression=None,
            max_queue=None,
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        async with asyncio.timeout(5):
            await self._server.wait_closed()

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if self.refuse_status is not None:
            return conn.respond(HTTPStatus(self.refuse_status), "go away\n")
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        request = conn.request
        assert request is not None
        app = AppConn(conn, {k.lower(): v for k, v in request.headers.raw_items()}, request.path)
        self.conns.append(app)
        await self._notify()
        try:
            async for message in conn:
                if isinstance(message, bytes):
                    app.frames.append(message)
                    if self.mode == "echo":
                        await conn.send(message)
                else:
                    parsed = json.loads(message)
                    if app.first is None:
                        app.first = parsed
                        if self.mode == "bot":
                            await self._greet(app, parsed)
                    else:
                        app.texts.append(parsed)
                        if self.mode == "bot" and parsed.get("event") == "websocket:dtmf":
                            await self._on_key(app, parsed["digit"])
                await self._notify()
        finally:
            app.closed = True
            await self._notify()

    async def _greet(self, app: AppConn, first: dict[str, Any]) -> None:
        """The bot: a 0.4 s 500 Hz greeting (sent faster than real time), then a notify."""
        rate = int(str(first["content-type"]).rsplit("=", 1)[1])
        t = np.arange(int(rate * GREETING_SECONDS)) / rate
        greeting = (6000 * np.sin(2 * np.pi * GREETING_HZ * t)).astype("<i2").tobytes()
        size = rate // 50 * 2
        await app.send_audio(*(greeting[i : i + size] for i in range(0, len(greeting), size)))
        await app.send_text({"action": "notify", "payload": {"said": "greeting"}})

    async def _on_key(self, app: AppConn, digit: str) -> None:
        """The bot: ``#`` hangs up; any other key interrupts what it says (barge-in)."""
        if digit == "#":
            await app.conn.close(code=1000, reason="bye")
        else:
            await app.send_text({"action": "clear"})

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait (bounded) until ``predicate()`` holds; re-checked after every message."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    async def connection(self, timeout: float = 5.0) -> AppConn:
        await self.wait_for(lambda: bool(self.conns) and self.conns[-1].first is not None, timeout)
        return self.conns[-1]
