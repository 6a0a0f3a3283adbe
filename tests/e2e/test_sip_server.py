"""The SIP server over real loopback sockets, with sipp as the caller (issue 5).

Every wait is bounded: the server's readiness, each sipp run (``-m N``, ``-timeout``, and a
kill after a deadline), and each datagram read. sipp comes from Debian's ``sip-tester``,
which ``make`` installs when it is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from trunkline.clock import AsyncioClock
from trunkline.sip.core import Answer, CallEvent, Decision, IncomingCall, Reject
from trunkline.sip.message import Response, parse_datagram
from trunkline.sip.sdp import AudioConfig, AudioSession, parse_sdp
from trunkline.sip.uri import SipUri
from trunkline.transport.server import Report, SipServer

DATA = Path(__file__).parent / "data" / "sipp"
KNOWN = "447700900000"
BUSY = "447700900486"
SLOW = "447700900999"  # the application never decides in time: the caller cancels


async def decide(call: IncomingCall) -> Decision:
    """The application: one known number answers, one is busy, the rest do not exist."""
    invite = call.invite
    user = invite.uri.user if isinstance(invite.uri, SipUri) else None
    if user == BUSY:
        return Reject(486)
    if user == SLOW:
        await asyncio.Event().wait()  # cancelled by the server when the caller gives up
    if user != KNOWN:
        return Reject(404)
    session = AudioSession(AudioConfig("127.0.0.1", 40000), session_id=1)
    answer, _ = session.receive_offer(parse_sdp(invite.body))
    return Answer(bytes(answer))


@contextlib.asynccontextmanager
async def serving(**kwargs: object) -> AsyncIterator[tuple[SipServer, list[Report]]]:
    reports: list[Report] = []
    server = SipServer(
        clock=AsyncioClock(),
        decide=decide,
        host="127.0.0.1",
        port=0,
        on_report=reports.append,
        **kwargs,  # type: ignore[arg-type]
    )
    ready = asyncio.Event()
    task = asyncio.create_task(server.serve(ready))
    try:
        async with asyncio.timeout(5):
            await ready.wait()
        yield server, reports
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _sipp() -> str:
    path = shutil.which("sipp")
    assert path, "sipp is missing: `make` installs Debian's sip-tester (or apt-get install it)"
    return path


async def sipp(
    server: SipServer, service: str, *args: str, calls: int, deadline: float = 15.0
) -> tuple[int, int, int, str]:
    """Run sipp against ``server``; returns (exit code, successful, failed, output)."""
    host, port = server.address
    proc = await asyncio.create_subprocess_exec(
        _sipp(),
        f"{host}:{port}",
        "-s",
        service,
        "-i",
        "127.0.0.1",
        "-p",
        "0",
        "-m",
        str(calls),
        "-nostdin",
        "-timeout",
        f"{int(deadline) - 3}s",
        "-timeout_error",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(deadline):
            raw, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    out = raw.decode(errors="replace")
    ok = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", out)
    failed = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", out)
    assert ok and failed, out[-6000:]
    assert proc.returncode is not None
    return proc.returncode, int(ok[-1]), int(failed[-1]), out[-6000:]


def _kinds(reports: list[Report], kind: str) -> int:
    return sum(1 for r in reports if isinstance(r, CallEvent) and r.kind == kind)


async def test_options_ping_is_answered() -> None:
    async with serving() as (server, _):
        code, ok, failed, out = await sipp(
            server, "ping", "-sf", str(DATA / "options.xml"), "-r", "50", calls=20
        )
    assert (code, ok, failed) == (0, 20, 0), out


async def test_invite_200_ack_bye() -> None:
    async with serving() as (server, reports):
        code, ok, failed, out = await sipp(server, KNOWN, "-sn", "uac", "-r", "20", calls=10)
        assert (code, ok, failed) == (0, 10, 0), out
        assert _kinds(reports, "confirmed") == 10
        assert _kinds(reports, "ended") == 10
        assert server.core is not None and not server.core.dialogs


@pytest.mark.parametrize(("number", "status"), [("15550100", 404), (BUSY, 486)])
async def test_rejected_numbers(tmp_path: Path, number: str, status: int) -> None:
    scenario = tmp_path / "rejected.xml"
    template = (DATA / "invite_rejected.xml").read_text()
    scenario.write_text(template.replace("@STATUS@", str(status)))
    async with serving() as (server, reports):
        code, ok, failed, out = await sipp(server, number, "-sf", str(scenario), calls=3)
        assert (code, ok, failed) == (0, 3, 0), out
        assert _kinds(reports, "confirmed") == 0


async def test_cancel_while_the_application_decides() -> None:
    async with serving() as (server, reports):
        code, ok, failed, out = await sipp(
            server, SLOW, "-sf", str(DATA / "invite_cancelled.xml"), calls=3
        )
        assert (code, ok, failed) == (0, 3, 0), out
        assert _kinds(reports, "cancelled") == 3
        assert server.pending_decisions == 0  # the decisions in flight were cancelled


async def test_calls_survive_packet_loss() -> None:
    # sipp drops 10 % of what it sends and receives: INVITE, ACK and BYE retransmissions
    # reach a server that must absorb them, and lost 2xx/200s are sent again.
    async with serving() as (server, reports):
        code, ok, failed, out = await sipp(
            server, KNOWN, "-sn", "uac", "-lost", "10", "-r", "20", "-l", "20", calls=20
        )
        assert (code, ok, failed) == (0, 20, 0), out
        # sipp's built-in uac takes any 200 for the BYE's: when its ACK was lost, our
        # retransmitted INVITE 2xx can "answer" a BYE it lost too. Such a call is still
        # waiting for its ACK here (and gets our BYE after Timer H); every other one ended.
        assert server.core is not None
        ended = {r.call_id for r in reports if isinstance(r, CallEvent) and r.kind == "ended"}
        waiting = server.core.awaiting_ack()
        assert len(ended) + len(waiting) == 20 and not ended & waiting
        assert len(ended) >= 15
    # sipp's message table: after the Messages column come Retrans, Timeout, Unexp. and Lost;
    # with every call successful, anything there is a loss or the retransmission it caused.
    rows = re.findall(r"^\s*\w+ (?:-+>|<-+)(?:\s+E-RTD1)?((?:\s+\d+)+)\s*$", out, re.M)
    assert rows, out
    assert sum(sum(map(int, row.split()[1:])) for row in rows) > 0, out


async def test_invite_over_tcp() -> None:
    async with serving() as (server, reports):
        code, ok, failed, out = await sipp(server, KNOWN, "-sn", "uac", "-t", "t1", calls=3)
        assert (code, ok, failed) == (0, 3, 0), out
        assert _kinds(reports, "ended") == 3


# --------------------------------------------------------------------------- raw UDP


class UdpPeer:
    """A plain UDP socket that talks to the server and reads what comes back."""

    def __init__(self, server: SipServer) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.server.address)

    async def recv(self, timeout: float = 2.0) -> bytes:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            return await loop.sock_recv(self.sock, 65536)

    def close(self) -> None:
        self.sock.close()


def options(peer: UdpPeer, call_id: str) -> bytes:
    port = peer.sock.getsockname()[1]
    return (
        f"OPTIONS sip:{peer.server.address[0]} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{call_id}\r\n"
        "From: <sip:probe@127.0.0.1>;tag=probe\r\n"
        "To: <sip:trunkline@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Max-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def test_stray_and_garbage_datagrams_leave_the_server_answering() -> None:
    async with serving() as (server, _):
        peer = UdpPeer(server)
        try:
            for junk in (
                b"",
                b"\x00" * 10,
                b"hello\r\n\r\n",
                b"SIP/2.0 200 OK\r\n\r\n",
                b"\xff" * 70000,
            ):
                with contextlib.suppress(OSError):  # 70000 bytes exceed a UDP datagram
                    peer.send(junk)
            peer.send(options(peer, "live1"))
            reply = parse_datagram(await peer.recv())
            assert isinstance(reply, Response) and reply.status == 200
            assert reply.call_id == "live1"
            assert "INVITE" in (reply.headers.get("Allow") or "")
        finally:
            peer.close()


# --------------------------------------------------------------------------- RFC 4475

TORTURE = Path(__file__).parents[1] / "unit" / "sip" / "data" / "rfc4475"

#: What the running server answers to each torture datagram (``None``: silence). This is
#: the transport-level reading of MANIFEST.tsv for an endpoint that implements INVITE, ACK,
#: BYE, CANCEL and OPTIONS (no registrar yet: REGISTER and MESSAGE get 501 with Allow), and
#: whose application knows none of the torture numbers (INVITEs get 100 then 404).
ON_THE_WIRE: dict[str, int | None] = {
    # 3.1.1 valid
    "wsinv.dat": 481,  # its To has a tag: a mid-dialog INVITE for no dialog of ours
    "intmeth.dat": 501,
    "esc01.dat": 404,
    "escnull.dat": 501,  # REGISTER
    "esc02.dat": 501,
    "lwsdisp.dat": 200,  # OPTIONS
    "longreq.dat": 404,
    "dblreq.dat": 501,  # the REGISTER; the trailing INVITE is ignored
    "semiuri.dat": 200,
    "transports.dat": 200,
    "mpart01.dat": 501,  # MESSAGE
    "unreason.dat": None,  # responses matching no transaction of ours
    "noreason.dat": None,
    # 3.1.2 invalid
    # badinv01 (400) and badvers (505): their Via does not parse; the answer echoes it as
    # received and goes back to the source address.
    "badinv01.dat": 400,
    "clerr.dat": 400,
    "ncl.dat": 400,
    "scalar02.dat": 400,
    "scalarlg.dat": None,
    "quotbal.dat": 400,
    "ltgtruri.dat": 400,
    "lwsruri.dat": 400,
    "lwsstart.dat": 400,
    "trws.dat": 400,
    "escruri.dat": 400,
    "baddate.dat": 404,  # Date is not used, so not checked
    "regbadct.dat": 400,
    "badaspec.dat": 400,
    "baddn.dat": 400,
    "badvers.dat": 505,
    "mismatch01.dat": 400,
    "mismatch02.dat": 501,
    "bigcode.dat": None,
    # 3.2 transaction
    "badbranch.dat": 200,  # OPTIONS, matched the RFC 2543 way
    # 3.3 application
    "insuf.dat": 400,
    "unkscm.dat": 416,
    "novelsc.dat": 416,
    "unksm2.dat": 501,  # REGISTER
    "bext01.dat": 420,
    "invut.dat": 415,
    "regaut01.dat": 501,  # REGISTER
    "multi01.dat": 400,
    "mcl01.dat": 400,
    "bcast.dat": None,
    "zeromf.dat": 200,  # an endpoint answers OPTIONS with Max-Forwards 0
    "cparam01.dat": 501,
    "cparam02.dat": 501,
    "regescrt.dat": 501,
    "sdp01.dat": 406,
    # 3.4 backward compatibility
    "inv2543.dat": 404,
}


#: Same branch, sent-by and method as an earlier message of the corpus: the server takes it
#: for a retransmission (§17.2.3) and answers with the earlier transaction's response.
RETRANSMISSION_OF = {
    "cparam02.dat": "cparam01.dat",
    "regescrt.dat": "escnull.dat",
    "unkscm.dat": "novelsc.dat",
}


def _call_id(head: str) -> str:
    found = re.search(r"^(?:Call-ID|i)[ \t]*:[ \t]*(\S*)", head, re.M | re.I)
    return found.group(1) if found else ""


def _reply(data: bytes) -> tuple[int, str, str]:
    """Status, Call-ID and CSeq method of a response, read without the full parser: an
    error response echoes the refused request's headers as received, broken ones included."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    start = re.match(r"SIP/2\.0 (\d{3}) ", head)
    cseq = re.search(r"^CSeq[ \t]*:[ \t]*\d+ (\S+)", head, re.M | re.I)
    assert start and cseq, head
    return int(start.group(1)), _call_id(head), cseq.group(1)


