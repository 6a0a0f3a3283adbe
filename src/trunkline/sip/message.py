"""SIP messages: parsing and serialisation (RFC 3261 §7, §18.3, §20).

Two entry points, both pure:

* :func:`parse_datagram` — one message per UDP packet; the body is framed by Content-Length
  when present (trailing octets ignored, RFC 4475 §3.1.1.8), by the packet otherwise.
* :class:`StreamParser` — bytes in as they arrive on a TCP/TLS connection, complete messages
  out, h11 style: ``feed()`` then ``next_event()`` until it returns :data:`NEED_DATA`.

Every refusal is a :class:`~trunkline.sip.errors.RemoteProtocolError` that says whether to
answer (and with which status) or drop. ``bytes(msg)`` serialises with long header names, the
unfolded values as received, and a Content-Length that matches the body, so
``bytes(parse_datagram(bytes(parse_datagram(x)))) == bytes(parse_datagram(x))``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, TypeVar

from trunkline.sip.errors import RemoteProtocolError
from trunkline.sip.headers import (
    CSeq,
    Headers,
    NameAddr,
    Via,
    canonical_name,
    parse_cseq,
    parse_name_addr,
    parse_name_addrs,
    parse_via,
    split_commas,
)
from trunkline.sip.uri import SipUri, Uri, parse_uri

__all__ = [
    "NEED_DATA",
    "REASON_PHRASES",
    "SIP_VERSION",
    "KeepAlive",
    "Message",
    "NeedData",
    "Request",
    "Response",
    "StreamParser",
    "comma_values",
    "make_response",
    "parse_datagram",
    "response_for_error",
]

SIP_VERSION: Final = "SIP/2.0"
#: Largest datagram accepted; larger ones are dropped.
MAX_DATAGRAM: Final = 65535

REASON_PHRASES: Final[dict[int, str]] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}

_T = TypeVar("_T")
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_FOLD = re.compile(r"[ \t]*\r\n[ \t]+")
_DIGITS = re.compile(r"[0-9]{1,10}\Z")
_STATUS = re.compile(r"[0-9]{3}\Z")
_VERSION = re.compile(r"SIP/[0-9]+\.[0-9]+\Z", re.I)
_SINGLE = ("Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Length", "Content-Type")
_CANON: dict[str, str] = {}


def _canon(name: str) -> str:
    # Memoised canonical_name: header names repeat across messages.
    got = _CANON.get(name)
    if got is None:
        if not _TOKEN.match(name):
            raise RemoteProtocolError(f"malformed header name {name[:40]!r}")
        got = canonical_name(name)
        if len(_CANON) < 4096:
            _CANON[name] = got
    return got


@dataclass(eq=True, repr=False)
class Message:
    """Fields common to requests and responses; typed header views are parsed on demand."""

    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def _typed(self, key: str, make: Callable[[], _T]) -> _T:
        cache = self.headers._cache
        if key in cache:
            return cache[key]  # type: ignore[return-value]
        value = make()
        cache[key] = value
        return value

    def _one(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise RemoteProtocolError(f"missing {name} header")
        return value

    @property
    def vias(self) -> list[Via]:
        """Every Via value, top first."""
        return self._typed(
            "Via", lambda: [v for line in self.headers.get_all("Via") for v in parse_via(line)]
        )

    @property
    def via(self) -> Via:
        """The top Via."""
        vias = self.vias
        if not vias:
            raise RemoteProtocolError("missing Via header")
        return vias[0]

    @property
    def from_(self) -> NameAddr:
        """The From header."""
        return self._typed("From", lambda: parse_name_addr(self._one("From")))

    @property
    def to(self) -> NameAddr:
        """The To header."""
        return self._typed("To", lambda: parse_name_addr(self._one("To")))

    @property
    def call_id(self) -> str:
        """The Call-ID."""
        return self._typed("Call-ID", lambda: _check_call_id(self._one("Call-ID")))

    @property
    def cseq(self) -> CSeq:
        """The CSeq."""
        return self._typed("CSeq", lambda: parse_cseq(self._one("CSeq")))

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards, or ``None`` when absent (RFC 2543 peers)."""
        return self._typed("Max-Forwards", lambda: _max_forwards(self.headers.get("Max-Forwards")))

    @property
    def contacts(self) -> list[NameAddr]:
        """Every Contact value (empty for none, and for ``Contact: *``)."""
        return self._typed("Contact", lambda: _contacts(self.headers.get_all("Contact")))

    @property
    def contact_star(self) -> bool:
        """Whether the message carries ``Contact: *`` (REGISTER removing all bindings)."""
        return [v.strip() for v in self.headers.get_all("Contact")] == ["*"]

    @property
    def record_route(self) -> list[NameAddr]:
        """Every Record-Route value, in order."""
        return self._typed(
            "Record-Route",
            lambda: [a for v in self.headers.get_all("Record-Route") for a in parse_name_addrs(v)],
        )

    @property
    def route(self) -> list[NameAddr]:
        """Every Route value, in order."""
        return self._typed(
            "Route", lambda: [a for v in self.headers.get_all("Route") for a in parse_name_addrs(v)]
        )

    @property
    def content_type(self) -> str | None:
        """The media type without parameters, lower-cased (``application/sdp``)."""
        value = self.headers.get("Content-Type")
        return None if value is None else value.split(";", 1)[0].strip().lower()

    def _start_line(self) -> str:
        # Only Request and Response are ever built; each overrides this.
        raise TypeError("a bare Message has no start line")

    def __bytes__(self) -> bytes:
        lines = [self._start_line()]
        length_done = False
        for name, value in self.headers:
            if name == "Content-Length":
                if length_done:
                    continue
                value = str(len(self.body))
                length_done = True
            lines.append(f"{name}: {value}")
        if not length_done:
            lines.append(f"Content-Length: {len(self.body)}")
        lines.append("\r\n")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body


