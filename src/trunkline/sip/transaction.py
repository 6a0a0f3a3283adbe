"""The four transaction state machines of RFC 3261 §17, as transition tables.

Each machine is an ``Enum`` of states and a table ``(state, input) -> handler``; the single
method :meth:`_Transaction._step` looks the pair up, runs the handler and changes state
(logging ``old -> new``). A pair missing from the table is an impossible transition and
raises :class:`LocalProtocolError` — inputs from the peer are listed in every state where
they can arrive, so only a bug in the code driving the machine can hit one.

Inputs carry ``now`` (seconds, any epoch) and outputs are data: :class:`SendMessage`,
:class:`PassToTU`, :class:`~trunkline.sip.timers.StartTimer`,
:class:`~trunkline.sip.timers.CancelTimer`, :class:`TransactionTimeout`,
:class:`TransportFailure` and :class:`Terminated`. INVITE transactions follow RFC 6026
(the Accepted states, timers L and M) so that 2xx retransmissions and their ACKs are
absorbed rather than mistaken for new requests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto
from typing import ClassVar, TypeAlias

from trunkline.sip.errors import LocalProtocolError
from trunkline.sip.headers import MAGIC_COOKIE, Headers
from trunkline.sip.message import Request, Response, make_response
from trunkline.sip.timers import (
    DEFAULT_TIMERS,
    CancelTimer,
    StartTimer,
    Timer,
    TimerFired,
    TimerValues,
)

__all__ = [
    "Action",
    "ClientTransaction",
    "Input",
    "InviteClientTransaction",
    "InviteServerTransaction",
    "NonInviteClientTransaction",
    "NonInviteServerTransaction",
    "PassToTU",
    "SendMessage",
    "ServerTransaction",
    "State",
    "Terminated",
    "TransactionTimeout",
    "TransportFailure",
    "build_ack",
    "build_cancel",
    "client_key",
    "client_transaction",
    "server_key",
    "server_transaction",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Command: send ``message`` to the peer (first transmission or retransmission)."""

    message: Request | Response


@dataclass(frozen=True, slots=True)
class PassToTU:
    """Event for the transaction user: a request (server) or response (client) to act on."""

    message: Request | Response


@dataclass(frozen=True, slots=True)
class TransactionTimeout:
    """Event for the TU: the transaction timed out (Timer B, F or H)."""

    timer: Timer


@dataclass(frozen=True, slots=True)
class TransportFailure:
    """Event for the TU: the transport could not send (§17.1.4, §17.2.4)."""


@dataclass(frozen=True, slots=True)
class Terminated:
    """Event: the transaction is over and can be forgotten."""


Action: TypeAlias = (
    SendMessage | PassToTU | StartTimer | CancelTimer | TransactionTimeout | TransportFailure
) | Terminated


class State(Enum):
    """States of the four machines (each uses a subset, see its table)."""

    INIT = auto()
    CALLING = auto()
    TRYING = auto()
    PROCEEDING = auto()
    COMPLETED = auto()
    CONFIRMED = auto()
    ACCEPTED = auto()
    TERMINATED = auto()


class Input(Enum):
    """What can happen to a transaction."""

    START = auto()
    RESPONSE_1XX = auto()
    RESPONSE_2XX = auto()
    RESPONSE_FINAL = auto()  # 300-699
    REQUEST = auto()  # a retransmission of the transaction's request
    ACK = auto()
    TU_1XX = auto()
    TU_2XX = auto()
    TU_FINAL = auto()  # 300-699
    TIMER_A = auto()
    TIMER_B = auto()
    TIMER_D = auto()
    TIMER_E = auto()
    TIMER_F = auto()
    TIMER_G = auto()
    TIMER_H = auto()
    TIMER_I = auto()
    TIMER_J = auto()
    TIMER_K = auto()
    TIMER_L = auto()
    TIMER_M = auto()
    TRANSPORT_ERROR = auto()


_TIMER_INPUT = {Timer(name): Input[f"TIMER_{name}"] for name in "ABDEFGHIJKLM"}

