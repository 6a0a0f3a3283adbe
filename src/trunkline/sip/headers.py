"""SIP header fields: the ordered multi-map and the typed values (RFC 3261 §7.3, §20, §25).

Names are canonicalised on the way in (compact forms such as ``v`` and ``i`` become ``Via``
and ``Call-ID``; known names get their usual spelling); values are kept as received after
unfolding. Typed values (:class:`Via`, :class:`NameAddr`, :class:`CSeq`) are parsed from
them on demand and serialise back with ``str()``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from trunkline.sip.errors import LocalProtocolError, RemoteProtocolError
from trunkline.sip.uri import Params, Uri, param_value, parse_uri

__all__ = [
    "MAGIC_COOKIE",
    "CSeq",
    "Headers",
    "NameAddr",
    "Via",
    "canonical_name",
    "parse_cseq",
    "parse_name_addr",
    "parse_name_addrs",
    "parse_params",
    "parse_via",
    "split_commas",
]

#: RFC 3261 §8.1.1.7: branches of RFC 3261 peers start with this.
MAGIC_COOKIE = "z9hG4bK"

_COMPACT = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
_KNOWN = [
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Error-Info",
    "Expires",
    "From",
    "In-Reply-To",
    "Max-Forwards",
    "Min-Expires",
    "MIME-Version",
    "Organization",
    "Priority",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "Reason",
    "Record-Route",
    "Reply-To",
    "Require",
    "Retry-After",
    "Route",
    "RSeq",
    "RAck",
    "Server",
    "Session-Expires",
    "Subject",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
    *_COMPACT.values(),
]
_CANONICAL = {name.lower(): name for name in _KNOWN}
_CANONICAL.update(_COMPACT)
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")


def canonical_name(name: str) -> str:
    """The usual spelling of a header name; compact forms expanded (RFC 3261 §7.3.3)."""
    return _CANONICAL.get(name.lower(), name)


def _checked(name: str, value: str) -> tuple[str, str]:
    """Refuse what would corrupt the message on the wire (header injection)."""
    if not _TOKEN.match(name) or "\r" in value or "\n" in value:
        raise LocalProtocolError(f"refusing header {name[:40]!r}: bad name or CR/LF in value")
    return canonical_name(name), value


class Headers:
    """An ordered multi-map of header fields; lookups ignore case and compact forms.

    Fields added by our code are checked: a name must be a token and a value may not hold
    CR or LF (:class:`LocalProtocolError` otherwise), so untrusted text cannot inject headers.
    """

    __slots__ = ("_cache", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [_checked(n, v) for n, v in items]
        self._cache: dict[str, object] = {}

    @classmethod
    def _trusted(cls, items: list[tuple[str, str]]) -> Headers:
        """Wrap a list whose names are already canonical (the parser's fast path)."""
        self = cls.__new__(cls)
        self._items = items
        self._cache = {}
        return self

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return canonical_name(name) in self._index()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def _index(self) -> dict[str, list[str]]:
        index = self._cache.get("")
        if index is None:
            built: dict[str, list[str]] = {}
            for n, v in self._items:
                got = built.get(n)
                if got is None:
                    built[n] = [v]
                else:
                    got.append(v)
            self._cache[""] = index = built
        return index  # type: ignore[return-value]

    def get(self, name: str) -> str | None:
        """The first value of ``name``, or ``None``."""
        index = self._index()
        got = index.get(name)
        if got is None:
            got = index.get(canonical_name(name))
        return None if got is None else got[0]

    def get_all(self, name: str) -> list[str]:
        """Every field value of ``name``, one per header line, in order."""
        index = self._index()
        got = index.get(name)
        if got is None:
            got = index.get(canonical_name(name), [])
        return list(got)

    def count(self, name: str) -> int:
        """How many header lines carry ``name``."""
        return len(self._index().get(canonical_name(name), ()))

    def values(self, name: str) -> list[str]:
        """Every comma-separated value of ``name`` across all its lines (§7.3.1)."""
        out: list[str] = []
        for line in self.get_all(name):
            out.extend(split_commas(line))
        return out

    def add(self, name: str, value: str) -> None:
        """Append a field."""
        self._cache.clear()
        self._items.append(_checked(name, value))

    def set(self, name: str, value: str) -> None:
        """Replace every field called ``name`` by one (at the first one's place)."""
        self._cache.clear()
        key, value = _checked(name, value)
        out: list[tuple[str, str]] = []
        placed = False
        for n, v in self._items:
            if n != key:
                out.append((n, v))
            elif not placed:
                out.append((key, value))
                placed = True
        if not placed:
            out.append((key, value))
        self._items = out

    def prepend(self, name: str, value: str) -> None:
        """Insert a field before all others (a new top Via)."""
        self._cache.clear()
        self._items.insert(0, _checked(name, value))

    def remove(self, name: str) -> None:
        """Remove every field called ``name``."""
        self._cache.clear()
        key = canonical_name(name)
        self._items = [(n, v) for n, v in self._items if n != key]

    def copy(self) -> Headers:
        """An independent copy."""
        return Headers._trusted(list(self._items))


def split_commas(value: str) -> list[str]:
    """Split a header value at top-level commas, respecting quotes and <angle brackets>.

    Elements are stripped; an empty element raises :class:`RemoteProtocolError` (400).
    """
    if "," not in value:
        parts = [value]  # quotes are checked by the element's own parser
    elif '"' not in value and "<" not in value:
        parts = value.split(",")
    else:
        parts = []
        start = 0
        quoted = angled = False
        i, n = 0, len(value)
        while i < n:
            ch = value[i]
            if quoted:
                if ch == "\\":
                    i += 1
                elif ch == '"':
                    quoted = False
            elif ch == '"':
                quoted = True
            elif ch == "<":
                angled = True
            elif ch == ">":
                angled = False
            elif ch == "," and not angled:
                parts.append(value[start:i])
                start = i + 1
            i += 1
        if quoted:
            raise RemoteProtocolError(f"unterminated quoted string: {value[:80]!r}")
        parts.append(value[start:])
    out = [p.strip() for p in parts]
    if any(not p for p in out):
        raise RemoteProtocolError(f"empty list element: {value[:80]!r}")
    return out


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)


