"""SIP and other URIs (RFC 3261 §19.1, §25.1).

Components are stored exactly as they appeared on the wire, %-escapes included, so that
``str(parse_uri(text)) == text`` and nothing is ever unescaped twice (RFC 4475 §3.1.1.3).
:func:`unescape` and the ``*_unescaped`` helpers give the decoded form for comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trunkline.sip.errors import RemoteProtocolError

__all__ = [
    "AbsoluteUri",
    "Params",
    "SipUri",
    "Uri",
    "escape_user",
    "param_value",
    "parse_uri",
    "unescape",
]

#: ``(name, value)`` pairs in wire order; ``value`` is ``None`` for a flag such as ``;lr``.
Params = tuple[tuple[str, str | None], ...]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*\Z")
# user = 1*( unreserved / escaped / user-unreserved )          (RFC 3261 §25.1)
_USER = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+\Z")
# password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
_PASSWORD = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})*\Z")
_HOSTPORT = re.compile(
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?)(?::([0-9]{1,5}))?\Z"
)
# paramchar = param-unreserved / unreserved / escaped
_PARAMCHARS = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|%[0-9A-Fa-f]{2})+\Z")
# hname / hvalue = 1*/ *( hnv-unreserved / unreserved / escaped )
_HCHARS = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$]|%[0-9A-Fa-f]{2})*\Z")
_OPAQUE = re.compile(r"[!-~]+\Z")
_P = r"(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|%[0-9A-Fa-f]{2})+"
# The common case in one match: sip/sips URI without URI headers. Anything it does not
# match goes through the general path below, which says what is wrong.
_SIP_FAST = re.compile(
    r"[Ss][Ii][Pp][Ss]?:"
    r"(?:((?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+)"
    r"(?::((?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})*))?@)?"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?)"
    r"(?::([0-9]{1,5}))?"
    rf"((?:;{_P}(?:={_P})?)*)\Z"
)
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_USER_SAFE = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()&=+$,;?/"
)


def unescape(text: str) -> str:
    """Decode %HH escapes once (bytes are taken as Latin-1 code points when not UTF-8)."""
    if "%" not in text:
        return text
    raw = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def escape_user(text: str) -> str:
    """Escape a user part for use in a SIP URI (the inverse of :func:`unescape`)."""
    out = []
    for ch in text:
        if ch in _USER_SAFE:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def param_value(params: Params, name: str) -> str | None:
    """The value of the first parameter called ``name`` (case-insensitive); ``""`` for a flag."""
    low = name.lower()
    for key, value in params:
        if key.lower() == low:
            return "" if value is None else value
    return None


@dataclass(frozen=True, slots=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI, components kept as on the wire (escapes included)."""

    host: str
    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts += [":", self.password]
            parts.append("@")
        parts.append(self.host)
        if self.port is not None:
            parts += [":", str(self.port)]
        for name, value in self.params:
            parts += [";", name] if value is None else [";", name, "=", value]
        if self.headers:
            parts += ["?", "&".join(f"{n}={v}" for n, v in self.headers)]
        return "".join(parts)

    @property
    def secure(self) -> bool:
        """Whether this is a ``sips:`` URI."""
        return self.scheme.lower() == "sips"

    @property
    def user_unescaped(self) -> str | None:
        """The user part with %-escapes decoded once."""
        return None if self.user is None else unescape(self.user)

    def param(self, name: str) -> str | None:
        """A URI parameter by name, escapes in the name decoded (``""`` for a flag)."""
        low = name.lower()
        for key, value in self.params:
            if unescape(key).lower() == low:
                return "" if value is None else value
        return None

    def with_params(self, **changes: str | None) -> SipUri:
        """A copy with parameters set (a value of ``None`` makes a flag such as ``lr``)."""
        kept = tuple(p for p in self.params if p[0].lower() not in changes)
        added = tuple((k, v) for k, v in changes.items())
        return SipUri(
            self.host, self.scheme, self.user, self.password, self.port, kept + added, self.headers
        )


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """A URI whose scheme trunkline does not parse further (``tel:``, ``http:``, ``isbn:``)."""

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


Uri = SipUri | AbsoluteUri


def _bad(what: str, text: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"malformed {what}: {text[:80]!r}")


def parse_uri(text: str) -> Uri:
    """Parse a URI; ``sip``/``sips`` into :class:`SipUri`, others into :class:`AbsoluteUri`.

    Raises :class:`RemoteProtocolError` (400) on malformed input; whitespace is never part of
    a URI (RFC 4475 §3.1.2.14).
    """
    fast = _SIP_FAST.match(text)
    if fast is not None:
        return _sip_fast(fast, text)
    scheme, sep, rest = text.partition(":")
    if not sep or not _SCHEME.match(scheme):
        raise _bad("URI", text)
    low = scheme.lower()
    if low != "sip" and low != "sips":
        if not _OPAQUE.match(rest):
            raise _bad("URI", text)
        return AbsoluteUri(scheme, rest)
    return _sip_general(scheme, rest, text)


def _port(port_text: str | None, text: str) -> int | None:
    if port_text is None:
        return None
    port = int(port_text)
    if port > 65535:
        raise _bad("URI port", text)
    return port


def _sip_fast(m: re.Match[str], text: str) -> SipUri:
    user, password, host, port_text, ptext = m.groups()
    params: list[tuple[str, str | None]] = []
    if ptext:
        for raw in ptext[1:].split(";"):
            name, eq, value = raw.partition("=")
            params.append((name, value if eq else None))
    scheme = text[: text.index(":")]
    return SipUri(host, scheme, user, password, _port(port_text, text), tuple(params))


def _sip_general(scheme: str, rest: str, text: str) -> SipUri:
    user: str | None = None
    password: str | None = None
    at = rest.find("@")
    if at >= 0:
        # '@' cannot occur unescaped after the userinfo, so the first one ends it (§25.1).
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, pw = userinfo.partition(":")
        if not _USER.match(user):
            raise _bad("URI user", text)
        if colon:
            if not _PASSWORD.match(pw):
                raise _bad("URI password", text)
            password = pw
    rest, qmark, hpart = rest.partition("?")
    hostport, *raw_params = rest.split(";")
    m = _HOSTPORT.match(hostport)
    if m is None:
        raise _bad("URI host", text)
    host, port = m.group(1), _port(m.group(2), text)
    params: list[tuple[str, str | None]] = []
    for raw in raw_params:
        name, eq, value = raw.partition("=")
        if not _PARAMCHARS.match(name) or (eq and not _PARAMCHARS.match(value)):
            raise _bad("URI parameter", text)
        params.append((name, value if eq else None))
    headers: list[tuple[str, str]] = []
    if qmark:
        for raw in hpart.split("&"):
            name, eq, value = raw.partition("=")
            if not eq or not name or not _HCHARS.match(name) or not _HCHARS.match(value):
                raise _bad("URI header", text)
            headers.append((name, value))
    return SipUri(host, scheme, user, password, port, tuple(params), tuple(headers))
