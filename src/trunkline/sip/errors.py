"""The SIP layer's exceptions, split the h11 way.

* :class:`RemoteProtocolError` — the peer broke the protocol. It carries what to do about
  it: the status to answer with (``status``), or ``None`` to drop the message silently, and
  whether a stream connection is beyond repair (``framing``).
* :class:`LocalProtocolError` — we (the code driving this layer) broke the protocol, for
  example by asking a transaction for a transition its state machine does not have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trunkline.errors import TrunklineError

if TYPE_CHECKING:
    from trunkline.sip.headers import Headers

__all__ = ["LocalProtocolError", "RemoteProtocolError", "SipError"]


class SipError(TrunklineError):
    """Base of every error raised by :mod:`trunkline.sip`."""


class LocalProtocolError(SipError):
    """Our side tried something the protocol does not allow (a bug in the caller)."""


class RemoteProtocolError(SipError):
    """The peer sent something malformed or unacceptable.

    ``status`` is the response to send (400, 505, 513 ...) or ``None`` when the message must
    be dropped without an answer (responses, garbage). ``framing`` is true when a stream
    transport can no longer find message boundaries and must close the connection.
    ``headers`` holds the header fields parsed before the error, when there were any, so
    that a stateless error response can copy Via, From, To, Call-ID and CSeq.
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = 400,
        framing: bool = False,
        headers: Headers | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.framing = framing
        self.headers = headers

    @property
    def should_answer(self) -> bool:
        """Whether an error response should be sent (otherwise: drop)."""
        return self.status is not None