@dataclass(eq=True, repr=False)
class Request(Message):
    """A SIP request."""

    method: str = "OPTIONS"
    uri: Uri = field(default_factory=lambda: SipUri("invalid"))

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


@dataclass(eq=True, repr=False)
class Response(Message):
    """A SIP response."""

    status: int = 200
    reason: str = "OK"

    def _start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """A CRLFCRLF keep-alive ping on a stream (RFC 5626 §3.5.1); answer with one CRLF."""


class NeedData:
    """Sentinel type: the stream parser needs more bytes."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()


def _check_call_id(value: str) -> str:
    if not value or any(c in value for c in " \t"):
        raise RemoteProtocolError(f"malformed Call-ID: {value[:80]!r}")
    return value


def _max_forwards(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not _DIGITS.match(value) or int(value) > 255:
        raise RemoteProtocolError(f"malformed Max-Forwards: {value[:20]!r}")
    return int(value)


def _contacts(lines: list[str]) -> list[NameAddr]:
    if [v.strip() for v in lines] == ["*"]:
        return []
    return [a for v in lines for a in parse_name_addrs(v)]


def _parse_head(head: bytes) -> tuple[str, Headers]:
    """Split a header section into its start line and header fields (§7.3.1)."""
    text = head.decode("utf-8", "surrogateescape")
    crlf = text.count("\r\n")
    if text.count("\r") != crlf or text.count("\n") != crlf:
        raise RemoteProtocolError("bare CR or LF in header section")
    if "\r\n " in text or "\r\n\t" in text:
        text = _FOLD.sub(" ", text)
    lines = text.split("\r\n")
    items: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise RemoteProtocolError(f"header line without ':': {line[:80]!r}")
        items.append((_canon(name.rstrip(" \t")), value.strip(" \t")))
    return lines[0], Headers._trusted(items)


def _content_length(headers: Headers) -> int | None:
    values = headers.get_all("Content-Length")
    if not values:
        return None
    if len(values) > 1:
        raise RemoteProtocolError("more than one Content-Length")
    value = values[0]
    if not _DIGITS.match(value):
        raise RemoteProtocolError(f"malformed Content-Length: {value[:20]!r}")
    return int(value)


def _build(start: str, headers: Headers, body: bytes) -> Request | Response:
    """Check the start line and the headers every layer relies on; build the message."""
    is_response = start.startswith("SIP/")
    try:
        msg: Request | Response = (
            _response(start, headers, body) if is_response else _request(start, headers, body)
        )
        index = headers._index()
        for name in _SINGLE:
            if len(index.get(name, ())) > 1:
                raise RemoteProtocolError(f"more than one {name} header")
        # Parse (and cache) what the transaction and dialog layers read on every message;
        # the same parsers and cache keys as the typed properties, without their indirection.
        cache = headers._cache
        via_lines = index.get("Via")
        if not via_lines:
            raise RemoteProtocolError("missing Via header")
        cache["Via"] = [v for line in via_lines for v in parse_via(line)]
        for name in ("From", "To", "Call-ID", "CSeq"):
            if name not in index:
                raise RemoteProtocolError(f"missing {name} header")
        cache["From"] = parse_name_addr(index["From"][0])
        cache["To"] = parse_name_addr(index["To"][0])
        cache["Call-ID"] = _check_call_id(index["Call-ID"][0])
        cache["CSeq"] = parse_cseq(index["CSeq"][0])
        cache["Contact"] = _contacts(index.get("Contact", []))
        if not is_response:
            max_forwards = index.get("Max-Forwards")
            cache["Max-Forwards"] = _max_forwards(max_forwards[0] if max_forwards else None)
        return msg
    except RemoteProtocolError as exc:
        exc.headers = headers
        if is_response:
            exc.status = None  # a bad response is dropped, never answered (§18.1.2)
        raise


def _request(start: str, headers: Headers, body: bytes) -> Request:
    parts = start.split(" ")
    if len(parts) != 3 or not all(parts):
        raise RemoteProtocolError(f"malformed request line: {start[:80]!r}")
    method, uri_text, version = parts
    if version.upper() != SIP_VERSION:
        if _VERSION.match(version):
            raise RemoteProtocolError(f"unsupported version {version!r}", status=505)
        raise RemoteProtocolError(f"malformed request line: {start[:80]!r}")
    if not _TOKEN.match(method):
        raise RemoteProtocolError(f"malformed method: {method[:40]!r}")
    uri = parse_uri(uri_text)
    if isinstance(uri, SipUri) and uri.headers:
        # §19.1.1: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
        raise RemoteProtocolError("header fields in Request-URI")
    return Request(headers, body, method, uri)


def _response(start: str, headers: Headers, body: bytes) -> Response:
    parts = start.split(" ", 2)
    if len(parts) != 3 or parts[0].upper() != SIP_VERSION:
        raise RemoteProtocolError(f"malformed status line: {start[:80]!r}", status=None)
    code = parts[1]
    if not _STATUS.match(code) or not 100 <= int(code) <= 699:
        raise RemoteProtocolError(f"bad status code: {code[:20]!r}", status=None)
    return Response(headers, body, int(code), parts[2])


def parse_datagram(data: bytes) -> Request | Response:
    """Parse one message from one datagram (RFC 3261 §18.3).

    Raises :class:`RemoteProtocolError`: ``status`` 400/505/513 to answer a request,
    ``None`` to drop (responses, empty packets, oversize packets).
    """
    if len(data) > MAX_DATAGRAM:
        raise RemoteProtocolError("datagram too large", status=None)
    start = 0
    while data.startswith(b"\r\n", start):  # §7.5: ignore CRLFs before the start line
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end >= 0:
        head, rest = data[start:end], data[end + 4 :]
    elif data.endswith(b"\r\n") and len(data) > start:
        # The datagram ends without the empty line; the packet bounds the message.
        head, rest = data[start:-2], b""
    else:
        raise RemoteProtocolError("no complete header section", status=None)
    if not head:
        raise RemoteProtocolError("empty datagram", status=None)
    try:
        start_line, headers = _parse_head(head)
    except RemoteProtocolError as exc:
        if head.startswith(b"SIP/"):
            exc.status = None
        raise
    try:
        length = _content_length(headers)
    except RemoteProtocolError as exc:
        exc.headers = headers
        if head.startswith(b"SIP/"):
            exc.status = None
        raise
    if length is None:
        body = rest
    elif length > len(rest):
        status = None if head.startswith(b"SIP/") else 400
        raise RemoteProtocolError(
            "Content-Length larger than the datagram", status=status, headers=headers
        )
    else:
        body = rest[:length]
    return _build(start_line, headers, body)


class StreamParser:
    """Incremental parser for stream transports (TCP, TLS): bytes in, messages out.

    A :class:`RemoteProtocolError` with ``framing=True`` means message boundaries are lost:
    the connection must be closed, and the parser keeps raising it. Other errors concern one
    complete message, which has been consumed; parsing can go on with the next one.
    """

    def __init__(self, *, max_header_size: int = 16384, max_body_size: int = 1 << 20) -> None:
        self._buf = bytearray()
        self._scan = 0
        self._pending: tuple[str, Headers, int, int] | None = None
        self._error: RemoteProtocolError | None = None
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        if self._error is None:
            self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message."""
        return len(self._buf)

    def _fatal(self, exc: RemoteProtocolError) -> RemoteProtocolError:
        exc.framing = True
        self._error = exc
        self._buf.clear()
        return exc

    def next_event(self) -> Request | Response | KeepAlive | NeedData:
        """The next complete message, a :class:`KeepAlive`, or :data:`NEED_DATA`."""
        if self._error is not None:
            raise self._error
        buf = self._buf
        if self._pending is None:
            if buf.startswith(b"\r\n"):
                if buf.startswith(b"\r\n\r\n"):
                    del buf[:4]
                    self._scan = 0
                    return KeepAlive()
                if len(buf) < 4 and b"\r\n\r\n".startswith(bytes(buf)):
                    return NEED_DATA
                while buf.startswith(b"\r\n"):
                    del buf[:2]
                self._scan = 0
            end = buf.find(b"\r\n\r\n", self._scan)
            if end < 0:
                if len(buf) > self.max_header_size:
                    raise self._fatal(RemoteProtocolError("header section too large", status=513))
                self._scan = max(0, len(buf) - 3)
                return NEED_DATA
            if end > self.max_header_size:
                raise self._fatal(RemoteProtocolError("header section too large", status=513))
            try:
                start_line, headers = _parse_head(bytes(buf[:end]))
                length = _content_length(headers)
                if length is None:
                    raise RemoteProtocolError("Content-Length is required on streams (§18.3)")
            except RemoteProtocolError as exc:
                if buf.startswith(b"SIP/"):
                    exc.status = None
                raise self._fatal(exc) from None
            if length > self.max_body_size:
                raise self._fatal(RemoteProtocolError("body too large", status=513))
            self._pending = (start_line, headers, end + 4, length)
        start_line, headers, body_start, length = self._pending
        if len(buf) < body_start + length:
            return NEED_DATA
        body = bytes(buf[body_start : body_start + length])
        del buf[: body_start + length]
        self._pending = None
        self._scan = 0
        return _build(start_line, headers, body)

    def events(self) -> list[Request | Response | KeepAlive]:
        """Every complete event available now (stops at the first error, which it raises)."""
        out: list[Request | Response | KeepAlive] = []
        while True:
            event = self.next_event()
            if isinstance(event, NeedData):
                return out
            out.append(event)


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """Build a response to ``request`` as a UAS does (RFC 3261 §8.2.6.2).

    Via (all values, in order), From, Call-ID and CSeq are copied; To is copied and gets
    ``to_tag`` when it has none (never for 100). Record-Route is copied into 101–299
    responses, which may establish a dialog (§12.1.1).
    """
    out = Headers()
    for name, value in request.headers:
        if name == "Via":
            out.add(name, value)
    out.add("From", request.headers.get("From") or "")
    to = request.headers.get("To") or ""
    if to_tag is not None and status > 100 and request.to.tag is None:
        to = str(request.to.with_tag(to_tag))
    out.add("To", to)
    out.add("Call-ID", request.headers.get("Call-ID") or "")
    out.add("CSeq", request.headers.get("CSeq") or "")
    if 101 <= status <= 299:
        for value in request.headers.get_all("Record-Route"):
            out.add("Record-Route", value)
    for name, value in headers:
        out.add(name, value)
    return Response(out, body, status, reason or REASON_PHRASES.get(status, ""))


