"""The transaction layer and a minimal UAS core, pure (RFC 3261 §8.2, §9.2, §13.3, §17, §18).

:class:`SipCore` owns the tables of client and server transactions and the dialogs it
answered. The shell feeds it what arrives (:meth:`SipCore.receive_datagram`,
:meth:`SipCore.receive_message`, :meth:`SipCore.timer_fired`) and what the application
decided (:meth:`SipCore.decide`); every call returns a list of outputs, as data:

* :class:`Transmit` — send a message to a :class:`Peer`;
* :class:`SetTimer` / :class:`ClearTimer` — arm or disarm a named timer (the shell maps
  them onto its clock and hands back :meth:`SipCore.timer_fired`);
* :class:`IncomingCall` — a new INVITE that needs a :class:`Decision`;
* :class:`CallEvent` — what happened to a call (confirmed by ACK, ended, cancelled);
* :class:`ResponseReceived` / :class:`RequestFailed` — outcome of a request we sent;
* :class:`DtmfInfo` — a digit a peer sent in an INFO (``application/dtmf-relay``);
* :class:`~trunkline.sip.uac.Outbound` — what happened to a call we placed
  (:meth:`SipCore.invite`): progress, answer, failure, or its end from the far side.

Inbound calls are answered after :meth:`SipCore.decide` (with :meth:`SipCore.ring` before),
outbound ones placed with :meth:`SipCore.invite` and abandoned with :meth:`SipCore.cancel`;
either ends with :meth:`SipCore.hangup`. In an established dialog, a re-INVITE or UPDATE
offer goes to the ``reoffer`` callback for its answer (hold and resume are SDP directions);
REGISTER goes to the :class:`~trunkline.sip.registrar.Registrar` when one is given.

Routing follows RFC 3261 §18.2.1 and RFC 3581: the top Via of every request gets
``received`` (and the ``rport`` value when asked), and responses go back to the source
address; over TCP, on the connection the request came on (§18.2.2). Randomness (tags,
branches) is an input: the core takes a ``token`` function.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeAlias

from trunkline.sip.auth import DigestAuth
from trunkline.sip.dialog import Dialog, DialogId, dialog_id
from trunkline.sip.errors import LocalProtocolError, RemoteProtocolError
from trunkline.sip.headers import MAGIC_COOKIE, Headers, Via
from trunkline.sip.message import (
    Request,
    Response,
    make_response,
    parse_datagram,
    response_for_error,
)
from trunkline.sip.timers import (
    DEFAULT_TIMERS,
    CancelTimer,
    StartTimer,
    Timer,
    TimerFired,
    TimerValues,
)
from trunkline.sip.transaction import (
    Action,
    ClientTransaction,
    Input,
    InviteServerTransaction,
    PassToTU,
    SendMessage,
    ServerTransaction,
    State,
    Terminated,
    TransactionTimeout,
    TransportFailure,
    build_cancel,
    client_key,
    client_transaction,
    server_key,
    server_transaction,
)
from trunkline.sip.uac import (
    Answered,
    Ended,
    Failed,
    Outbound,
    Outgoing,
    OutInput,
    OutState,
    Progress,
    build_invite,
)
from trunkline.sip.validate import UasPolicy, check_request, check_response

if TYPE_CHECKING:
    from trunkline.sip.registrar import Registrar

__all__ = [
    "CORE_POLICY",
    "Answer",
    "CallEvent",
    "ClearTimer",
    "Decision",
    "DtmfInfo",
    "IncomingCall",
    "Output",
    "Peer",
    "Reject",
    "Reoffer",
    "RequestFailed",
    "ResponseReceived",
    "SetTimer",
    "SipCore",
    "TimerKey",
    "Transmit",
    "stamp_via",
]

log = logging.getLogger(__name__)

#: What this core implements (REGISTER is added when a registrar is given).
CORE_POLICY = UasPolicy(
    methods=frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE"}),
    content_types=frozenset({"application/sdp", "application/dtmf-relay", "application/dtmf"}),
)

#: The application's answer to an offer in an established dialog: (call_id, offer) -> answer
#: SDP, or ``None`` to refuse it with 488. A re-INVITE without SDP passes ``b""`` (the answer
#: is then our offer, RFC 3264 §5).
Reoffer: TypeAlias = Callable[[str, bytes], "bytes | None"]

#: INFO digits (RFC 2976 with application/dtmf-relay; "10" and "11" are * and #).
_DTMF = {**{c: c for c in "0123456789*#ABCD"}, "10": "*", "11": "#"}


@dataclass(frozen=True, slots=True)
class Peer:
    """Where a message came from, or goes to: transport, address, and the stream connection."""

    transport: str  # "UDP" | "TCP"
    host: str
    port: int
    connection: int | None = None  # the shell's id of a TCP connection

    @property
    def reliable(self) -> bool:
        """Whether the transport retransmits for us (§17: timers A, E, G are not used)."""
        return self.transport != "UDP"


@dataclass(frozen=True, slots=True)
class TimerKey:
    """A timer's identity: who owns it (a transaction key, a dialog) and the RFC name."""

    owner: tuple[str, ...]
    name: str