async def test_every_torture_datagram_gets_its_answer_or_silence() -> None:
    names = sorted(p.name for p in TORTURE.glob("*.dat"))
    assert names == sorted(ON_THE_WIRE)
    seen: dict[str, int | None] = {}
    async with serving() as (server, _):
        peer = UdpPeer(server)
        try:
            for n, name in enumerate(names):
                data = (TORTURE / name).read_bytes()
                origin = RETRANSMISSION_OF.get(name, name)
                call_id = _call_id((TORTURE / origin).read_bytes().decode("utf-8", "replace"))
                peer.send(data)
                # A liveness probe right behind it: on loopback the server handles datagrams
                # in order, so an answer to the torture message comes first, or never (the
                # application's 404 to an INVITE may come after the probe's 200). Answers
                # with another Call-ID are retransmissions for earlier messages.
                probe = f"probe{n}"
                peer.send(options(peer, probe))
                final: int | None = None
                probed = False
                while not probed or (final is None and ON_THE_WIRE[name] is not None):
                    try:
                        raw = await peer.recv()
                    except TimeoutError:
                        pytest.fail(f"{name}: no answer (probed={probed}, final={final})")
                    status, got_call_id, method = _reply(raw)
                    if got_call_id == probe:
                        assert status == 200, name
                        probed = True
                    elif got_call_id != call_id:
                        continue
                    elif status >= 200:
                        assert final is None or final == status, name
                        final = status
                    else:
                        assert (status, method) == (100, "INVITE"), name
                seen[name] = final
        finally:
            peer.close()
    assert seen == ON_THE_WIRE
