"""The SIP server: UDP and TCP listeners, timers on the clock, and the pure core.

:class:`SipServer` is the thin asyncio shell around :class:`~trunkline.sip.core.SipCore`:
it feeds the core what the sockets receive and what the clock fires, and carries out the
core's outputs (send, arm and disarm timers, ask the application about a call). Every task
it starts (TCP connections, call decisions) belongs to the task group of :meth:`serve`.

Inbound calls are decided by ``decide`` (which may :meth:`SipServer.ring` meanwhile);
outbound calls are placed with :meth:`SipServer.invite`, whose ``on_event`` receives
:class:`Progress`, :class:`Answered`, :class:`Failed` and :class:`Ended`; either kind ends
with :meth:`SipServer.hangup` (and :meth:`SipServer.cancel` abandons a ringing outbound call).
Offers in established dialogs (re-INVITE, UPDATE: hold, resume, codec change) are answered
by the ``on_reoffer`` attribute; REGISTER goes to the ``registrar`` when one is given.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence

from trunkline.clock import Clock, TimerHandle
from trunkline.sip.core import (
    CallEvent,
    ClearTimer,
    Decision,
    DtmfInfo,
    IncomingCall,
    Output,
    Peer,
    Reject,
    RequestFailed,
    ResponseReceived,
    SetTimer,
    SipCore,
    TimerKey,
    Transmit,
)
from trunkline.sip.errors import RemoteProtocolError
from trunkline.sip.guard import SourceGuard
from trunkline.sip.message import Request, Response
from trunkline.sip.registrar import Registrar
from trunkline.sip.timers import DEFAULT_TIMERS, TimerValues
from trunkline.sip.uac import Answered, Ended, Failed, Outbound, OutboundEvent, Progress
from trunkline.transport.tcp import TcpListener
from trunkline.transport.udp import UdpListener

__all__ = [
    "Answered",
    "DecideCall",
    "DtmfInfo",
    "Ended",
    "Failed",
    "OnReoffer",
    "OutboundEvent",
    "Progress",
    "Report",
    "SipServer",
]

log = logging.getLogger(__name__)

#: The application's answer to an INVITE (404 for unknown numbers, 200 with SDP ...).
#: The :class:`IncomingCall` carries the INVITE, its ``key`` (for :meth:`SipServer.ring`)
#: and the ``peer`` it came from (how trunks are recognised).
DecideCall = Callable[[IncomingCall], Awaitable[Decision]]

#: The answer to an offer in an established dialog: (call_id, offer SDP) -> answer SDP, or
#: ``None`` for 488. A re-INVITE without SDP passes ``b""``: the answer is then our offer.
OnReoffer = Callable[[str, bytes], "bytes | None"]

#: What the server reports to its owner.
Report = CallEvent | ResponseReceived | RequestFailed | DtmfInfo


def _token() -> str:
    return secrets.token_hex(8)


class SipServer:
    """Listen for SIP on ``host:port`` over UDP and TCP (the same port number for both).

    ``decide`` is asked about each new INVITE and has ``decision_timeout`` seconds to answer
    (500 otherwise; an exception gives 500 too). Call events go to ``on_report``.
    ``public_host`` is the address peers reach us on, for Contact and Via, when it is not
    ``host`` (a wildcard bind, or NAT).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        decide: DecideCall,
        host: str = "127.0.0.1",
        port: int = 5060,
        udp: bool = True,
        tcp: bool = True,
        timers: TimerValues = DEFAULT_TIMERS,
        decision_timeout: float = 30.0,
        on_report: Callable[[Report], None] | None = None,
        token: Callable[[], str] = _token,
        registrar: Registrar | None = None,
        public_host: str | None = None,
        guard: SourceGuard | None = None,
    ) -> None:
        if not (udp or tcp):
            raise ValueError("a SIP server needs UDP, TCP or both")
        self.clock = clock
        self.decide_call = decide
        self.host = host
        self.port = port
        self.timers = timers
        self.decision_timeout = decision_timeout
        self.on_report = on_report
        self.token = token
        self.registrar = registrar
        self.public_host = public_host
        #: Answers offers in established dialogs; ``None``: they get 488.
        self.on_reoffer: OnReoffer | None = None
        self._outbound: dict[str, Callable[[OutboundEvent], None]] = {}
        # Outbound TCP (§18.1.1): one connection per destination, opened on first use.
        self._tcp_out: dict[tuple[str, int], int] = {}
        self._tcp_waiting: dict[tuple[str, int], list[bytes]] = {}
        #: bans and scanner filtering; a message it refuses is dropped before parsing
        self.guard = guard
        self.udp: UdpListener | None = UdpListener(self._datagram) if udp else None
        self.tcp: TcpListener | None = (
            TcpListener(
                on_message=self._stream_message,
                on_error=self._stream_error,
                on_closed=self._stream_closed,
            )
            if tcp
            else None
        )
        self.core: SipCore | None = None
        self._timers: dict[TimerKey, TimerHandle] = {}
        self._deciding: dict[tuple[str, ...], tuple[str, asyncio.Task[None]]] = {}
        self._group: asyncio.TaskGroup | None = None

    @property
    def pending_decisions(self) -> int:
        """How many INVITEs wait for the application's decision."""
        return len(self._deciding)

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (after ``ready``)."""
        return (self.host, self.port)

    async def serve(self, ready: asyncio.Event) -> None:
        """Bind, set ``ready``, and serve until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                port = await self._bind(group)
                self.port = port
                advertised = self.public_host or self.host
                self.core = SipCore(
                    contact=f"sip:trunkline@{_hostport(advertised, port)}",
                    via_host=advertised,
                    via_port=port,
                    token=self.token,
                    timers=self.timers,
                    reoffer=self._reoffer,
                    registrar=self.registrar,
                )
                log.info("SIP listening on %s:%s", self.host, port)
                ready.set()
                await asyncio.Future()  # until cancelled
        finally:
            for handle in self._timers.values():
                handle.cancel()
            self._timers.clear()
            self._tcp_out.clear()
            self._tcp_waiting.clear()
            if self.udp is not None:
                self.udp.close()
            if self.tcp is not None:
                self.tcp.close()

    async def _bind(self, group: asyncio.TaskGroup) -> int:
        """Bind UDP, then TCP on the same port number. With port 0 the number UDP got may be
        taken for TCP: try again with another (a few times)."""
        attempts = 10 if self.port == 0 else 1
        attempt = 0
        while True:
            attempt += 1
            port = self.port
            if self.udp is not None:
                port = (await self.udp.start(self.host, port))[1]
            if self.tcp is None:
                return port
            try:
                return (await self.tcp.start(self.host, port, group))[1]
            except OSError as exc:
                if self.udp is not None:
                    self.udp.close()
                if exc.errno != errno.EADDRINUSE or attempt >= attempts:
                    raise
                log.info("TCP port %s is taken; trying another", port)

    # ------------------------------------------------------------------ input

    def _datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        core = self._core()
        now = self.clock.now()
        if self.guard is not None and not self.guard.admits(addr[0], data, now):
            return
        self._run(core.receive_datagram(data, Peer("UDP", addr[0], addr[1]), now))

    def _stream_message(
        self, message: Request | Response, conn: int, addr: tuple[str, int]
    ) -> None:
        peer = Peer("TCP", addr[0], addr[1], conn)
        now = self.clock.now()
        if self.guard is not None:
            agent = (message.headers.get("User-Agent") or "").encode("utf-8", "replace")
            if not self.guard.admits(addr[0], b"\nuser-agent: " + agent, now):
                return
        self._run(self._core().receive_message(message, peer, now))

    def _stream_error(self, exc: RemoteProtocolError, conn: int, addr: tuple[str, int]) -> None:
        self._run(self._core().refuse(exc, Peer("TCP", addr[0], addr[1], conn)))

    def _stream_closed(self, conn: int, addr: tuple[str, int]) -> None:
        if self.core is not None:
            peer = Peer("TCP", addr[0], addr[1], conn)
            self._run(self.core.transport_failed(peer, self.clock.now()))
            for dest, out_conn in list(self._tcp_out.items()):
                if out_conn == conn:  # ours: requests sent to it name no connection
                    del self._tcp_out[dest]
                    lost = Peer("TCP", dest[0], dest[1])
                    self._run(self.core.transport_failed(lost, self.clock.now()))

    def _fire(self, key: TimerKey) -> None:
        self._timers.pop(key, None)
        self._run(self._core().timer_fired(key, self.clock.now()))

    def _core(self) -> SipCore:
        if self.core is None:
            raise RuntimeError("the SIP server is not serving")
        return self.core

    def _reoffer(self, call_id: str, offer: bytes) -> bytes | None:
        if self.on_reoffer is None:
            return None
        try:
            return self.on_reoffer(call_id, offer)
        except Exception:
            log.exception("answering the offer in %s failed: 488", call_id)
            return None

    # ------------------------------------------------------------------ calls

    def ring(self, key: tuple[str, ...], sdp: bytes | None = None) -> None:
        """Send 180 Ringing (or 183 Session Progress with ``sdp``) for an undecided call."""
        core = self._core()
        self._run(core.ring(key, sdp, self.clock.now()))

    def hangup(self, call_id: str) -> None:
        """End a call, inbound or outbound: BYE once established, CANCEL while ringing."""
        core = self._core()
        self._run(core.hangup(call_id, self.clock.now()))
        self._settle(call_id)

    def invite(
        self,
        request_uri: str,
        *,
        from_uri: str,
        to_uri: str,
        sdp: bytes,
        peer: Peer,
        on_event: Callable[[OutboundEvent], None],
        from_display: str | None = None,
        credentials: tuple[str, str] | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> str:
        """Place a call to ``request_uri`` through ``peer``; returns its Call-ID.

        ``on_event`` gets :class:`Progress` (180/183), then :class:`Answered` or one
        :class:`Failed` (``status`` ``None`` for a timeout or a lost transport), and after an
        answer :class:`Ended` when the callee hangs up. ``credentials`` (user, password)
        answer a trunk's Digest challenge. A TCP ``peer`` without a ``connection`` gets one
        connection per destination, opened on first use (a failure to connect is
        ``Failed(None, "transport")``).
        """
        core = self._core()
        call_id, outputs = core.invite(
            request_uri,
            from_uri=from_uri,
            from_display=from_display,
            to_uri=to_uri,
            sdp=sdp,
            peer=peer,
            credentials=credentials,
            headers=headers,
            now=self.clock.now(),
        )
        self._outbound[call_id] = on_event
        self._run(outputs)
        return call_id

    def cancel(self, call_id: str) -> None:
        """Abandon a ringing outbound call (its ``on_event`` gets one ``Failed``, 487 usually);
        after a 2xx that crossed the CANCEL, the call is ACKed then ended with BYE."""
        core = self._core()
        self._run(core.cancel(call_id, self.clock.now()))
        self._settle(call_id)

    def _settle(self, call_id: str) -> None:
        """Forget the ``on_event`` of an outbound call that will report nothing more."""
        leg = self.core.outgoing.get(call_id) if self.core is not None else None
        if leg is None or leg.done:
            self._outbound.pop(call_id, None)

    def _outbound_event(self, out: Outbound) -> None:
        if isinstance(out.event, Failed | Ended):
            on_event = self._outbound.pop(out.call_id, None)
        else:
            on_event = self._outbound.get(out.call_id)
        log.info("SIP outbound %s: %s", out.call_id, out.event)
        if on_event is None:
            return
        try:
            on_event(out.event)
        except Exception:
            log.exception("the outbound call %s: its event handler failed", out.call_id)

    # ------------------------------------------------------------------ output

    def _run(self, outputs: list[Output]) -> None:
        """Carry out the core's outputs, in order."""
        for out in outputs:
            if isinstance(out, Transmit):
                self._send(out)
            elif isinstance(out, SetTimer):
                old = self._timers.pop(out.key, None)
                if old is not None:
                    old.cancel()
                self._timers[out.key] = self.clock.call_at(
                    out.at, functools.partial(self._fire, out.key)
                )
            elif isinstance(out, ClearTimer):
                handle = self._timers.pop(out.key, None)
                if handle is not None:
                    handle.cancel()
            elif isinstance(out, IncomingCall):
                assert self._group is not None
                task = self._group.create_task(self._decide(out))
                self._deciding[out.key] = (out.invite.call_id, task)
            elif isinstance(out, Outbound):
                self._outbound_event(out)
            else:
                if isinstance(out, CallEvent) and out.kind == "cancelled":
                    # The caller gave up: stop asking the application.
                    for call_id, task in list(self._deciding.values()):
                        if call_id == out.call_id:
                            task.cancel()
                log.info("SIP %s", out)
                if self.on_report is not None:
                    self.on_report(out)

    def _send(self, out: Transmit) -> None:
        peer = out.peer
        data = bytes(out.message)
        if peer.transport == "UDP":
            sent = self.udp is not None and self.udp.send(data, peer.host, peer.port)
        elif peer.connection is None and self.tcp is not None:
            sent = self._send_tcp_out((peer.host, peer.port), data)
        else:
            sent = (
                self.tcp is not None
                and peer.connection is not None
                and self.tcp.send(peer.connection, data)
            )
        if not sent:
            log.info(
                "could not send %r to %s:%s/%s", out.message, peer.host, peer.port, peer.transport
            )

    def _send_tcp_out(self, dest: tuple[str, int], data: bytes) -> bool:
        """Send on our connection to ``dest``, opening it first when there is none."""
        assert self.tcp is not None
        conn = self._tcp_out.get(dest)
        if conn is not None and self.tcp.send(conn, data):
            return True
        self._tcp_out.pop(dest, None)
        waiting = self._tcp_waiting.get(dest)
        if waiting is not None:
            waiting.append(data)
            return True
        if self._group is None:
            return False
        self._tcp_waiting[dest] = [data]
        self._group.create_task(self._open_tcp(dest))
        return True

    async def _open_tcp(self, dest: tuple[str, int]) -> None:
        assert self.tcp is not None
        try:
            conn = await self.tcp.connect(*dest)
        except (OSError, TimeoutError) as exc:
            log.info("could not connect to %s:%s over TCP: %s", dest[0], dest[1], exc)
            self._tcp_waiting.pop(dest, None)
            if self.core is not None:
                lost = Peer("TCP", dest[0], dest[1])
                self._run(self.core.transport_failed(lost, self.clock.now()))
            return
        self._tcp_out[dest] = conn
        for data in self._tcp_waiting.pop(dest, []):
            self.tcp.send(conn, data)

    async def _decide(self, call: IncomingCall) -> None:
        try:
            async with asyncio.timeout(self.decision_timeout):
                decision = await self.decide_call(call)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            log.warning("no decision for the call %s in time", call.invite.call_id)
            decision = Reject(500, "No decision in time")
        except Exception:
            log.exception("deciding the call %s failed", call.invite.call_id)
            decision = Reject(500)
        finally:
            self._deciding.pop(call.key, None)
        core = self._core()
        try:
            outputs = core.decide(call.key, decision, self.clock.now())
        except Exception:  # a decision the core refuses (a 1xx "rejection" ...): answer 500
            log.exception(
                "the decision %r for the call %s is unusable", decision, call.invite.call_id
            )
            outputs = core.decide(call.key, Reject(500), self.clock.now())
        self._run(outputs)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
