"""trunkline as a caller and as a registrar over real loopback sockets, with sipp (issue 5).

sipp plays the callee (its built-in ``uas``, and a scenario that answers 486) and a softphone
that registers with Digest credentials. Every wait is bounded: readiness, each call's
events, and each sipp run (``-m 1``, ``-timeout``, a kill after a deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from trunkline.clock import AsyncioClock
from trunkline.sip.core import Decision, IncomingCall, Peer, Reject
from trunkline.sip.message import Request, parse_datagram
from trunkline.sip.registrar import Registrar
from trunkline.sip.sdp import AudioConfig, AudioSession
from trunkline.transport.server import Answered, Failed, OutboundEvent, Progress, SipServer

DATA = Path(__file__).parent / "data" / "sipp"
USERS = {"alice": "wonderland"}


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def refuse(call: IncomingCall) -> Decision:
    return Reject(404)


@contextlib.asynccontextmanager
async def serving(**kwargs: object) -> AsyncIterator[SipServer]:
    server = SipServer(
        clock=AsyncioClock(),
        decide=refuse,
        host="127.0.0.1",
        port=0,
        **kwargs,  # type: ignore[arg-type]
    )
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


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Sipp:
    """One sipp process; :meth:`result` waits (bounded) and reads its statistics."""

    def __init__(self, proc: asyncio.subprocess.Process, deadline: float) -> None:
        self.proc = proc
        self.deadline = deadline

    @classmethod
    async def start(cls, *args: str, deadline: float = 20.0) -> Sipp:
        path = shutil.which("sipp")
        assert path, "sipp is missing: `make` installs Debian's sip-tester"
        proc = await asyncio.create_subprocess_exec(
            path,
            *args,
            "-i",
            "127.0.0.1",
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            f"{int(deadline) - 5}s",
            "-timeout_error",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(proc, deadline)

    async def result(self) -> tuple[int, int, int, str]:
        """(exit code, successful calls, failed calls, the end of the output)."""
        try:
            async with asyncio.timeout(self.deadline):
                raw, _ = await self.proc.communicate()
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        out = raw.decode(errors="replace")
        ok = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", out)
        failed = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", out)
        assert ok and failed, out[-6000:]
        assert self.proc.returncode is not None
        return self.proc.returncode, int(ok[-1]), int(failed[-1]), out[-6000:]


class Events:
    """An ``on_event`` that records outbound call events and lets a test wait for one."""

    def __init__(self) -> None:
        self.seen: list[OutboundEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: OutboundEvent) -> None:
        self.seen.append(event)
        self._changed.set()

    async def wait_for(self, kind: type, timeout: float = 15.0) -> OutboundEvent:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.seen:
                    if isinstance(event, kind):
                        return event
                self._changed.clear()
                await self._changed.wait()


def offer() -> bytes:
    return bytes(AudioSession(AudioConfig("127.0.0.1", 41000), session_id=5).create_offer())


def place_call(server: SipServer, port: int, events: Events, transport: str = "UDP") -> str:
    return server.invite(
        f"sip:service@127.0.0.1:{port}",
        from_uri="sip:447700900001@127.0.0.1",
        from_display="trunkline test",
        to_uri=f"sip:service@127.0.0.1:{port}",
        sdp=offer(),
        peer=Peer(transport, "127.0.0.1", port),
        on_event=events,
    )


async def test_calling_a_sipp_uas_then_hanging_up() -> None:
    # sipp may still be binding when the INVITE leaves: Timer A's retransmission covers it.
    port = free_udp_port()
    async with serving() as server:
        uas = await Sipp.start("-sn", "uas", "-p", str(port))
        events = Events()
        call_id = place_call(server, port, events)
        answered = await events.wait_for(Answered)
        assert isinstance(answered, Answered) and b"m=audio" in answered.sdp
        assert any(isinstance(e, Progress) and e.status == 180 for e in events.seen)
        server.hangup(call_id)
        code, ok, failed, out = await uas.result()
        assert (code, ok, failed) == (0, 1, 0), out
        assert server.core is not None
        assert not server.core.dialogs and call_id not in server._outbound


async def test_calling_a_sipp_uas_over_tcp() -> None:
    # The connection is opened on first use; sipp may not listen yet, so wait until it does.
    port = free_tcp_port()
    async with serving() as server:
        uas = await Sipp.start("-sn", "uas", "-t", "t1", "-p", str(port))
        async with asyncio.timeout(10):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.05)  # polling a port that is not bound yet
                    continue
                writer.close()
                break
        events = Events()
        call_id = place_call(server, port, events, "TCP")
        answered = await events.wait_for(Answered)
        assert isinstance(answered, Answered)
        assert server.tcp is not None and len(server._tcp_out) == 1
        server.hangup(call_id)
        code, ok, failed, out = await uas.result()
        assert (code, ok, failed) == (0, 1, 0), out


async def test_a_tcp_destination_that_refuses_fails_the_call() -> None:
    port = free_tcp_port()  # nobody listens there
    async with serving() as server:
        events = Events()
        place_call(server, port, events, "TCP")
        failed = await events.wait_for(Failed, timeout=10)
        assert failed == Failed(None, "transport")


async def test_public_host_is_what_peers_are_told() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as callee:
        callee.bind(("127.0.0.1", 0))
        callee.setblocking(False)
        port = callee.getsockname()[1]
        async with serving(public_host="203.0.113.5") as server:
            place_call(server, port, Events())
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(5):
                raw = await loop.sock_recv(callee, 65536)
            invite = parse_datagram(raw)
            assert isinstance(invite, Request) and invite.method == "INVITE"
            assert invite.via.host == "203.0.113.5" and invite.via.port == server.port
            (contact,) = invite.contacts
            assert str(contact.uri) == f"sip:trunkline@203.0.113.5:{server.port}"
            assert invite.from_.display_name == "trunkline test"


async def test_a_sipp_uas_that_is_busy() -> None:
    port = free_udp_port()
    async with serving() as server:
        uas = await Sipp.start("-sf", str(DATA / "uas_busy.xml"), "-p", str(port))
        events = Events()
        place_call(server, port, events)
        failed = await events.wait_for(Failed)
        assert failed == Failed(486, "Busy Here")
        assert [type(e) for e in events.seen] == [Progress, Failed]
        code, ok, bad, out = await uas.result()  # the scenario ends on our ACK
        assert (code, ok, bad) == (0, 1, 0), out


async def _register(tmp_path: Path, password: str, final: int) -> tuple[Registrar, int, str]:
    scenario = tmp_path / "register.xml"
    scenario.write_text((DATA / "register.xml").read_text().replace("@FINAL@", str(final)))
    registrar = Registrar("trunkline.test", USERS.get)
    port = free_udp_port()
    async with serving(registrar=registrar) as server:
        host, sip_port = server.address
        phone = await Sipp.start(
            f"{host}:{sip_port}",
            "-sf",
            str(scenario),
            "-s",
            "alice",
            "-au",
            "alice",
            "-ap",
            password,
            "-p",
            str(port),
        )
        code, ok, failed, out = await phone.result()
        assert (code, ok, failed) == (0, 1, 0), out
    return registrar, port, out


async def test_a_sipp_softphone_registers_with_digest(tmp_path: Path) -> None:
    registrar, port, _ = await _register(tmp_path, "wonderland", 200)
    now = AsyncioClock().now()
    binding = registrar.binding("alice", now)
    assert binding is not None
    assert binding.contact == f"sip:alice@127.0.0.1:{port}"
    assert (binding.peer.host, binding.peer.port) == ("127.0.0.1", port)
    assert 100 < binding.expires_at - now <= 120
    assert registrar.binding("alice", now + 121) is None


async def test_a_wrong_password_is_challenged_again(tmp_path: Path) -> None:
    registrar, _, _ = await _register(tmp_path, "guess", 401)
    assert registrar.binding("alice", AsyncioClock().now()) is None
