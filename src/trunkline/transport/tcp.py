"""SIP over TCP: a stream of messages framed by Content-Length (RFC 3261 §18.3).

Each connection has its own :class:`~trunkline.sip.message.StreamParser`. A framing error
(bad or missing Content-Length, oversize header section) closes the connection after the
answer the parser asks for; an error in one complete message is answered and the
connection goes on. Connections idle for ``idle_timeout`` seconds are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable

from trunkline.sip.errors import RemoteProtocolError
from trunkline.sip.message import KeepAlive, Request, Response, StreamParser

log = logging.getLogger(__name__)

#: ``(message, connection id, (host, port))``.
OnMessage = Callable[[Request | Response, int, tuple[str, int]], None]
#: ``(error, connection id, (host, port))`` — the listener closes the connection after it
#: when ``error.framing``.
OnError = Callable[[RemoteProtocolError, int, tuple[str, int]], None]
#: The connection is gone: ``(connection id, (host, port))``.
OnClosed = Callable[[int, tuple[str, int]], None]


class TcpListener:
    """A TCP server; each connection's reader is a task of the group given to :meth:`start`."""

    def __init__(
        self,
        *,
        on_message: OnMessage,
        on_error: OnError,
        on_closed: OnClosed,
        idle_timeout: float = 300.0,
        read_size: int = 65536,
    ) -> None:
        self._on_message = on_message
        self._on_error = on_error
        self._on_closed = on_closed
        self.idle_timeout = idle_timeout
        self.read_size = read_size
        self._server: asyncio.Server | None = None
        self._ids = itertools.count(1)
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._group: asyncio.TaskGroup | None = None
        self.address: tuple[str, int] = ("", 0)

    async def start(self, host: str, port: int, group: asyncio.TaskGroup) -> tuple[str, int]:
        """Listen; connection tasks are owned by ``group``. Returns the bound address."""
        self._group = group
        self._server = await asyncio.start_server(self._accepted, host, port)
        sockname = self._server.sockets[0].getsockname()
        self.address = (sockname[0], sockname[1])
        return self.address

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._adopt(reader, writer)

    def _adopt(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        """Register a connection and start reading it (a task of the listener's group)."""
        assert self._group is not None
        conn = next(self._ids)
        self._writers[conn] = writer
        self._group.create_task(self._connection(conn, reader, writer))
        return conn

    async def connect(self, host: str, port: int, timeout: float = 5.0) -> int:
        """Open a connection to ``host:port`` (outbound requests, RFC 3261 §18.1.1); its id.

        What arrives on it is handled like on an accepted connection. Raises ``OSError``
        (or ``TimeoutError``) when the connection cannot be made.
        """
        if self._group is None:
            raise RuntimeError("the TCP listener is not started")
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
        return self._adopt(reader, writer)

    async def _connection(
        self, conn: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peername = writer.get_extra_info("peername")
        peer = (str(peername[0]), int(peername[1]))
        parser = StreamParser()
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        data = await reader.read(self.read_size)
                except TimeoutError:
                    log.info("closing idle SIP connection from %s:%s", *peer)
                    return
                if not data:
                    return
                parser.feed(data)
                if not self._drain(parser, conn, peer, writer):
                    return
        except (ConnectionError, OSError) as exc:
            log.info("SIP connection from %s:%s failed: %s", peer[0], peer[1], exc)
        finally:
            self._writers.pop(conn, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._on_closed(conn, peer)

    def _drain(
        self, parser: StreamParser, conn: int, peer: tuple[str, int], writer: asyncio.StreamWriter
    ) -> bool:
        """Hand over every complete message; ``False`` when the connection must close."""
        while True:
            try:
                event = parser.next_event()
            except RemoteProtocolError as exc:
                try:
                    self._on_error(exc, conn, peer)
                except Exception:
                    log.exception("SIP error handler failed")
                if exc.framing:
                    return False
                continue
            if isinstance(event, KeepAlive):
                writer.write(b"\r\n")  # RFC 5626 §3.5.1 pong
                continue
            if not isinstance(event, (Request, Response)):
                return True
            try:
                self._on_message(event, conn, peer)
            except Exception:  # one message's bug must not take the connection down
                log.exception("SIP message from %s:%s could not be handled", *peer)

    def send(self, conn: int, data: bytes) -> bool:
        """Write to connection ``conn``; ``False`` when it is gone."""
        writer = self._writers.get(conn)
        if writer is None or writer.is_closing():
            return False
        writer.write(data)
        return True

    def close(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers.values()):
            writer.close()
