"""Dialogs (RFC 3261 §12): identity, route set, CSeq and remote target; in-dialog requests.

A :class:`Dialog` is created from the INVITE and the response that establishes it, on either
side (:meth:`Dialog.as_uac`, :meth:`Dialog.as_uas`). Its state machine is a table like the
transactions': ``EARLY -> CONFIRMED -> TERMINATED``, with one place where state changes.
Randomness (branches) and addresses (our Via) are inputs, so the dialog stays pure.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, auto

from trunkline.sip.errors import LocalProtocolError, RemoteProtocolError
from trunkline.sip.headers import Headers, NameAddr, Via
from trunkline.sip.message import Request, Response
from trunkline.sip.uri import SipUri, Uri

__all__ = ["Dialog", "DialogEvent", "DialogId", "DialogState", "dialog_id"]

log = logging.getLogger(__name__)

#: Requests that refresh the remote target (§12.2: re-INVITE; RFC 3311 UPDATE).
TARGET_REFRESH = frozenset({"INVITE", "UPDATE"})


@dataclass(frozen=True, slots=True)
class DialogId:
    """Call-ID, local tag and remote tag (§12)."""

    call_id: str
    local_tag: str
    remote_tag: str


def dialog_id(message: Request | Response, *, local_is_from: bool) -> DialogId:
    """The dialog a message belongs to, seen from our side.

    ``local_is_from`` is true for requests we sent and responses we received as UAC of the
    dialog-creating request; in general: whether the From tag is ours.
    """
    from_tag = message.from_.tag or ""
    to_tag = message.to.tag or ""
    if local_is_from:
        return DialogId(message.call_id, from_tag, to_tag)
    return DialogId(message.call_id, to_tag, from_tag)


class DialogState(Enum):
    """Dialog states (§12)."""

    EARLY = auto()
    CONFIRMED = auto()
    TERMINATED = auto()


class DialogEvent(Enum):
    """Inputs that move a dialog."""

    PROVISIONAL = auto()  # another 1xx with a To tag
    ACCEPTED = auto()  # 2xx to the INVITE
    REJECTED = auto()  # a non-2xx final response to the INVITE
    BYE = auto()  # BYE sent or received
    TIMEOUT = auto()  # 408/481 to an in-dialog request (§12.2.1.2)


_S, _E = DialogState, DialogEvent
_TABLE: dict[tuple[DialogState, DialogEvent], DialogState] = {
    (_S.EARLY, _E.PROVISIONAL): _S.EARLY,
    (_S.EARLY, _E.ACCEPTED): _S.CONFIRMED,
    (_S.EARLY, _E.REJECTED): _S.TERMINATED,
    (_S.EARLY, _E.BYE): _S.TERMINATED,
    (_S.EARLY, _E.TIMEOUT): _S.TERMINATED,
    (_S.CONFIRMED, _E.ACCEPTED): _S.CONFIRMED,  # a retransmitted 2xx
    (_S.CONFIRMED, _E.BYE): _S.TERMINATED,
    (_S.CONFIRMED, _E.TIMEOUT): _S.TERMINATED,
}


def _single_contact(message: Request | Response) -> Uri:
    contacts = message.contacts
    if len(contacts) != 1:
        raise RemoteProtocolError("a dialog-creating message needs exactly one Contact")
    return contacts[0].uri


class Dialog:
    """One dialog, from our side."""

    def __init__(
        self,
        *,
        id: DialogId,
        local: NameAddr,
        remote: NameAddr,
        remote_target: Uri,
        route_set: list[NameAddr],
        local_cseq: int,
        remote_cseq: int | None,
        secure: bool,
        state: DialogState,
    ) -> None:
        self.id = id
        self.local = local
        self.remote = remote
        self.remote_target = remote_target
        self.route_set = route_set
        self.local_cseq = local_cseq
        self.remote_cseq = remote_cseq
        self.secure = secure
        self.state = state

    # Creation (§12.1).
    @classmethod
    def as_uac(cls, invite: Request, response: Response) -> Dialog:
        """The dialog a 1xx (with To tag) or 2xx to our INVITE creates (§12.1.2)."""
        tag = response.to.tag
        if tag is None or not 101 <= response.status <= 299:
            raise RemoteProtocolError("this response does not create a dialog", status=None)
        if invite.from_.tag is None:
            raise LocalProtocolError("our INVITE has no From tag")
        state = DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY
        return cls(
            id=DialogId(invite.call_id, invite.from_.tag, tag),
            local=invite.from_,
            remote=response.to,
            remote_target=_single_contact(response),
            route_set=list(reversed(response.record_route)),
            local_cseq=invite.cseq.number,
            remote_cseq=None,
            secure=isinstance(invite.uri, SipUri) and invite.uri.secure,
            state=state,
        )

    @classmethod
    def as_uas(cls, invite: Request, response: Response) -> Dialog:
        """The dialog our 1xx/2xx to an INVITE creates (§12.1.1); ``response`` has our tag."""
        tag = response.to.tag
        if tag is None or not 101 <= response.status <= 299:
            raise LocalProtocolError("a dialog needs a 101-299 response with a To tag")
        state = DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY
        return cls(
            id=DialogId(invite.call_id, tag, invite.from_.tag or ""),
            local=response.to,
            remote=invite.from_,
            remote_target=_single_contact(invite),
            route_set=list(invite.record_route),
            local_cseq=0,
            remote_cseq=invite.cseq.number,
            secure=isinstance(invite.uri, SipUri) and invite.uri.secure,
            state=state,
        )

    # The state machine.
    def _on(self, event: DialogEvent) -> None:
        """The one place where the dialog's state changes."""
        new = _TABLE.get((self.state, event))
        if new is None:
            raise LocalProtocolError(
                f"dialog: no transition from {self.state.name} on {event.name}"
            )
        if new is not self.state:
            log.debug("dialog %s: %s -> %s", self.id.call_id, self.state.name, new.name)
            self.state = new

    @property
    def terminated(self) -> bool:
        """Whether the dialog is over."""
        return self.state is DialogState.TERMINATED

    # Requests we send (§12.2.1).
    def create_request(
        self,
        method: str,
        *,
        via: Via,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        cseq: int | None = None,
    ) -> Request:
        """An in-dialog request: Request-URI and Route from the route set (§12.2.1.1).

        ``via`` is our Via with a fresh branch. CSeq goes up by one except for ACK and CANCEL,
        which take the INVITE's number (pass it as ``cseq``).
        """
        if self.terminated and method != "ACK":
            raise LocalProtocolError(f"dialog is terminated; cannot send {method}")
        if method in ("ACK", "CANCEL"):
            if cseq is None:
                raise LocalProtocolError(f"{method} needs the INVITE's CSeq number")
            number = cseq
        else:
            self.local_cseq += 1
            number = self.local_cseq
        uri: Uri = self.remote_target
        routes = [str(r) for r in self.route_set]
        if self.route_set:
            first = self.route_set[0].uri
            if not (isinstance(first, SipUri) and first.param("lr") is not None):
                # Strict router (§12.2.1.1): it becomes the Request-URI, the target goes last.
                uri = first
                routes = [str(r) for r in self.route_set[1:]] + [f"<{self.remote_target}>"]
        out = Headers()
        out.add("Via", str(via))
        out.add("Max-Forwards", "70")
        out.add("From", str(self.local))
        out.add("To", str(self.remote))
        out.add("Call-ID", self.id.call_id)
        out.add("CSeq", f"{number} {method}")
        for route in routes:
            out.add("Route", route)
        for name, value in headers:
            out.add(name, value)
        if method == "BYE":
            self._on(DialogEvent.BYE)
        return Request(out, body, method, uri)

    def ack(self, invite_cseq: int, *, via: Via, body: bytes = b"") -> Request:
        """The ACK for a 2xx to our INVITE (§13.2.2.4): its own transaction, same CSeq number."""
        return self.create_request("ACK", via=via, body=body, cseq=invite_cseq)

    # Messages we receive.
    def receive_request(self, request: Request) -> int | None:
        """Apply an in-dialog request (§12.2.2); the status to reject it with, or ``None``.

        A CSeq lower than the last one is out of order (500); a stranger gets 481;
        target-refresh requests update the remote target; BYE terminates the dialog.
        """
        if request.call_id != self.id.call_id or (request.from_.tag or "") != self.id.remote_tag:
            return 481
        number = request.cseq.number
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_cseq is not None and number < self.remote_cseq:
                return 500  # out of order
            self.remote_cseq = number
        if request.method in TARGET_REFRESH and request.contacts:
            self.remote_target = request.contacts[0].uri
        if request.method == "BYE":
            self._on(DialogEvent.BYE)
        return None

    def receive_response(self, request: Request, response: Response) -> None:
        """Apply a response to a request we sent within (or creating) this dialog."""
        if response.status in (408, 481) and self.state is DialogState.CONFIRMED:
            self._on(DialogEvent.TIMEOUT)  # §12.2.1.2: the dialog is gone
            return
        if request.method != "INVITE":
            return
        if response.status < 200:
            if self.state is DialogState.EARLY:
                self._on(DialogEvent.PROVISIONAL)
                if response.contacts:
                    self.remote_target = response.contacts[0].uri
            return
        if response.status < 300:
            if self.state is DialogState.EARLY:
                # §12.1.2: the route set is fixed by the 2xx, not the early response.
                self.route_set = list(reversed(response.record_route))
            self._on(DialogEvent.ACCEPTED)
            if response.contacts:
                self.remote_target = response.contacts[0].uri
        elif self.state is DialogState.EARLY:
            self._on(DialogEvent.REJECTED)