def response_for_error(
    exc: RemoteProtocolError, *, to_tag: str, raw_via: bool = False
) -> Response | None:
    """A stateless error response (400, 505, 513 ...) for a request the parser refused.

    ``None`` when the error says drop, or when the request's Via cannot be read (there is
    nowhere to send an answer) — unless ``raw_via``: the caller sends the answer back to the
    source address rather than by Via, so a Via that does not parse is echoed as received
    (it is only ever copied, never followed). The other identifying fields are copied as
    received, and the To header gets ``to_tag`` when it parses and has none (§8.2.6.2).
    """
    headers = exc.headers
    if exc.status is None or headers is None:
        return None
    vias = headers.get_all("Via")
    if not vias:
        return None
    try:
        parsed = all(parse_via(v) for v in vias)
    except RemoteProtocolError:
        parsed = False
    if not parsed and not (raw_via and sum(len(v) for v in vias) <= 2048):
        return None
    out = Headers()
    for value in vias:
        out.add("Via", value)
    for name in ("From", "To", "Call-ID", "CSeq"):
        found = headers.get(name)
        if found is None:
            continue
        if name == "To":
            with contextlib.suppress(RemoteProtocolError):  # a broken To is echoed as is
                to = parse_name_addr(found)
                if to.tag is None:
                    found = str(to.with_tag(to_tag))
        out.add(name, found)
    reason = REASON_PHRASES.get(exc.status, "Bad Request")
    return Response(out, b"", exc.status, reason)


def comma_values(message: Message, name: str) -> list[str]:
    """Every comma-separated value of header ``name`` (Require, Supported, Allow ...)."""
    return [v for line in message.headers.get_all(name) for v in split_commas(line)]
