"""What a user agent checks after a message parses (RFC 3261 §8.1.3.3, §8.2).

The parser only refuses what is malformed. Whether a well-formed request is acceptable to
*this* endpoint (method, URI scheme, extensions, body type) is decided here, in the order of
§8.2, as data: :func:`check_request` returns the :class:`Rejection` to send, or ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass

from trunkline.sip.errors import RemoteProtocolError
from trunkline.sip.message import Request, Response, comma_values

__all__ = ["DEFAULT_POLICY", "Rejection", "UasPolicy", "check_request", "check_response"]


@dataclass(frozen=True, slots=True)
class UasPolicy:
    """What this endpoint supports."""

    methods: frozenset[str] = frozenset(
        {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "UPDATE"}
    )
    uri_schemes: frozenset[str] = frozenset({"sip", "sips"})
    extensions: frozenset[str] = frozenset()
    content_types: frozenset[str] = frozenset({"application/sdp"})


DEFAULT_POLICY = UasPolicy()


@dataclass(frozen=True, slots=True)
class Rejection:
    """A response to send instead of processing the request."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


def _accepts_sdp(values: list[str]) -> bool:
    for value in values:
        media = value.split(";", 1)[0].strip().lower()
        if media in ("application/sdp", "application/*", "*/*"):
            return True
    return False


def check_request(request: Request, policy: UasPolicy = DEFAULT_POLICY) -> Rejection | None:
    """Decide whether a UAS can process ``request`` (RFC 3261 §8.2.1–§8.2.3)."""
    allow = (("Allow", ", ".join(sorted(policy.methods))),)
    try:
        # §8.2.1: method inspection.
        if request.method not in policy.methods:
            return Rejection(501, "Not Implemented", allow)
        # §8.1.1.5: the CSeq method matches the request method (RFC 4475 §3.1.2.17).
        if request.cseq.method != request.method:
            return Rejection(400, "CSeq method does not match the request method")
        # §8.2.2.1: Request-URI scheme.
        if request.uri.scheme.lower() not in policy.uri_schemes:
            return Rejection(416, "Unsupported URI Scheme")
        # §8.2.2.3: Require (not for ACK or CANCEL).
        if request.method not in ("ACK", "CANCEL"):
            unknown = [t for t in comma_values(request, "Require") if t not in policy.extensions]
            if unknown:
                return Rejection(420, "Bad Extension", (("Unsupported", ", ".join(unknown)),))
        # §8.2.3: content processing.
        if request.body:
            ctype = request.content_type
            encodings = comma_values(request, "Content-Encoding")
            if ctype not in policy.content_types or any(e.lower() != "identity" for e in encodings):
                accept = ", ".join(sorted(policy.content_types))
                return Rejection(415, "Unsupported Media Type", (("Accept", accept),))
        # An INVITE's answer carries SDP: refuse early when Accept excludes it (§21.4.7).
        if (
            request.method == "INVITE"
            and "Accept" in request.headers
            and not _accepts_sdp(comma_values(request, "Accept"))
        ):
            return Rejection(406, "Not Acceptable", (("Accept", "application/sdp"),))
    except RemoteProtocolError as exc:
        return Rejection(exc.status or 400, exc.reason)
    return None


def check_response(response: Response) -> bool:
    """Whether a UAC should process ``response`` (``False``: drop it silently).

    §8.1.3.3: a response with more than one Via is not for a UA; it is discarded (this is
    what keeps RFC 4475 §3.3.10's broadcast Via from ever being used).
    """
    try:
        return len(response.vias) == 1
    except RemoteProtocolError:
        return False