@dataclass(frozen=True, slots=True)
class Transmit:
    """Command: send ``message`` to ``peer``."""

    message: Request | Response
    peer: Peer


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Command: call :meth:`SipCore.timer_fired` with ``key`` at ``at`` (replaces a running one)."""

    key: TimerKey
    at: float


@dataclass(frozen=True, slots=True)
class ClearTimer:
    """Command: forget timer ``key``."""

    key: TimerKey


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """Event: a new INVITE; answer it with :meth:`SipCore.decide` (``key`` names it)."""

    key: tuple[str, ...]
    invite: Request
    peer: Peer


@dataclass(frozen=True, slots=True)
class CallEvent:
    """Event: ``kind`` is ``confirmed`` (ACK), ``ended`` (BYE), ``cancelled``, ``no-ack``."""

    kind: str
    call_id: str


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """Event: a response to a request we sent (every 1xx and the final one)."""

    request: Request
    response: Response


@dataclass(frozen=True, slots=True)
class RequestFailed:
    """Event: a request we sent got no final response (``timeout``) or could not be sent."""

    request: Request
    reason: str


@dataclass(frozen=True, slots=True)
class DtmfInfo:
    """Event: the peer of call ``call_id`` sent ``digit`` in an INFO request."""

    call_id: str
    digit: str


Output: TypeAlias = (
    Transmit
    | SetTimer
    | ClearTimer
    | IncomingCall
    | CallEvent
    | ResponseReceived
    | RequestFailed
    | DtmfInfo
    | Outbound
)


@dataclass(frozen=True, slots=True)
class Reject:
    """Decision: refuse the call (404, 486, 603 ...)."""

    status: int
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Answer:
    """Decision: accept the call with ``sdp`` as the answer (200 OK)."""

    sdp: bytes
    headers: tuple[tuple[str, str], ...] = ()


Decision: TypeAlias = Reject | Answer


def stamp_via(request: Request, peer: Peer) -> None:
    """Add ``received`` and fill ``rport`` on the top Via (RFC 3261 §18.2.1, RFC 3581 §4)."""
    vias = request.vias
    top = vias[0]
    changes: dict[str, str | None] = {}
    if top.host.strip("[]").lower() != peer.host.lower() or top.rport is not None:
        changes["received"] = peer.host
    if top.rport is not None:
        changes["rport"] = str(peer.port)
    if not changes:
        return
    lines = [str(top.with_params(**changes))] + [str(v) for v in vias[1:]]
    # The Via values, one per line, where the first Via line was; other headers keep order.
    items = list(request.headers)
    first = next(i for i, (n, _) in enumerate(items) if n == "Via")
    kept = [(n, v) for n, v in items if n != "Via"]
    request.headers = Headers(kept[:first] + [("Via", v) for v in lines] + kept[first:])


def response_peer(response: Response, source: Peer, *, symmetric: bool) -> Peer:
    """Where a response to a request from ``source`` goes (§18.2.2, RFC 3581 §4).

    Streams answer on the request's connection. Datagrams go to the ``received`` address;
    the port is ``rport``'s when present, else the sent-by port (5060 by default) — or the
    source port always when ``symmetric`` (what NATed phones and most SBCs need).
    """
    if source.reliable or symmetric:
        return source
    via = response.via
    rport = via.rport
    port = rport if isinstance(rport, int) and not isinstance(rport, bool) else via.port or 5060
    return Peer(source.transport, source.host, port, source.connection)


@dataclass
class _Call:
    """An INVITE we are answering, then the dialog our 2xx created."""

    key: tuple[str, ...]
    invite: Request
    peer: Peer
    tag: str
    decided: bool = False
    dialog: Dialog | None = None
    outbound = False

    @property
    def call_id(self) -> str:
        return self.invite.call_id


@dataclass
class _Unacked:
    """A 2xx to an INVITE (first or re-INVITE) that we retransmit until its ACK (§13.3.1.4)."""

    leg: _Call | Outgoing
    ok: Response
    peer: Peer
    key: tuple[str, ...]  # the server transaction that sent it
    interval: float
    initial: bool


@dataclass
class _Client:
    tx: ClientTransaction
    peer: Peer
    key: tuple[str, str] = field(default=("", ""))


class SipCore:
    """Transaction tables, stateless answers, CANCEL, OPTIONS, a UAS, a UAC and a registrar.

    ``contact`` is the URI we put in Contact (``sip:trunkline@192.0.2.1:5060``); ``via_host``
    and ``via_port`` the sent-by of requests we send; ``token()`` returns a fresh random
    token (tags, branches, Call-IDs, nonce salts). ``reoffer`` answers offers in established
    dialogs (``None``: every re-INVITE gets 488); ``registrar`` takes REGISTER requests.
    """

    def __init__(
        self,
        *,
        contact: str,
        via_host: str,
        via_port: int,
        token: Callable[[], str],
        timers: TimerValues = DEFAULT_TIMERS,
        policy: UasPolicy = CORE_POLICY,
        symmetric: bool = True,
        user_agent: str = "trunkline",
        reoffer: Reoffer | None = None,
        registrar: Registrar | None = None,
    ) -> None:
        self.contact = contact
        self.via_host = via_host
        self.via_port = via_port
        self.token = token
        self.timers = timers
        if registrar is not None:
            policy = replace(policy, methods=policy.methods | {"REGISTER"})
        self.policy = policy
        self.symmetric = symmetric
        self.user_agent = user_agent
        self.reoffer = reoffer
        self.registrar = registrar
        self.servers: dict[tuple[str, ...], ServerTransaction] = {}
        self._server_peer: dict[tuple[str, ...], Peer] = {}
        self._merge: dict[tuple[str, str, int, str], tuple[str, ...]] = {}
        self.clients: dict[tuple[str, str], _Client] = {}
        self.calls: dict[tuple[str, ...], _Call] = {}
        self.dialogs: dict[DialogId, _Call | Outgoing] = {}
        self.outgoing: dict[str, Outgoing] = {}
        self._unacked: dict[tuple[DialogId, int], _Unacked] = {}
        self._allow = ", ".join(sorted(policy.methods))

    # ------------------------------------------------------------------ input from the wire

    def receive_datagram(self, data: bytes, peer: Peer, now: float) -> list[Output]:
        """One UDP packet: parse it, answer what cannot be parsed when that is asked for."""
        try:
            message = parse_datagram(data)
        except RemoteProtocolError as exc:
            return self.refuse(exc, peer)
        return self.receive_message(message, peer, now)

    def refuse(self, exc: RemoteProtocolError, peer: Peer) -> list[Output]:
        """A stateless answer for a message the parser refused (or nothing: drop).

        The answer goes back to the source address, so a Via that does not parse is
        echoed as received (RFC 4475 §3.1.2.1 and §3.1.2.16 still get their 400 and 505).
        """
        response = response_for_error(exc, to_tag=self.token(), raw_via=True)
        log.info("refused a message from %s:%s: %s", peer.host, peer.port, exc)
        if response is None:
            return []
        return [Transmit(response, peer)]

    def receive_message(self, message: Request | Response, peer: Peer, now: float) -> list[Output]:
        """A parsed message from ``peer``."""
        try:
            if isinstance(message, Response):
                return self._on_response(message, now)
            return self._on_request(message, peer, now)
        except RemoteProtocolError as exc:
            # A header the layers read lazily turned out malformed.
            if isinstance(message, Response):
                log.info("dropped a response from %s:%s: %s", peer.host, peer.port, exc)
                return []
            exc.headers = message.headers
            return self.refuse(exc, peer)

    # ------------------------------------------------------------------ requests

    def _on_request(self, request: Request, peer: Peer, now: float) -> list[Output]:
        stamp_via(request, peer)
        key = server_key(request)
        tx = self.servers.get(key)
        if tx is not None:
            return self._server_actions(key, tx.receive(request, now), now)
        if request.method == "ACK":
            return self._on_dialog_ack(request)
        rejection = check_request(request, self.policy)
        if rejection is not None:
            return self._reply(
                request, key, peer, now, rejection.status, rejection.reason, rejection.headers
            )
        if request.to.tag is None:
            merge = (request.from_.tag or "", request.call_id, request.cseq.number, request.method)
            other = self._merge.get(merge)
            if other is not None and other != key and other in self.servers:
                # §8.2.2.2: the same request reached us by two paths.
                return self._reply(request, key, peer, now, 482, None)
        method = request.method
        if method == "CANCEL":
            return self._on_cancel(request, key, peer, now)
        if method == "OPTIONS":
            headers = (("Allow", self._allow), ("Accept", "application/sdp"))
            return self._reply(request, key, peer, now, 200, None, headers)
        if method == "REGISTER" and self.registrar is not None:
            reply = self.registrar.register(request, peer, now, salt=self.token().encode())
            return self._reply(request, key, peer, now, reply.status, reply.reason, reply.headers)
        if method == "INVITE" and request.max_forwards == 0:
            # An INVITE may be bridged onward (B2BUA): refuse a request with no hops left,
            # as a proxy would (§16.3). OPTIONS with 0 is answered (§11, RFC 4475 §3.3.11).
            return self._reply(request, key, peer, now, 483, None)
        if request.to.tag is not None or method in ("BYE", "UPDATE", "INFO"):
            leg = self.dialogs.get(dialog_id(request, local_is_from=False))
            if leg is None or leg.dialog is None:
                # §12.2.2: a mid-dialog request for a dialog we do not have.
                return self._reply(request, key, peer, now, 481, None)
            return self._in_dialog(leg, leg.dialog, request, key, peer, now)
        if len(request.contacts) > 1:
            return self._reply(request, key, peer, now, 400, "INVITE with several Contacts")
        return self._on_invite(request, key, peer, now)

    def _new_server(
        self, request: Request, key: tuple[str, ...], peer: Peer, now: float
    ) -> tuple[ServerTransaction, list[Output]]:
        tx = server_transaction(request, reliable=peer.reliable, timers=self.timers)
        self.servers[key] = tx
        self._server_peer[key] = peer
        if request.to.tag is None:
            merge = (request.from_.tag or "", request.call_id, request.cseq.number, request.method)
            self._merge.setdefault(merge, key)
        # START passes the request to us (we already have it) and, for INVITE, sends 100.
        return tx, self._server_actions(key, tx.start(now), now)

    def _reply(
        self,
        request: Request,
        key: tuple[str, ...],
        peer: Peer,
        now: float,
        status: int,
        reason: str | None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> list[Output]:
        """Answer a new request statefully: a server transaction absorbs retransmissions."""
        tx, out = self._new_server(request, key, peer, now)
        response = make_response(
            request, status, reason, to_tag=self.token(), headers=self._extra(headers), body=body
        )
        out += self._server_actions(key, tx.respond(response, now), now)
        return out

    def _extra(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [*headers, ("Server", self.user_agent)]

    def _contact(self, peer: Peer) -> str:
        return self.contact + (";transport=tcp" if peer.transport == "TCP" else "")

    def _on_cancel(
        self, cancel: Request, key: tuple[str, ...], peer: Peer, now: float
    ) -> list[Output]:
        # §9.2: the CANCEL matches the INVITE's transaction by the same rules, method aside.
        invite_key = (*key[:-1], "INVITE")
        invite_tx = self.servers.get(invite_key)
        if invite_tx is None:
            return self._reply(cancel, key, peer, now, 481, None)
        out = self._reply(cancel, key, peer, now, 200, None)
        call = self.calls.get(invite_key)
        if invite_tx.state is State.PROCEEDING and call is not None and not call.decided:
            call.decided = True
            terminated = make_response(call.invite, 487, to_tag=call.tag, headers=self._extra(()))
            out += self._server_actions(invite_key, invite_tx.respond(terminated, now), now)
            out.append(CallEvent("cancelled", call.invite.call_id))
            del self.calls[invite_key]
        return out

    def _on_invite(
        self, invite: Request, key: tuple[str, ...], peer: Peer, now: float
    ) -> list[Output]:
        _, out = self._new_server(invite, key, peer, now)
        self.calls[key] = _Call(key, invite, peer, self.token())
        out.append(IncomingCall(key, invite, peer))
        return out

    def ring(self, key: tuple[str, ...], sdp: bytes | None, now: float) -> list[Output]:
        """180 Ringing for an undecided :class:`IncomingCall`, or 183 with ``sdp`` (early media)."""
        call = self.calls.get(key)
        tx = self.servers.get(key)
        if call is None or tx is None or call.decided or tx.state is not State.PROCEEDING:
            return []
        headers = [("Contact", f"<{self._contact(call.peer)}>")]
        if sdp:
            headers.append(("Content-Type", "application/sdp"))
        response = make_response(
            call.invite,
            183 if sdp else 180,
            to_tag=call.tag,
            headers=self._extra(headers),
            body=sdp or b"",
        )
        return self._server_actions(key, tx.respond(response, now), now)

    def decide(self, key: tuple[str, ...], decision: Decision, now: float) -> list[Output]:
        """The application's answer to an :class:`IncomingCall` (ignored once cancelled)."""
        call = self.calls.get(key)
        tx = self.servers.get(key)
        if call is None or tx is None or call.decided or tx.state is not State.PROCEEDING:
            log.info("decision for %s arrived too late; ignored", key)
            return []
        if isinstance(decision, Reject) and not 300 <= decision.status <= 699:
            raise LocalProtocolError(f"a rejection needs a 3xx-6xx status, not {decision.status}")
        call.decided = True
        if isinstance(decision, Reject):
            response = make_response(
                call.invite,
                decision.status,
                decision.reason,
                to_tag=call.tag,
                headers=self._extra(decision.headers),
            )
            del self.calls[key]
            return self._server_actions(key, tx.respond(response, now), now)
        ok = self._ok(call.invite, call.peer, decision.sdp, decision.headers, to_tag=call.tag)
        call.dialog = Dialog.as_uas(_with_contact(call.invite), ok)
        self.dialogs[call.dialog.id] = call
        del self.calls[key]
        out = self._server_actions(key, tx.respond(ok, now), now)
        return out + self._retransmit_until_ack(call, ok, key, now, initial=True)

    def _ok(
        self,
        invite: Request,
        peer: Peer,
        sdp: bytes,
        headers: Iterable[tuple[str, str]] = (),
        *,
        to_tag: str | None = None,
    ) -> Response:
        extra = [("Contact", f"<{self._contact(peer)}>"), ("Allow", self._allow)]
        if sdp:
            extra.append(("Content-Type", "application/sdp"))
        return make_response(
            invite, 200, to_tag=to_tag, headers=self._extra([*extra, *headers]), body=sdp
        )

    def _retransmit_until_ack(
        self,
        leg: _Call | Outgoing,
        ok: Response,
        key: tuple[str, ...],
        now: float,
        *,
        initial: bool,
    ) -> list[Output]:
        # §13.3.1.4: the UAS core retransmits its 2xx (G: T1 doubling to T2) until the ACK,
        # and gives up after 64*T1 (H). RFC 6026: they go through the Accepted transaction
        # while it lives, straight to the transport after.
        assert leg.dialog is not None
        cseq = ok.cseq.number
        peer = response_peer(ok, self._server_peer.get(key, leg.peer), symmetric=self.symmetric)
        self._unacked[(leg.dialog.id, cseq)] = _Unacked(leg, ok, peer, key, self.timers.t1, initial)
        owner = _two_hundred_owner(leg.dialog.id, cseq)
        return [
            SetTimer(TimerKey(owner, "G"), now + self.timers.t1),
            SetTimer(TimerKey(owner, "H"), now + 64 * self.timers.t1),
        ]

    def awaiting_ack(self) -> set[str]:
        """Call-IDs of answered inbound calls whose 2xx has had no ACK yet."""
        return {p.leg.call_id for p in self._unacked.values() if p.initial}

    def _on_dialog_ack(self, ack: Request) -> list[Output]:
        did = dialog_id(ack, local_is_from=False)
        pending = self._unacked.pop((did, ack.cseq.number), None)
        if pending is None:
            log.debug("ACK matches no unacknowledged 2xx; absorbed")
            return []
        owner = _two_hundred_owner(did, ack.cseq.number)
        out: list[Output] = [ClearTimer(TimerKey(owner, "G")), ClearTimer(TimerKey(owner, "H"))]
        if pending.initial:
            out.append(CallEvent("confirmed", ack.call_id))
        return out

    # ------------------------------------------------------------------ in-dialog requests

    def _in_dialog(
        self,
        leg: _Call | Outgoing,
        dialog: Dialog,
        request: Request,
        key: tuple[str, ...],
        peer: Peer,
        now: float,
    ) -> list[Output]:
        status = dialog.receive_request(request)
        if status is not None:
            return self._reply(request, key, peer, now, status, None)
        method = request.method
        if method == "BYE":
            out = self._reply(request, key, peer, now, 200, None)
            out += self._forget(leg)
            if isinstance(leg, Outgoing):
                leg.move(OutInput.END)
                self._drop_outgoing(leg)
                out.append(Outbound(leg.call_id, Ended("callee")))
            else:
                out.append(CallEvent("ended", request.call_id))
            return out
        if method == "INFO":
            return self._on_info(leg, request, key, peer, now)
        if method == "INVITE":
            return self._on_reinvite(leg, request, key, peer, now)
        if method == "UPDATE":
            if not request.body:
                return self._reply(request, key, peer, now, 200, None)  # a session refresh
            answer = self._answer_offer(leg, request.body)
            if answer is None:
                return self._reply(request, key, peer, now, 488, None)
            headers = (("Contact", f"<{self._contact(peer)}>"), ("Content-Type", "application/sdp"))
            return self._reply(request, key, peer, now, 200, None, headers, answer)
        return self._reply(request, key, peer, now, 405, None, (("Allow", self._allow),))

    def _answer_offer(self, leg: _Call | Outgoing, offer: bytes) -> bytes | None:
        if self.reoffer is None:
            return None
        return self.reoffer(leg.call_id, offer)

    def _on_reinvite(
        self, leg: _Call | Outgoing, invite: Request, key: tuple[str, ...], peer: Peer, now: float
    ) -> list[Output]:
        tx, out = self._new_server(invite, key, peer, now)  # 100 Trying
        answer = self._answer_offer(leg, invite.body)
        if answer is None:
            refused = make_response(invite, 488, headers=self._extra(()))
            return out + self._server_actions(key, tx.respond(refused, now), now)
        ok = self._ok(invite, peer, answer)
        out += self._server_actions(key, tx.respond(ok, now), now)
        return out + self._retransmit_until_ack(leg, ok, key, now, initial=False)

    def _on_info(
        self, leg: _Call | Outgoing, info: Request, key: tuple[str, ...], peer: Peer, now: float
    ) -> list[Output]:
        digit = _info_digit(info)
        out = self._reply(info, key, peer, now, 200, None)
        if digit is not None:
            out.append(DtmfInfo(leg.call_id, digit))
        return out

    def _forget(self, leg: _Call | Outgoing) -> list[Output]:
        """Drop ``leg``'s dialog and stop retransmitting its 2xx responses."""
        assert leg.dialog is not None
        did = leg.dialog.id
        self.dialogs.pop(did, None)
        out: list[Output] = []
        for pending_key in [k for k in self._unacked if k[0] == did]:
            del self._unacked[pending_key]
            owner = _two_hundred_owner(did, pending_key[1])
            out += [ClearTimer(TimerKey(owner, "G")), ClearTimer(TimerKey(owner, "H"))]
        return out

    # ------------------------------------------------------------------ responses

    def _on_response(self, response: Response, now: float) -> list[Output]:
        if not check_response(response):
            log.info("dropped a response with %d Via values", len(response.vias))
            return []
        client = self.clients.get(client_key(response))
        if client is None:
            log.debug("response %s matches no transaction; dropped", response.status)
            return []
        return self._client_actions(client, client.tx.receive(response, now), now)

    # ------------------------------------------------------------------ requests we send

    def new_via(self, transport: str = "UDP") -> Via:
        """A Via for a request we send, with a fresh branch (RFC 3581 ``rport`` asked for)."""
        branch = MAGIC_COOKIE + self.token()
        return Via(transport, self.via_host, self.via_port, (("branch", branch), ("rport", None)))

    def send_request(self, request: Request, peer: Peer, now: float) -> list[Output]:
        """Send ``request`` (its top Via already ours) through a new client transaction."""
        tx = client_transaction(request, reliable=peer.reliable, timers=self.timers)
        key = client_key(request)
        if key in self.clients:
            raise LocalProtocolError(f"branch {key[0]} is already in use")
        client = _Client(tx, peer, key)
        self.clients[key] = client
        return self._client_actions(client, tx.start(now), now)

    def hangup(self, call_id: str, now: float) -> list[Output]:
        """End the call ``call_id``, inbound or outbound: BYE once answered, else CANCEL."""
        leg = self.outgoing.get(call_id)
        if leg is not None:
            if leg.state is OutState.ANSWERED:
                return self._bye(leg, now)
            return self.cancel(call_id, now)
        call = next(
            (c for c in self.dialogs.values() if not c.outbound and c.call_id == call_id), None
        )
        if call is None or call.dialog is None:
            return []
        return self._bye(call, now)

    def _bye(self, leg: _Call | Outgoing, now: float) -> list[Output]:
        assert leg.dialog is not None
        bye = leg.dialog.create_request(
            "BYE", via=self.new_via(leg.peer.transport), headers=self._extra(())
        )
        out = self._forget(leg)
        if isinstance(leg, Outgoing):
            leg.move(OutInput.END)
            self._drop_outgoing(leg)
        return out + self.send_request(bye, leg.peer, now)

    # ------------------------------------------------------------------ outbound calls (UAC)

    def invite(
        self,
        request_uri: str,
        *,
        from_uri: str,
        to_uri: str,
        sdp: bytes,
        peer: Peer,
        now: float,
        from_display: str | None = None,
        credentials: tuple[str, str] | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> tuple[str, list[Output]]:
        """Place a call: send an INVITE with ``sdp`` to ``peer``; returns its Call-ID.

        What happens comes out as :class:`~trunkline.sip.uac.Outbound` events. With
        ``credentials`` (username, password) a 401/407 is answered once, and again when the
        server says the nonce went stale (RFC 3261 §22.2).
        """
        call_id = f"{self.token()}@{self.via_host}"
        request = build_invite(
            request_uri,
            via=self.new_via(peer.transport),
            call_id=call_id,
            from_uri=from_uri,
            from_tag=self.token(),
            from_display=from_display,
            to_uri=to_uri,
            contact=self._contact(peer),
            allow=self._allow,
            user_agent=self.user_agent,
            sdp=sdp,
            headers=headers,
        )
        auth = None
        if credentials is not None:
            auth = DigestAuth(
                credentials[0],
                credentials[1],
                cnonce=self.token,
                branch=lambda: MAGIC_COOKIE + self.token(),
            )
        self.outgoing[call_id] = Outgoing(call_id, request, peer, auth)
        return call_id, self.send_request(request, peer, now)

    def cancel(self, call_id: str, now: float) -> list[Output]:
        """Abandon the outbound call ``call_id`` (§9.1).

        While it rings: CANCEL (held until a provisional response arrives, as §9.1 asks),
        and the final response becomes one ``Failed``. When a 2xx crosses the CANCEL, the
        call is ACKed then ended with BYE. Once answered, this is a hang-up.
        """
        leg = self.outgoing.get(call_id)
        if leg is None or leg.done or leg.cancelling:
            return []
        if leg.state is OutState.ANSWERED:
            return self._bye(leg, now)
        leg.cancelling = True
        if leg.state is OutState.PROCEEDING:
            return self._send_cancel(leg, now)
        return []

    def _send_cancel(self, leg: Outgoing, now: float) -> list[Output]:
        leg.cancel_sent = True
        return self.send_request(build_cancel(leg.invite), leg.peer, now)

    def _on_invite_response(
        self, leg: Outgoing, request: Request, response: Response, now: float
    ) -> list[Output]:
        status = response.status
        if status < 200:
            if leg.done or leg.state is OutState.ANSWERED:
                return []
            leg.move(OutInput.PROVISIONAL)
            if leg.cancelling:
                return [] if leg.cancel_sent else self._send_cancel(leg, now)
            if status == 100:
                return []
            progress = (status, response.body or None)
            if progress == leg.last_progress:
                return []
            leg.last_progress = progress
            return [Outbound(leg.call_id, Progress(status, response.body or None))]
        if status < 300:
            return self._on_invite_2xx(leg, request, response, now)
        if leg.done:
            return []
        if status in (401, 407) and leg.auth is not None and not leg.cancelling:
            again = self._authenticate(leg, request, response)
            if again is not None:
                return self.send_request(again, leg.peer, now)
        return self._fail(leg, status, response.reason)

    def _authenticate(self, leg: Outgoing, request: Request, response: Response) -> Request | None:
        """The INVITE again with credentials: once, and again on a stale nonce (§22.2)."""
        assert leg.auth is not None
        stale = any(c.stale for c in DigestAuth._usable(response)[1])
        if leg.challenged and not (stale and leg.challenged < 3):
            return None
        again = leg.auth.retry(request, response)
        if again is not None:
            leg.challenged += 1
            leg.invite = again
            leg.move(OutInput.RETRY)
        return again

    def _fail(self, leg: Outgoing, status: int | None, reason: str) -> list[Output]:
        leg.move(OutInput.FAIL)
        self._drop_outgoing(leg)
        return [Outbound(leg.call_id, Failed(status, reason))]

    def _on_invite_2xx(
        self, leg: Outgoing, request: Request, response: Response, now: float
    ) -> list[Output]:
        if leg.dialog is not None and response.to.tag == leg.dialog.id.remote_tag:
            # A retransmitted 2xx: our ACK was lost (§13.2.2.4).
            return [Transmit(leg.ack, leg.peer)] if leg.ack is not None else []
        dialog = Dialog.as_uac(request, _with_target(request, response))
        ack = dialog.ack(request.cseq.number, via=self.new_via(leg.peer.transport))
        for name in ("Authorization", "Proxy-Authorization"):
            for value in request.headers.get_all(name):
                ack.headers.add(name, value)
        out: list[Output] = [Transmit(ack, leg.peer)]
        if leg.dialog is not None or leg.done:
            # Another fork answered too, or we gave up already: ACK it, then end it (§13.2.2.4).
            bye = dialog.create_request(
                "BYE", via=self.new_via(leg.peer.transport), headers=self._extra(())
            )
            return out + self.send_request(bye, leg.peer, now)
        leg.dialog, leg.ack = dialog, ack
        self.dialogs[dialog.id] = leg
        if leg.cancelling:
            # §9.1: the 2xx crossed our CANCEL; the call is up, so end it with BYE.
            out += self._bye(leg, now)
            return [*out, Outbound(leg.call_id, Failed(487, "Request Terminated"))]
        leg.move(OutInput.ANSWER)
        return [*out, Outbound(leg.call_id, Answered(response.body))]

    def _drop_outgoing(self, leg: Outgoing) -> None:
        """Forget a finished call, unless its INVITE transaction may still bring a 2xx."""
        if client_key(leg.invite) not in self.clients:
            self.outgoing.pop(leg.call_id, None)

    # ------------------------------------------------------------------ timers

    def timer_fired(self, key: TimerKey, now: float) -> list[Output]:
        """A timer the shell armed for ``key`` has expired."""
        kind = key.owner[0]
        if kind == "server":
            tx_key = key.owner[1:]
            tx = self.servers.get(tx_key)
            if tx is None:
                return []
            return self._server_actions(
                tx_key, tx.timer_fired(TimerFired(Timer(key.name)), now), now
            )
        if kind == "client":
            client = self.clients.get((key.owner[1], key.owner[2]))
            if client is None:
                return []
            return self._client_actions(
                client, client.tx.timer_fired(TimerFired(Timer(key.name)), now), now
            )
        if kind == "2xx":
            return self._two_hundred_timer(key, now)
        raise LocalProtocolError(f"unknown timer owner {key.owner!r}")

    def _two_hundred_timer(self, key: TimerKey, now: float) -> list[Output]:
        did = DialogId(*key.owner[1:4])
        pending = self._unacked.get((did, int(key.owner[4])))
        if pending is None:
            return []
        leg = pending.leg
        if key.name == "H":
            log.info("no ACK for the 2xx of %s: ending the call", leg.call_id)
            del self._unacked[(did, int(key.owner[4]))]
            if leg.dialog is None or leg.dialog.id not in self.dialogs:
                return []
            out: list[Output] = []
            if isinstance(leg, Outgoing):
                out.append(Outbound(leg.call_id, Ended("no-ack")))
            else:
                out.append(CallEvent("no-ack", leg.call_id))
            return out + self._bye(leg, now)
        out = []
        tx = self.servers.get(pending.key)
        if isinstance(tx, InviteServerTransaction) and tx.state is State.ACCEPTED:
            out += self._server_actions(pending.key, tx.respond(pending.ok, now), now)
        else:
            out.append(Transmit(pending.ok, pending.peer))
        pending.interval = min(2 * pending.interval, self.timers.t2)
        out.append(SetTimer(key, now + pending.interval))
        return out

    # ------------------------------------------------------------------ transaction actions

    def _server_actions(
        self, key: tuple[str, ...], actions: list[Action], now: float
    ) -> list[Output]:
        peer = self._server_peer[key]
        out: list[Output] = []
        owner = ("server", *key)
        for action in actions:
            if isinstance(action, SendMessage):
                message = action.message
                dest = peer
                if isinstance(message, Response):
                    dest = response_peer(message, peer, symmetric=self.symmetric)
                out.append(Transmit(message, dest))
            elif isinstance(action, StartTimer):
                out.append(SetTimer(TimerKey(owner, action.name.value), action.at))
            elif isinstance(action, CancelTimer):
                out.append(ClearTimer(TimerKey(owner, action.name.value)))
            elif isinstance(action, PassToTU):
                if isinstance(action.message, Request) and action.message.method == "ACK":
                    out += self._on_dialog_ack(action.message)
                # START hands the request over too: the caller already acts on it.
            elif isinstance(action, TransactionTimeout):
                log.info("server transaction %s: timer %s expired", key, action.timer.value)
            elif isinstance(action, TransportFailure):
                log.info("server transaction %s: transport failure", key)
            elif isinstance(action, Terminated):
                tx = self.servers.pop(key, None)
                self._server_peer.pop(key, None)
                if tx is not None and tx.request.to.tag is None:
                    req = tx.request
                    merge = (req.from_.tag or "", req.call_id, req.cseq.number, req.method)
                    if self._merge.get(merge) == key:
                        del self._merge[merge]
                self.calls.pop(key, None)
        return out

    def _client_actions(self, client: _Client, actions: list[Action], now: float) -> list[Output]:
        out: list[Output] = []
        owner = ("client", *client.key)
        request = client.tx.request
        leg = None
        if request.method in ("INVITE", "CANCEL") and request.to.tag is None:
            leg = self.outgoing.get(request.call_id)  # the dialog-creating INVITE of a call
        for action in actions:
            if isinstance(action, SendMessage):
                out.append(Transmit(action.message, client.peer))
            elif isinstance(action, StartTimer):
                out.append(SetTimer(TimerKey(owner, action.name.value), action.at))
            elif isinstance(action, CancelTimer):
                out.append(ClearTimer(TimerKey(owner, action.name.value)))
            elif isinstance(action, PassToTU):
                assert isinstance(action.message, Response)
                if request.method == "CANCEL" and leg is not None:
                    continue  # the INVITE's final response tells the outcome
                if request.method == "INVITE" and leg is not None:
                    out += self._on_invite_response(leg, request, action.message, now)
                    continue
                out.append(ResponseReceived(request, action.message))
            elif isinstance(action, TransactionTimeout | TransportFailure):
                reason = "timeout" if isinstance(action, TransactionTimeout) else "transport"
                if leg is not None and request.method == "INVITE":
                    if not leg.done and leg.invite is request:
                        out += self._fail(leg, None, reason)
                elif leg is None:
                    out.append(RequestFailed(request, reason))
            elif isinstance(action, Terminated):
                self.clients.pop(client.key, None)
                if leg is not None and leg.done and leg.invite is request:
                    self.outgoing.pop(leg.call_id, None)
        return out

    def transport_failed(self, peer: Peer, now: float) -> list[Output]:
        """The shell could not send to ``peer`` (a TCP connection is gone): fail its users."""
        out: list[Output] = []
        for key, tx_peer in list(self._server_peer.items()):
            tx = self.servers.get(key)
            if tx_peer == peer and tx is not None and _can_fail(tx):
                out += self._server_actions(key, tx.transport_error(now), now)
        for client in list(self.clients.values()):
            if client.peer == peer and _can_fail(client.tx):
                out += self._client_actions(client, client.tx.transport_error(now), now)
        return out


def _with_contact(invite: Request) -> Request:
    """The INVITE itself, or for an RFC 2543 peer that sent no Contact a copy whose Contact
    is the From address (RFC 2543 §6.13: requests then go to the From address)."""
    if invite.contacts:
        return invite
    headers = invite.headers.copy()
    headers.add("Contact", f"<{invite.from_.uri}>")
    return Request(headers, invite.body, invite.method, invite.uri)


def _with_target(invite: Request, response: Response) -> Response:
    """The 2xx itself, or when it lacks its (mandatory) single Contact, a copy that targets
    the Request-URI we called, so that the ACK and BYE still have somewhere to go."""
    if len(response.contacts) == 1:
        return response
    headers = response.headers.copy()
    headers.remove("Contact")
    headers.add("Contact", f"<{invite.uri}>")
    return Response(headers, response.body, response.status, response.reason)


def _info_digit(info: Request) -> str | None:
    """The digit of an INFO: ``application/dtmf-relay`` (``Signal=5``) or ``application/dtmf``."""
    ctype = info.content_type
    text = info.body.decode("ascii", "replace").strip()
    if ctype == "application/dtmf-relay":
        for line in text.splitlines():
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal":
                return _DTMF.get(value.strip().upper())
        return None
    if ctype == "application/dtmf":
        return _DTMF.get(text.upper())
    return None


def _can_fail(tx: ServerTransaction | ClientTransaction) -> bool:
    return (tx.state, Input.TRANSPORT_ERROR) in tx.TABLE


def _two_hundred_owner(did: DialogId, cseq: int) -> tuple[str, ...]:
    return ("2xx", did.call_id, did.local_tag, did.remote_tag, str(cseq))