Handler: TypeAlias = Callable[["_Transaction", float, "Request | Response | None"], State]

S, I = State, Input  # noqa: E741  (short names for the tables)


def _response_input(status: int, *, tu: bool) -> Input:
    if status < 200:
        return Input.TU_1XX if tu else Input.RESPONSE_1XX
    if status < 300:
        return Input.TU_2XX if tu else Input.RESPONSE_2XX
    return Input.TU_FINAL if tu else Input.RESPONSE_FINAL


class _Transaction:
    TABLE: ClassVar[dict[tuple[State, Input], Handler]] = {}
    kind: ClassVar[str] = "transaction"

    def __init__(
        self, request: Request, *, reliable: bool, timers: TimerValues = DEFAULT_TIMERS
    ) -> None:
        self.request = request
        self.reliable = reliable
        self.timers = timers
        self.state = State.INIT
        self._out: list[Action] = []
        self._interval = timers.t1
        self._running: set[Timer] = set()

    @property
    def terminated(self) -> bool:
        """Whether the transaction is over."""
        return self.state is State.TERMINATED

    def _step(self, event: Input, now: float, message: Request | Response | None) -> list[Action]:
        """The one place where state changes."""
        handler = self.TABLE.get((self.state, event))
        if handler is None:
            raise LocalProtocolError(
                f"{self.kind}: no transition from {self.state.name} on {event.name}"
            )
        self._out = []
        old = self.state
        new = handler(self, now, message)
        if new is not old:
            log.debug("%s %s: %s -> %s", self.kind, self.request.via.branch, old.name, new.name)
            self.state = new
            if new is State.TERMINATED:
                for timer in sorted(self._running):
                    self._out.append(CancelTimer(timer))
                self._running.clear()
                self._out.append(Terminated())
        return self._out

    # Helpers the handlers share.
    def _send(self, message: Request | Response) -> None:
        self._out.append(SendMessage(message))

    def _pass(self, message: Request | Response | None) -> None:
        assert message is not None
        self._out.append(PassToTU(message))

    def _start(self, timer: Timer, now: float, after: float) -> None:
        self._running.add(timer)
        self._out.append(StartTimer(timer, now + after))

    def _cancel(self, *timers: Timer) -> None:
        for timer in timers:
            if timer in self._running:
                self._running.discard(timer)
                self._out.append(CancelTimer(timer))

    def _fired(self, timer: Timer) -> None:
        self._running.discard(timer)

    def _wait(self, timer: Timer, now: float, then: State) -> State:
        """Start ``timer`` and move to ``then``, or terminate at once if it lasts 0 s."""
        after = self.timers.duration(timer, reliable=self.reliable)
        if after <= 0:
            return State.TERMINATED
        self._start(timer, now, after)
        return then

    def timer_fired(self, event: TimerFired, now: float) -> list[Action]:
        """Feed a timer expiry."""
        inp = _TIMER_INPUT.get(event.name)
        if inp is None:
            raise LocalProtocolError(f"{self.kind}: timer {event.name} is not a transaction timer")
        if event.name not in self._running:
            raise LocalProtocolError(f"{self.kind}: timer {event.name} fired but is not running")
        self._fired(event.name)
        return self._step(inp, now, None)

    def transport_error(self, now: float) -> list[Action]:
        """Feed a transport failure reported by the shell."""
        return self._step(Input.TRANSPORT_ERROR, now, None)


