"""The UDP and TCP listeners and the server shell, on loopback sockets (no sleeps: every
wait is for a reply, bounded by a timeout)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from trunkline.clock import AsyncioClock
from trunkline.sip.core import Decision, Reject
from trunkline.sip.message import Request, Response, StreamParser
from trunkline.transport.server import SipServer
from trunkline.transport.udp import UdpListener, sendable

OPTIONS = (
    b"OPTIONS sip:trunkline@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK%s\r\n"
    b"From: <sip:probe@127.0.0.1>;tag=p\r\n"
    b"To: <sip:trunkline@127.0.0.1>\r\n"
    b"Call-ID: %s\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def options(tag: bytes) -> bytes:
    return OPTIONS % (tag, tag)


async def never(invite: Request) -> Decision:
    return Reject(404)


@contextlib.asynccontextmanager
async def serving(**kwargs: object) -> AsyncIterator[SipServer]:
    server = SipServer(clock=AsyncioClock(), decide=never, port=0, **kwargs)  # type: ignore[arg-type]
    ready = asyncio.Event()
    task = asyncio.create_task(server.serve(ready))
    try:
        async with asyncio.timeout(5):
            await ready.wait()
        yield server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def read_messages(reader: asyncio.StreamReader, n: int) -> list[Response]:
    parser = StreamParser()
    out: list[Response] = []
    async with asyncio.timeout(3):
        while len(out) < n:
            data = await reader.read(65536)
            assert data, "connection closed early"
            parser.feed(data)
            out.extend(m for m in parser.events() if isinstance(m, Response))
    return out


def test_never_sends_to_broadcast_multicast_or_names() -> None:
    assert sendable("127.0.0.1") and sendable("::1")
    assert not sendable("255.255.255.255")
    assert not sendable("192.0.2.255")
    assert not sendable("224.0.0.1")
    assert not sendable("0.0.0.0")
    assert not sendable("example.com")


async def test_udp_listener_survives_a_handler_that_raises() -> None:
    got: list[bytes] = []

    def handler(data: bytes, addr: tuple[str, int]) -> None:
        got.append(data)
        if data == b"boom":
            raise RuntimeError("a bug")
        listener.send(b"echo:" + data, *addr)

    listener = UdpListener(handler)
    host, port = await listener.start("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            queue.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=(host, port))
    try:
        transport.sendto(b"boom")
        transport.sendto(b"hi")
        async with asyncio.timeout(3):
            assert await queue.get() == b"echo:hi"
        assert got == [b"boom", b"hi"]
        listener.close()
        assert not listener.send(b"x", host, port)
    finally:
        transport.close()


async def test_tcp_answers_pings_keepalives_and_closes_on_framing_errors() -> None:
    async with serving(udp=False) as server:
        reader, writer = await asyncio.open_connection(*server.address)
        try:
            # Two requests in one write, one split across writes, and a keep-alive.
            data = options(b"a") + options(b"b") + options(b"c")
            writer.write(data[:-30])
            await writer.drain()
            writer.write(data[-30:])
            got = await read_messages(reader, 3)
            assert [m.call_id for m in got] == ["a", "b", "c"]
            assert all(m.status == 200 for m in got)
            writer.write(b"\r\n\r\n")
            async with asyncio.timeout(3):
                assert await reader.readexactly(2) == b"\r\n"  # the keep-alive pong
            # A message without Content-Length: framing is lost, the connection is closed
            # (§18.3; RFC 4475 §3.1.2.2 and §3.3.9 on streams).
            writer.write(options(b"d").replace(b"Content-Length: 0\r\n", b""))
            async with asyncio.timeout(3):
                assert await reader.read() == b""
        finally:
            writer.close()
        # The server still serves new connections.
        reader, writer = await asyncio.open_connection(*server.address)
        try:
            writer.write(options(b"e"))
            (ok,) = await read_messages(reader, 1)
            assert ok.status == 200 and ok.call_id == "e"
        finally:
            writer.close()


async def test_tcp_bad_message_is_answered_and_the_connection_goes_on() -> None:
    async with serving(udp=False) as server:
        reader, writer = await asyncio.open_connection(*server.address)
        try:
            bad = options(b"f").replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE")
            unsupported = options(b"g").replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1)
            writer.write(bad + unsupported + options(b"h"))
            got = await read_messages(reader, 3)
            assert [(m.call_id, m.status) for m in got] == [("f", 400), ("g", 505), ("h", 200)]
        finally:
            writer.close()


async def test_idle_tcp_connections_are_closed() -> None:
    async with serving(udp=False) as server:
        assert server.tcp is not None
        server.tcp.idle_timeout = 0.05
        reader, writer = await asyncio.open_connection(*server.address)
        try:
            async with asyncio.timeout(3):
                assert await reader.read() == b""
        finally:
            writer.close()


async def test_a_decision_that_fails_or_is_unusable_gets_500() -> None:
    async def broken(invite: Request) -> Decision:
        if invite.call_id == "raise":
            raise RuntimeError("the application crashed")
        return Reject(180)  # not a final status

    server = SipServer(clock=AsyncioClock(), decide=broken, port=0, udp=False)
    ready = asyncio.Event()
    task = asyncio.create_task(server.serve(ready))
    try:
        async with asyncio.timeout(5):
            await ready.wait()
        reader, writer = await asyncio.open_connection(*server.address)
        try:
            for n, call_id in enumerate((b"raise", b"badstatus")):
                invite = (
                    options(call_id)
                    .replace(b"OPTIONS sip", b"INVITE sip")
                    .replace(b"1 OPTIONS", b"1 INVITE")
                    .replace(b"z9hG4bK" + call_id, b"z9hG4bKinv%d" % n)
                    .replace(b"Max-Forwards", b"Contact: <sip:p@127.0.0.1>\r\nMax-Forwards")
                )
                writer.write(invite)
                got = await read_messages(reader, 2)
                assert [m.status for m in got] == [100, 500]
        finally:
            writer.close()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