def _quoted_end(text: str, start: int) -> int:
    """Index just past the quoted string opening at ``text[start] == '"'``."""
    m = _QUOTED.match(text, start)
    if m is None:
        raise RemoteProtocolError(f"unterminated quoted string: {text[:80]!r}")
    return m.end()


def _unquote(quoted: str) -> str:
    inner = quoted[1:-1]
    if "\\" not in inner:
        return inner
    return re.sub(r"\\(.)", r"\1", inner, flags=re.S)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_PARAM = re.compile(r"\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*(?:=\s*(\S(?:.*\S)?))?\s*\Z", re.S)
# gen-value = token / host / quoted-string; ':' also admits unbracketed IPv6 in received=.
_GEN_VALUE = re.compile(r"(?:[A-Za-z0-9\-.!%*_+`'~:]+|\[[0-9A-Fa-f:.]+\])\Z")


_PARAMS_FAST = re.compile(r"(?:;[A-Za-z0-9\-.!%*_+`'~]+(?:=[A-Za-z0-9\-.!%*_+`'~:]+)?)+\Z")


def parse_params(text: str) -> Params:
    """Parse ``*( SEMI generic-param )`` (§25.1), LWS allowed around ``;`` and ``=``."""
    if _PARAMS_FAST.match(text):  # the common case: no LWS, no quotes, no brackets
        out: list[tuple[str, str | None]] = []
        for piece in text[1:].split(";"):
            name, eq, value = piece.partition("=")
            out.append((name, value if eq else None))
        return tuple(out)
    text = text.strip()
    if not text:
        return ()
    if text[0] != ";":
        raise RemoteProtocolError(f"expected ';' before parameters: {text[:80]!r}")
    pieces: list[str] = []
    if '"' in text:
        start, i, n = 1, 1, len(text)
        while i < n:
            if text[i] == '"':
                i = _quoted_end(text, i)
                continue
            if text[i] == ";":
                pieces.append(text[start:i])
                start = i + 1
            i += 1
        pieces.append(text[start:])
    else:
        pieces = text[1:].split(";")
    out = []
    for piece in pieces:
        m = _PARAM.match(piece)
        if m is None:
            raise RemoteProtocolError(f"malformed parameter {piece[:80]!r}")
        name, value = m.group(1), m.group(2)
        if (
            value is not None
            and not _GEN_VALUE.match(value)
            and not (value[0] == '"' and _quoted_end(value, 0) == len(value))
        ):
            raise RemoteProtocolError(f"malformed parameter value {value[:80]!r}")
        out.append((name, value))
    return tuple(out)


