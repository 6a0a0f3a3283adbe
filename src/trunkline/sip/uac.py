"""Outbound calls, pure: what an INVITE we send turns into (RFC 3261 §8.1, §9.1, §13.2, §22.2).

The transaction machinery lives in :mod:`trunkline.sip.core`; this module holds what is
particular to a call we place: the events its owner receives (:class:`Progress`,
:class:`Answered`, :class:`Failed`, :class:`Ended`), the INVITE we build, and the call's own
small state machine, a table like the others::

    CALLING --1xx--> PROCEEDING --2xx--> ANSWERED --BYE--> DONE
       |  ^------401/407--+
       +---final/timeout--+-----------------------------> DONE

(after a challenge the new INVITE starts CALLING again: §9.1 holds a CANCEL until it has
had a provisional response of its own)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, auto
from typing import TYPE_CHECKING, TypeAlias

from trunkline.sip.auth import DigestAuth
from trunkline.sip.dialog import Dialog
from trunkline.sip.errors import LocalProtocolError
from trunkline.sip.headers import Headers, NameAddr, Via
from trunkline.sip.message import Request
from trunkline.sip.uri import parse_uri

if TYPE_CHECKING:
    from trunkline.sip.core import Peer

__all__ = [
    "Answered",
    "Ended",
    "Failed",
    "OutState",
    "Outbound",
    "OutboundEvent",
    "Outgoing",
    "Progress",
    "build_invite",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Progress:
    """The callee is being alerted (180) or sends early media (183 with ``sdp``)."""

    status: int
    sdp: bytes | None = None


@dataclass(frozen=True, slots=True)
class Answered:
    """The callee answered (2xx); ``sdp`` is its answer. We have sent the ACK."""

    sdp: bytes


@dataclass(frozen=True, slots=True)
class Failed:
    """The call did not connect: a final status, or ``None`` for a timeout or lost transport.

    Reported once per call, also after :meth:`~trunkline.sip.core.SipCore.cancel` (487).
    """

    status: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Ended:
    """The answered call ended from the far side (``by="callee"``) or went silent (``"no-ack"``)."""

    by: str


OutboundEvent: TypeAlias = Progress | Answered | Failed | Ended


@dataclass(frozen=True, slots=True)
class Outbound:
    """Output of the core: ``event`` happened to the outbound call ``call_id``."""

    call_id: str
    event: OutboundEvent


class OutState(Enum):
    """Where an outbound call stands."""

    CALLING = auto()
    PROCEEDING = auto()
    ANSWERED = auto()
    DONE = auto()


class OutInput(Enum):
    """What moves an outbound call."""

    PROVISIONAL = auto()
    RETRY = auto()  # a new INVITE with credentials: its own transaction, no response yet
    ANSWER = auto()
    FAIL = auto()
    END = auto()


_S, _I = OutState, OutInput
_TABLE: dict[tuple[OutState, OutInput], OutState] = {
    (_S.CALLING, _I.PROVISIONAL): _S.PROCEEDING,
    (_S.CALLING, _I.RETRY): _S.CALLING,
    (_S.CALLING, _I.ANSWER): _S.ANSWERED,
    (_S.CALLING, _I.FAIL): _S.DONE,
    (_S.CALLING, _I.END): _S.DONE,
    (_S.PROCEEDING, _I.PROVISIONAL): _S.PROCEEDING,
    (_S.PROCEEDING, _I.RETRY): _S.CALLING,
    (_S.PROCEEDING, _I.ANSWER): _S.ANSWERED,
    (_S.PROCEEDING, _I.FAIL): _S.DONE,
    (_S.PROCEEDING, _I.END): _S.DONE,
    (_S.ANSWERED, _I.END): _S.DONE,
    (_S.DONE, _I.END): _S.DONE,
}


class Outgoing:
    """One call we place: its latest INVITE (digest retries replace it) and its dialog."""

    outbound = True

    def __init__(self, call_id: str, invite: Request, peer: Peer, auth: DigestAuth | None) -> None:
        self.call_id = call_id
        self.invite = invite
        self.peer = peer
        self.auth = auth
        self.state = OutState.CALLING
        self.challenged = 0
        self.cancelling = False
        self.cancel_sent = False
        self.dialog: Dialog | None = None
        self.ack: Request | None = None
        self.last_progress: tuple[int, bytes | None] | None = None

    def move(self, event: OutInput) -> None:
        """The one place where the call's state changes."""
        new = _TABLE.get((self.state, event))
        if new is None:
            raise LocalProtocolError(
                f"outbound call: no transition from {self.state.name} on {event.name}"
            )
        if new is not self.state:
            log.debug("outbound %s: %s -> %s", self.call_id, self.state.name, new.name)
            self.state = new

    @property
    def done(self) -> bool:
        """Whether the call is over (its owner has had its last event)."""
        return self.state is OutState.DONE


def build_invite(
    request_uri: str,
    *,
    via: Via,
    call_id: str,
    from_uri: str,
    from_tag: str,
    from_display: str | None,
    to_uri: str,
    contact: str,
    allow: str,
    user_agent: str,
    sdp: bytes,
    headers: Sequence[tuple[str, str]] = (),
) -> Request:
    """A dialog-creating INVITE (§8.1.1) with ``sdp`` as the offer."""
    uri = parse_uri(request_uri)
    from_ = NameAddr(parse_uri(from_uri), from_display, (("tag", from_tag),))
    out = Headers()
    out.add("Via", str(via))
    out.add("Max-Forwards", "70")
    out.add("From", str(from_))
    out.add("To", str(NameAddr(parse_uri(to_uri))))
    out.add("Call-ID", call_id)
    out.add("CSeq", "1 INVITE")
    out.add("Contact", f"<{contact}>")
    out.add("Allow", allow)
    out.add("User-Agent", user_agent)
    for name, value in headers:
        out.add(name, value)
    if sdp:
        out.add("Content-Type", "application/sdp")
    return Request(out, sdp, "INVITE", uri)