def _stay(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    """Absorb the input (a retransmission, a stray response)."""
    return tx.state


def _terminate_transport(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    tx._out.append(TransportFailure())
    return State.TERMINATED


def _terminate(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    return State.TERMINATED


# --------------------------------------------------------------------------- client side


class ClientTransaction(_Transaction):
    """Common interface of the two client machines."""

    def start(self, now: float) -> list[Action]:
        """Send the request and start the timers."""
        return self._step(Input.START, now, None)

    def receive(self, response: Response, now: float) -> list[Action]:
        """Feed a response matched to this transaction (see :func:`client_key`)."""
        return self._step(_response_input(response.status, tu=False), now, response)


def _ict_start(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    tx._send(tx.request)
    if not tx.reliable:
        tx._interval = tx.timers.duration(Timer.A, reliable=tx.reliable)
        tx._start(Timer.A, now, tx._interval)
    tx._start(Timer.B, now, tx.timers.duration(Timer.B, reliable=tx.reliable))
    return State.CALLING


def _ict_retransmit(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    tx._send(tx.request)
    tx._interval *= 2  # §17.1.1.2: A doubles, without a cap
    tx._start(Timer.A, now, tx._interval)
    return tx.state


def _ict_timeout(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    tx._cancel(Timer.A)
    tx._out.append(TransactionTimeout(Timer.B))
    return State.TERMINATED


def _ict_provisional(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    tx._cancel(Timer.A, Timer.B)
    tx._pass(msg)
    return State.PROCEEDING


def _ict_accepted(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    tx._cancel(Timer.A, Timer.B)
    tx._pass(msg)
    return tx._wait(Timer.M, now, State.ACCEPTED)


def _ict_rejected(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    assert isinstance(msg, Response)
    tx._cancel(Timer.A, Timer.B)
    assert isinstance(tx, InviteClientTransaction)
    tx.ack = build_ack(tx.request, msg)
    tx._send(tx.ack)
    tx._pass(msg)
    return tx._wait(Timer.D, now, State.COMPLETED)


def _ict_reack(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    assert isinstance(tx, InviteClientTransaction) and tx.ack is not None
    tx._send(tx.ack)  # §17.1.1.2: every retransmitted final response gets the ACK again
    return tx.state


def _pass_on(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    tx._pass(msg)
    return tx.state


class InviteClientTransaction(ClientTransaction):
    """INVITE client transaction (§17.1.1, Figure 5; RFC 6026 Figure 3)."""

    kind = "ICT"
    ack: Request | None = None
    TABLE: ClassVar[dict[tuple[State, Input], Handler]] = {
        (S.INIT, I.START): _ict_start,
        (S.CALLING, I.TIMER_A): _ict_retransmit,
        (S.CALLING, I.TIMER_B): _ict_timeout,
        (S.CALLING, I.RESPONSE_1XX): _ict_provisional,
        (S.CALLING, I.RESPONSE_2XX): _ict_accepted,
        (S.CALLING, I.RESPONSE_FINAL): _ict_rejected,
        (S.CALLING, I.TRANSPORT_ERROR): _terminate_transport,
        (S.PROCEEDING, I.RESPONSE_1XX): _pass_on,
        (S.PROCEEDING, I.RESPONSE_2XX): _ict_accepted,
        (S.PROCEEDING, I.RESPONSE_FINAL): _ict_rejected,
        (S.PROCEEDING, I.TRANSPORT_ERROR): _terminate_transport,
        (S.COMPLETED, I.RESPONSE_1XX): _stay,
        (S.COMPLETED, I.RESPONSE_2XX): _stay,
        (S.COMPLETED, I.RESPONSE_FINAL): _ict_reack,
        (S.COMPLETED, I.TIMER_D): _terminate,
        (S.COMPLETED, I.TRANSPORT_ERROR): _terminate_transport,
        (S.ACCEPTED, I.RESPONSE_1XX): _stay,
        (S.ACCEPTED, I.RESPONSE_2XX): _pass_on,  # the TU re-ACKs retransmitted 2xx
        (S.ACCEPTED, I.RESPONSE_FINAL): _stay,
        (S.ACCEPTED, I.TIMER_M): _terminate,
        (S.ACCEPTED, I.TRANSPORT_ERROR): _stay,  # the ACK for 2xx is not ours to send
        (S.TERMINATED, I.RESPONSE_1XX): _stay,
        (S.TERMINATED, I.RESPONSE_2XX): _stay,
        (S.TERMINATED, I.RESPONSE_FINAL): _stay,
    }


def _nict_start(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    tx._send(tx.request)
    if not tx.reliable:
        tx._interval = tx.timers.duration(Timer.E, reliable=tx.reliable)
        tx._start(Timer.E, now, tx._interval)
    tx._start(Timer.F, now, tx.timers.duration(Timer.F, reliable=tx.reliable))
    return State.TRYING


def _nict_retransmit(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    tx._send(tx.request)
    if tx.state is State.TRYING:
        tx._interval = min(2 * tx._interval, tx.timers.t2)
    else:
        tx._interval = tx.timers.t2  # §17.1.2.2: in Proceeding, E is T2
    tx._start(Timer.E, now, tx._interval)
    return tx.state


def _nict_timeout(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    tx._cancel(Timer.E)
    tx._out.append(TransactionTimeout(Timer.F))
    return State.TERMINATED


def _nict_provisional(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    tx._pass(msg)
    return State.PROCEEDING


def _nict_final(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    tx._cancel(Timer.E, Timer.F)
    tx._pass(msg)
    return tx._wait(Timer.K, now, State.COMPLETED)


class NonInviteClientTransaction(ClientTransaction):
    """Non-INVITE client transaction (§17.1.2, Figure 6)."""

    kind = "NICT"
    TABLE: ClassVar[dict[tuple[State, Input], Handler]] = {
        (S.INIT, I.START): _nict_start,
        (S.TRYING, I.TIMER_E): _nict_retransmit,
        (S.TRYING, I.TIMER_F): _nict_timeout,
        (S.TRYING, I.RESPONSE_1XX): _nict_provisional,
        (S.TRYING, I.RESPONSE_2XX): _nict_final,
        (S.TRYING, I.RESPONSE_FINAL): _nict_final,
        (S.TRYING, I.TRANSPORT_ERROR): _terminate_transport,
        (S.PROCEEDING, I.TIMER_E): _nict_retransmit,
        (S.PROCEEDING, I.TIMER_F): _nict_timeout,
        (S.PROCEEDING, I.RESPONSE_1XX): _nict_provisional,
        (S.PROCEEDING, I.RESPONSE_2XX): _nict_final,
        (S.PROCEEDING, I.RESPONSE_FINAL): _nict_final,
        (S.PROCEEDING, I.TRANSPORT_ERROR): _terminate_transport,
        (S.COMPLETED, I.RESPONSE_1XX): _stay,
        (S.COMPLETED, I.RESPONSE_2XX): _stay,
        (S.COMPLETED, I.RESPONSE_FINAL): _stay,
        (S.COMPLETED, I.TIMER_K): _terminate,
        (S.TERMINATED, I.RESPONSE_1XX): _stay,
        (S.TERMINATED, I.RESPONSE_2XX): _stay,
        (S.TERMINATED, I.RESPONSE_FINAL): _stay,
    }


# --------------------------------------------------------------------------- server side


class ServerTransaction(_Transaction):
    """Common interface of the two server machines."""

    last_response: Response | None = None

    def start(self, now: float) -> list[Action]:
        """Begin with the request that created the transaction (passed on to the TU)."""
        return self._step(Input.START, now, self.request)

    def receive(self, request: Request, now: float) -> list[Action]:
        """Feed a request matched to this transaction: a retransmission, or the ACK."""
        return self._step(Input.ACK if request.method == "ACK" else Input.REQUEST, now, request)

    def respond(self, response: Response, now: float) -> list[Action]:
        """Send a response from the TU through the transaction."""
        return self._step(_response_input(response.status, tu=True), now, response)


def _server_start(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    tx._pass(msg)
    if isinstance(tx, InviteServerTransaction):
        # §17.2.1: answer 100 at once, which stops the client retransmitting the INVITE.
        trying = make_response(tx.request, 100)
        tx.last_response = trying
        tx._send(trying)
        return State.PROCEEDING
    return State.TRYING


def _server_respond(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    assert isinstance(msg, Response) and isinstance(tx, ServerTransaction)
    tx.last_response = msg
    tx._send(msg)
    return State.PROCEEDING


def _server_resend(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    assert isinstance(tx, ServerTransaction)
    if tx.last_response is not None:
        tx._send(tx.last_response)
    return tx.state


def _ist_accepted(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    assert isinstance(msg, Response) and isinstance(tx, ServerTransaction)
    tx.last_response = msg
    tx._send(msg)
    return tx._wait(Timer.L, now, State.ACCEPTED)


def _ist_send_2xx(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    assert isinstance(msg, Response)
    tx._send(msg)  # RFC 6026: the TU retransmits its 2xx through the Accepted transaction
    return tx.state


def _ist_rejected(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    assert isinstance(msg, Response) and isinstance(tx, ServerTransaction)
    tx.last_response = msg
    tx._send(msg)
    if not tx.reliable:
        tx._interval = tx.timers.duration(Timer.G, reliable=tx.reliable)
        tx._start(Timer.G, now, tx._interval)
    tx._start(Timer.H, now, tx.timers.duration(Timer.H, reliable=tx.reliable))
    return State.COMPLETED


def _ist_retransmit(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    assert isinstance(tx, ServerTransaction) and tx.last_response is not None
    tx._send(tx.last_response)
    tx._interval = min(2 * tx._interval, tx.timers.t2)
    tx._start(Timer.G, now, tx._interval)
    return tx.state


def _ist_no_ack(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    tx._cancel(Timer.G)
    tx._out.append(TransactionTimeout(Timer.H))
    return State.TERMINATED


def _ist_confirmed(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    tx._cancel(Timer.G, Timer.H)
    return tx._wait(Timer.I, now, State.CONFIRMED)


class InviteServerTransaction(ServerTransaction):
    """INVITE server transaction (§17.2.1, Figure 7; RFC 6026 Figure 5)."""

    kind = "IST"
    TABLE: ClassVar[dict[tuple[State, Input], Handler]] = {
        (S.INIT, I.START): _server_start,
        (S.PROCEEDING, I.REQUEST): _server_resend,
        (S.PROCEEDING, I.ACK): _stay,  # an ACK before any final response: ignore it
        (S.PROCEEDING, I.TU_1XX): _server_respond,
        (S.PROCEEDING, I.TU_2XX): _ist_accepted,
        (S.PROCEEDING, I.TU_FINAL): _ist_rejected,
        (S.PROCEEDING, I.TRANSPORT_ERROR): _terminate_transport,
        (S.COMPLETED, I.REQUEST): _server_resend,
        (S.COMPLETED, I.ACK): _ist_confirmed,
        (S.COMPLETED, I.TIMER_G): _ist_retransmit,
        (S.COMPLETED, I.TIMER_H): _ist_no_ack,
        (S.COMPLETED, I.TRANSPORT_ERROR): _terminate_transport,
        (S.CONFIRMED, I.REQUEST): _stay,
        (S.CONFIRMED, I.ACK): _stay,
        (S.CONFIRMED, I.TIMER_I): _terminate,
        (S.ACCEPTED, I.REQUEST): _stay,
        (S.ACCEPTED, I.ACK): _pass_on,
        (S.ACCEPTED, I.TU_2XX): _ist_send_2xx,
        (S.ACCEPTED, I.TIMER_L): _terminate,
        (S.ACCEPTED, I.TRANSPORT_ERROR): _terminate_transport,
        (S.TERMINATED, I.REQUEST): _stay,
        (S.TERMINATED, I.ACK): _stay,
    }


def _nist_final(tx: _Transaction, now: float, msg: Request | Response | None) -> State:
    assert isinstance(msg, Response) and isinstance(tx, ServerTransaction)
    tx.last_response = msg
    tx._send(msg)
    return tx._wait(Timer.J, now, State.COMPLETED)


class NonInviteServerTransaction(ServerTransaction):
    """Non-INVITE server transaction (§17.2.2, Figure 8)."""

    kind = "NIST"
    TABLE: ClassVar[dict[tuple[State, Input], Handler]] = {
        (S.INIT, I.START): _server_start,
        (S.TRYING, I.REQUEST): _stay,
        (S.TRYING, I.TU_1XX): _server_respond,
        (S.TRYING, I.TU_2XX): _nist_final,
        (S.TRYING, I.TU_FINAL): _nist_final,
        (S.TRYING, I.TRANSPORT_ERROR): _terminate_transport,
        (S.PROCEEDING, I.REQUEST): _server_resend,
        (S.PROCEEDING, I.TU_1XX): _server_respond,
        (S.PROCEEDING, I.TU_2XX): _nist_final,
        (S.PROCEEDING, I.TU_FINAL): _nist_final,
        (S.PROCEEDING, I.TRANSPORT_ERROR): _terminate_transport,
        (S.COMPLETED, I.REQUEST): _server_resend,
        (S.COMPLETED, I.TIMER_J): _terminate,
        (S.COMPLETED, I.TRANSPORT_ERROR): _terminate_transport,
        (S.TERMINATED, I.REQUEST): _stay,
    }


def client_transaction(
    request: Request, *, reliable: bool, timers: TimerValues = DEFAULT_TIMERS
) -> ClientTransaction:
    """The client machine for ``request`` (INVITE or not). ACK is never a transaction."""
    if request.method == "ACK":
        raise LocalProtocolError("ACK has no client transaction (§17.1)")
    cls = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
    return cls(request, reliable=reliable, timers=timers)


def server_transaction(
    request: Request, *, reliable: bool, timers: TimerValues = DEFAULT_TIMERS
) -> ServerTransaction:
    """The server machine for ``request`` (INVITE or not). ACK never creates one."""
    if request.method == "ACK":
        raise LocalProtocolError("ACK does not create a server transaction (§17.2.3)")
    cls = InviteServerTransaction if request.method == "INVITE" else NonInviteServerTransaction
    return cls(request, reliable=reliable, timers=timers)


# --------------------------------------------------------------------------- matching


def client_key(message: Request | Response) -> tuple[str, str]:
    """Key that matches a response to its client transaction (§17.1.3): branch + CSeq method."""
    return (message.via.branch or "", message.cseq.method)


def server_key(request: Request) -> tuple[str, ...]:
    """Key that matches a request to its server transaction (§17.2.3).

    RFC 3261 peers: branch, sent-by and method (ACK matches INVITE). Otherwise (no branch,
    or a bare magic cookie as in RFC 4475 §3.2.1) the RFC 2543 fallback: Request-URI,
    From tag, Call-ID, CSeq number and top Via. (The ACK's To tag is not compared.)
    """
    method = "INVITE" if request.method == "ACK" else request.method
    via = request.via
    branch = via.branch or ""
    if branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE):
        host, port = via.sent_by
        return ("3261", branch, host, str(port or ""), method)
    return (
        "2543",
        str(request.uri),
        request.from_.tag or "",
        request.call_id,
        str(request.cseq.number),
        str(via),
        method,
    )


# --------------------------------------------------------------------------- builders


def _copy(request: Request, method: str, to: str) -> Headers:
    headers = Headers()
    headers.add("Via", str(request.via))  # a single Via: the request's top one
    headers.add("From", request.headers.get("From") or "")
    headers.add("To", to)
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", f"{request.cseq.number} {method}")
    headers.add("Max-Forwards", "70")
    for route in request.headers.get_all("Route"):
        headers.add("Route", route)
    return headers


def build_ack(invite: Request, response: Response) -> Request:
    """The ACK for a non-2xx final response, built by the transaction (§17.1.1.3)."""
    headers = _copy(invite, "ACK", response.headers.get("To") or "")
    return Request(headers, b"", "ACK", invite.uri)


def build_cancel(invite: Request) -> Request:
    """A CANCEL for a pending INVITE (§9.1); it gets its own client transaction."""
    headers = _copy(invite, "CANCEL", invite.headers.get("To") or "")
    return Request(headers, b"", "CANCEL", invite.uri)