def _params_str(params: Params) -> str:
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


@dataclass(frozen=True, slots=True)
class NameAddr:
    """``[display-name] <uri> *(;param)`` or ``addr-spec *(;param)`` (From, To, Contact ...)."""

    uri: Uri
    display_name: str | None = None
    params: Params = ()

    def __str__(self) -> str:
        head = f"<{self.uri}>"
        if self.display_name is not None:
            head = f"{_quote(self.display_name)} {head}"
        return head + _params_str(self.params)

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (From/To)."""
        return param_value(self.params, "tag")

    def param(self, name: str) -> str | None:
        """A header parameter by name (``""`` for a flag)."""
        return param_value(self.params, name)

    def with_tag(self, tag: str) -> NameAddr:
        """A copy whose ``tag`` is ``tag``."""
        kept = tuple(p for p in self.params if p[0].lower() != "tag")
        return NameAddr(self.uri, self.display_name, (*kept, ("tag", tag)))


_DISPLAY_TOKENS = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+(?:\s+[A-Za-z0-9\-.!%*_+`'~]+)*\Z")


# The common shapes in one match: ``"Quoted" <uri>;params`` and ``token token <uri>;params``.
_NAME_ADDR_FAST = re.compile(
    r'(?:"((?:[^"\\]|\\.)*)"[ \t]*'
    r"|([A-Za-z0-9\-.!%*_+`'~]+(?:[ \t]+[A-Za-z0-9\-.!%*_+`'~]+)*)?[ \t]*)"
    r"<([^<>\s]+)>((?:[ \t]*;.*)?)\Z",
    re.S,
)


def parse_name_addr(text: str) -> NameAddr:
    """Parse one name-addr or addr-spec with its header parameters (§20.10, §25.1)."""
    text = text.strip()
    fast = _NAME_ADDR_FAST.match(text)
    if fast is not None:
        quoted, tokens, uri_text, params_text = fast.groups()
        if quoted is not None:
            name: str | None = _unquote(f'"{quoted}"')
        else:
            name = tokens or None
        return NameAddr(parse_uri(uri_text), name, parse_params(params_text) if params_text else ())
    display: str | None = None
    if text.startswith('"'):
        end = _quoted_end(text, 0)
        display = _unquote(text[:end])
        rest = text[end:].lstrip()
        if not rest.startswith("<"):
            raise RemoteProtocolError(f"expected <URI> after display name: {text[:80]!r}")
        lt = end + (len(text[end:]) - len(rest))
    else:
        lt = text.find("<")
    if lt >= 0:
        if display is None:
            raw_display = text[:lt].strip()
            if raw_display:
                if not _DISPLAY_TOKENS.match(raw_display):
                    raise RemoteProtocolError(f"malformed display name: {raw_display[:80]!r}")
                display = raw_display
        gt = text.find(">", lt)
        if gt < 0:
            raise RemoteProtocolError(f"missing '>': {text[:80]!r}")
        uri = parse_uri(text[lt + 1 : gt])
        params = parse_params(text[gt + 1 :])
    else:
        # addr-spec: the URI may not contain ';', ',' or '?' (§20.10); params follow.
        semi = text.find(";")
        uri_text = text if semi < 0 else text[:semi].rstrip()
        if "?" in uri_text or " " in uri_text or "\t" in uri_text:
            raise RemoteProtocolError(f"URI must be in <> here: {text[:80]!r}")
        uri = parse_uri(uri_text)
        params = () if semi < 0 else parse_params(text[semi:])
    return NameAddr(uri, display, params)


def parse_name_addrs(value: str) -> list[NameAddr]:
    """Parse a comma-separated list of name-addrs (Contact, Route, Record-Route)."""
    return [parse_name_addr(v) for v in split_commas(value)]


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value: ``SIP/2.0/<transport> <host>[:port] *(;param)`` (§20.42)."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    def __str__(self) -> str:
        hostport = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"SIP/2.0/{self.transport} {hostport}{_params_str(self.params)}"

    @property
    def branch(self) -> str | None:
        """The ``branch`` parameter."""
        return param_value(self.params, "branch")

    @property
    def received(self) -> str | None:
        """The ``received`` parameter (§18.2.1)."""
        return param_value(self.params, "received")

    @property
    def rport(self) -> int | bool | None:
        """RFC 3581 ``rport``: ``True`` when present without a value, its value, or ``None``."""
        value = param_value(self.params, "rport")
        if value is None:
            return None
        if value == "":
            return True
        return int(value) if _PORT.match(value) else None

    @property
    def sent_by(self) -> tuple[str, int | None]:
        """``(host, port)`` as written in the sent-by."""
        return (self.host.lower(), self.port)

    def with_params(self, **changes: str | None) -> Via:
        """A copy with parameters set (``None`` makes a flag)."""
        kept = tuple(p for p in self.params if p[0].lower() not in changes)
        return Via(self.transport, self.host, self.port, kept + tuple(changes.items()))


_VIA = re.compile(
    r"\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?)"
    r"(?:\s*:\s*([0-9]{1,5}))?\s*(;.*)?\Z",
    re.S | re.I,
)


def parse_via(value: str) -> list[Via]:
    """Parse a Via header value (possibly several comma-separated vias)."""
    out = []
    for part in split_commas(value):
        m = _VIA.match(part)
        if m is None:
            raise RemoteProtocolError(f"malformed Via: {part[:80]!r}")
        port = None
        if m.group(3) is not None:
            port = int(m.group(3))
            if port > 65535:
                raise RemoteProtocolError(f"Via port out of range: {part[:80]!r}")
        params = parse_params(m.group(4) or "")
        for name, val in params:
            if name.lower() in ("branch", "received", "maddr", "ttl") and not val:
                raise RemoteProtocolError(f"Via parameter {name} needs a value")
        out.append(Via(m.group(1).upper(), m.group(2), port, params))
    return out


@dataclass(frozen=True, slots=True)
class CSeq:
    """``CSeq: <number> <method>`` (§20.16); the number fits 32 bits."""

    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


_PORT = re.compile(r"[0-9]{1,5}\Z")
_CSEQ = re.compile(r"\s*([0-9]{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)\s*\Z")


def parse_cseq(value: str) -> CSeq:
    """Parse a CSeq value; numbers above 2**32-1 are refused (RFC 4475 §3.1.2.4)."""
    m = _CSEQ.match(value)
    if m is None:
        raise RemoteProtocolError(f"malformed CSeq: {value[:80]!r}")
    number = int(m.group(1))
    if number > 0xFFFFFFFF:
        raise RemoteProtocolError(f"CSeq number too large: {value[:80]!r}")
    return CSeq(number, m.group(2))


def is_token(text: str) -> bool:
    """Whether ``text`` is an RFC 3261 token."""
    return _TOKEN.match(text) is not None
