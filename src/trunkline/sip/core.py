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
* :class:`ResponseReceived` / :class:`RequestFailed` — outcome of a request we sent.

Routing follows RFC 3261 §18.2.1 and RFC 3581: the top Via of every request gets
``received`` (and the ``rport`` value when asked), and responses go back to the source
address; over TCP, on the connection the request came on (§18.2.2). Randomness (tags,
branches) is an input: the core takes a ``token`` function.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeAlias

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
    client_key,
    client_transaction,
    server_key,
    server_transaction,
)
from trunkline.sip.validate import UasPolicy, check_request, check_response

__all__ = [
    "CORE_POLICY",
    "Answer",
    "CallEvent",
    "ClearTimer",
    "Decision",
    "IncomingCall",
    "Output",
    "Peer",
    "Reject",
    "RequestFailed",
    "ResponseReceived",
    "SetTimer",
    "SipCore",
    "TimerKey",
    "Transmit",
    "stamp_via",
]

log = logging.getLogger(__name__)

#: What this core implements: no registrar, no INFO/UPDATE yet (they get 501 with Allow).
CORE_POLICY = UasPolicy(methods=frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"}))


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


Output: TypeAlias = (
    Transmit | SetTimer | ClearTimer | IncomingCall | CallEvent | ResponseReceived | RequestFailed
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
    ok: Response | None = None
    dialog: Dialog | None = None
    interval: float = 0.0
    acked: bool = False


@dataclass
class _Client:
    tx: ClientTransaction
    peer: Peer
    key: tuple[str, str] = field(default=("", ""))


class SipCore:
    """Transaction tables, stateless answers, CANCEL, OPTIONS and a minimal UAS.

    ``contact`` is the URI we put in Contact (``sip:trunkline@192.0.2.1:5060``); ``via_host``
    and ``via_port`` the sent-by of requests we send; ``token()`` returns a fresh random
    token (tags and branches).
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
    ) -> None:
        self.contact = contact
        self.via_host = via_host
        self.via_port = via_port
        self.token = token
        self.timers = timers
        self.policy = policy
        self.symmetric = symmetric
        self.user_agent = user_agent
        self.servers: dict[tuple[str, ...], ServerTransaction] = {}
        self._server_peer: dict[tuple[str, ...], Peer] = {}
        self._merge: dict[tuple[str, str, int, str], tuple[str, ...]] = {}
        self.clients: dict[tuple[str, str], _Client] = {}
        self.calls: dict[tuple[str, ...], _Call] = {}
        self.dialogs: dict[DialogId, _Call] = {}
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
        """A stateless answer for a message the parser refused (or nothing: drop)."""
        response = response_for_error(exc, to_tag=self.token())
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
        if request.method == "CANCEL":
            return self._on_cancel(request, key, peer, now)
        if request.method == "OPTIONS":
            headers = (("Allow", self._allow), ("Accept", "application/sdp"))
            return self._reply(request, key, peer, now, 200, None, headers)
        if request.method == "BYE":
            return self._on_bye(request, key, peer, now)
        # INVITE
        if request.max_forwards == 0:
            # An INVITE may be bridged onward (B2BUA): refuse a request with no hops left,
            # as a proxy would (§16.3). OPTIONS with 0 is answered (§11, RFC 4475 §3.3.11).
            return self._reply(request, key, peer, now, 483, None)
        if request.to.tag is not None:
            if dialog_id(request, local_is_from=False) not in self.dialogs:
                # §12.2.2: a mid-dialog request for a dialog we do not have.
                return self._reply(request, key, peer, now, 481, None)
            # Re-INVITE (hold, codec change) is not handled by this core yet.
            return self._reply(request, key, peer, now, 488, None)
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
    ) -> list[Output]:
        """Answer a new request statefully: a server transaction absorbs retransmissions."""
        tx, out = self._new_server(request, key, peer, now)
        response = make_response(
            request, status, reason, to_tag=self.token(), headers=self._extra(headers)
        )
        out += self._server_actions(key, tx.respond(response, now), now)
        return out

    def _extra(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [*headers, ("Server", self.user_agent)]

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
        contact = self.contact
        if call.peer.transport == "TCP":
            contact += ";transport=tcp"
        headers = [
            ("Contact", f"<{contact}>"),
            ("Allow", self._allow),
            ("Content-Type", "application/sdp"),
            *decision.headers,
        ]
        ok = make_response(
            call.invite, 200, to_tag=call.tag, headers=self._extra(headers), body=decision.sdp
        )
        call.ok = ok
        call.dialog = Dialog.as_uas(_with_contact(call.invite), ok)
        self.dialogs[call.dialog.id] = call
        del self.calls[key]
        out = self._server_actions(key, tx.respond(ok, now), now)
        # §13.3.1.4: the UAS core retransmits its 2xx (G: T1 doubling to T2) until the ACK,
        # and gives up after 64*T1 (H). RFC 6026: they go through the Accepted transaction
        # while it lives, straight to the transport after.
        call.interval = self.timers.t1
        owner = ("2xx", *_dialog_owner(call.dialog.id))
        out.append(SetTimer(TimerKey(owner, "G"), now + call.interval))
        out.append(SetTimer(TimerKey(owner, "H"), now + 64 * self.timers.t1))
        return out

    def _on_dialog_ack(self, ack: Request) -> list[Output]:
        call = self.dialogs.get(dialog_id(ack, local_is_from=False))
        if call is None or call.dialog is None or call.acked:
            log.debug("ACK matches no unacknowledged 2xx; absorbed")
            return []
        call.acked = True
        owner = ("2xx", *_dialog_owner(call.dialog.id))
        return [
            ClearTimer(TimerKey(owner, "G")),
            ClearTimer(TimerKey(owner, "H")),
            CallEvent("confirmed", ack.call_id),
        ]

    def _on_bye(self, bye: Request, key: tuple[str, ...], peer: Peer, now: float) -> list[Output]:
        call = self.dialogs.get(dialog_id(bye, local_is_from=False))
        if call is None or call.dialog is None:
            return self._reply(bye, key, peer, now, 481, None)
        status = call.dialog.receive_request(bye)
        if status is not None:
            return self._reply(bye, key, peer, now, status, None)
        out = self._reply(bye, key, peer, now, 200, None)
        out += self._forget(call)
        out.append(CallEvent("ended", bye.call_id))
        return out

    def _forget(self, call: _Call) -> list[Output]:
        assert call.dialog is not None
        self.dialogs.pop(call.dialog.id, None)
        owner = ("2xx", *_dialog_owner(call.dialog.id))
        if call.acked:
            return []
        return [ClearTimer(TimerKey(owner, "G")), ClearTimer(TimerKey(owner, "H"))]

    # ------------------------------------------------------------------ responses

    def _on_response(self, response: Response, now: float) -> list[Output]:
        if not check_response(response):
            log.info("dropped a response with %d Via values", len(response.vias))
            return []
        client = self.clients.get(client_key(response))
        if client is None:
            log.debug("response %s matches no transaction; dropped", response.status)
            return []
        return self._client_actions(client, client.tx.receive(response, now))

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
        return self._client_actions(client, tx.start(now))

    def hangup(self, call_id: str, now: float) -> list[Output]:
        """Send BYE on the dialog of ``call_id`` (our side ends the call)."""
        call = next((c for c in self.dialogs.values() if c.invite.call_id == call_id), None)
        if call is None or call.dialog is None:
            return []
        return self._bye(call, now)

    def _bye(self, call: _Call, now: float) -> list[Output]:
        assert call.dialog is not None
        bye = call.dialog.create_request(
            "BYE", via=self.new_via(call.peer.transport), headers=self._extra(())
        )
        out = self._forget(call)
        return out + self.send_request(bye, call.peer, now)

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
                client, client.tx.timer_fired(TimerFired(Timer(key.name)), now)
            )
        if kind == "2xx":
            return self._two_hundred_timer(key, now)
        raise LocalProtocolError(f"unknown timer owner {key.owner!r}")

    def _two_hundred_timer(self, key: TimerKey, now: float) -> list[Output]:
        call = self.dialogs.get(DialogId(*key.owner[1:]))
        if call is None or call.acked or call.ok is None:
            return []
        if key.name == "H":
            log.info("no ACK for the 2xx of %s: ending the call", call.invite.call_id)
            out: list[Output] = [CallEvent("no-ack", call.invite.call_id)]
            return out + self._bye(call, now)
        out = []
        tx = self.servers.get(call.key)
        if isinstance(tx, InviteServerTransaction) and tx.state is State.ACCEPTED:
            out += self._server_actions(call.key, tx.respond(call.ok, now), now)
        else:
            out.append(
                Transmit(call.ok, response_peer(call.ok, call.peer, symmetric=self.symmetric))
            )
        call.interval = min(2 * call.interval, self.timers.t2)
        out.append(SetTimer(key, now + call.interval))
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

    def _client_actions(self, client: _Client, actions: list[Action]) -> list[Output]:
        out: list[Output] = []
        owner = ("client", *client.key)
        request = client.tx.request
        for action in actions:
            if isinstance(action, SendMessage):
                out.append(Transmit(action.message, client.peer))
            elif isinstance(action, StartTimer):
                out.append(SetTimer(TimerKey(owner, action.name.value), action.at))
            elif isinstance(action, CancelTimer):
                out.append(ClearTimer(TimerKey(owner, action.name.value)))
            elif isinstance(action, PassToTU):
                assert isinstance(action.message, Response)
                out.append(ResponseReceived(request, action.message))
            elif isinstance(action, TransactionTimeout):
                out.append(RequestFailed(request, "timeout"))
            elif isinstance(action, TransportFailure):
                out.append(RequestFailed(request, "transport"))
            elif isinstance(action, Terminated):
                self.clients.pop(client.key, None)
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
                out += self._client_actions(client, client.tx.transport_error(now))
        return out


def _with_contact(invite: Request) -> Request:
    """The INVITE itself, or for an RFC 2543 peer that sent no Contact a copy whose Contact
    is the From address (RFC 2543 §6.13: requests then go to the From address)."""
    if invite.contacts:
        return invite
    headers = invite.headers.copy()
    headers.add("Contact", f"<{invite.from_.uri}>")
    return Request(headers, invite.body, invite.method, invite.uri)


def _can_fail(tx: ServerTransaction | ClientTransaction) -> bool:
    return (tx.state, Input.TRANSPORT_ERROR) in tx.TABLE


def _dialog_owner(did: DialogId) -> tuple[str, str, str]:
    return (did.call_id, did.local_tag, did.remote_tag)
