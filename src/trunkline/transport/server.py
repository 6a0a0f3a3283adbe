"""The SIP server: UDP and TCP listeners, timers on the clock, and the pure core.

:class:`SipServer` is the thin asyncio shell around :class:`~trunkline.sip.core.SipCore`:
it feeds the core what the sockets receive and what the clock fires, and carries out the
core's outputs (send, arm and disarm timers, ask the application about a call). Every task
it starts (TCP connections, call decisions) belongs to the task group of :meth:`serve`.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import secrets
from collections.abc import Awaitable, Callable

from trunkline.clock import Clock, TimerHandle
from trunkline.sip.core import (
    CallEvent,
    ClearTimer,
    Decision,
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
from trunkline.sip.message import Request, Response
from trunkline.sip.timers import DEFAULT_TIMERS, TimerValues
from trunkline.transport.tcp import TcpListener
from trunkline.transport.udp import UdpListener

__all__ = ["DecideCall", "Report", "SipServer"]

log = logging.getLogger(__name__)

#: The application's answer to an INVITE (404 for unknown numbers, 200 with SDP ...).
DecideCall = Callable[[Request], Awaitable[Decision]]

#: What the server reports to its owner.
Report = CallEvent | ResponseReceived | RequestFailed


def _token() -> str:
    return secrets.token_hex(8)


class SipServer:
    """Listen for SIP on ``host:port`` over UDP and TCP (the same port number for both).

    ``decide`` is asked about each new INVITE and has ``decision_timeout`` seconds to answer
    (500 otherwise; an exception gives 500 too). Call events go to ``on_report``.
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
                self.core = SipCore(
                    contact=f"sip:trunkline@{_hostport(self.host, port)}",
                    via_host=self.host,
                    via_port=port,
                    token=self.token,
                    timers=self.timers,
                )
                log.info("SIP listening on %s:%s", self.host, port)
                ready.set()
                await asyncio.Future()  # until cancelled
        finally:
            for handle in self._timers.values():
                handle.cancel()
            self._timers.clear()
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
        self._run(core.receive_datagram(data, Peer("UDP", addr[0], addr[1]), self.clock.now()))

    def _stream_message(
        self, message: Request | Response, conn: int, addr: tuple[str, int]
    ) -> None:
        peer = Peer("TCP", addr[0], addr[1], conn)
        self._run(self._core().receive_message(message, peer, self.clock.now()))

    def _stream_error(self, exc: RemoteProtocolError, conn: int, addr: tuple[str, int]) -> None:
        self._run(self._core().refuse(exc, Peer("TCP", addr[0], addr[1], conn)))

    def _stream_closed(self, conn: int, addr: tuple[str, int]) -> None:
        if self.core is not None:
            peer = Peer("TCP", addr[0], addr[1], conn)
            self._run(self.core.transport_failed(peer, self.clock.now()))

    def _fire(self, key: TimerKey) -> None:
        self._timers.pop(key, None)
        self._run(self._core().timer_fired(key, self.clock.now()))

    def _core(self) -> SipCore:
        if self.core is None:
            raise RuntimeError("the SIP server is not serving")
        return self.core

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

    async def _decide(self, call: IncomingCall) -> None:
        try:
            async with asyncio.timeout(self.decision_timeout):
                decision = await self.decide_call(call.invite)
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
