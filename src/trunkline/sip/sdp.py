"""SDP for audio calls: RFC 4566 parse/serialise and RFC 3264 offer/answer.

trunkline speaks G.711 (PCMU 0, PCMA 8) and RFC 4733 telephone-event (dynamic payload type).
:class:`AudioSession` is one side of one call's media negotiation: it makes offers (including
hold and resume re-offers), answers the peer's offers, and turns each exchange into a
:class:`NegotiatedAudio` the media layer can act on. Failures raise :class:`SdpError`, whose
``status`` is the SIP response to send (400 for a malformed body, 488 when nothing is common).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from enum import StrEnum

from trunkline.sip.errors import RemoteProtocolError

__all__ = [
    "PCMA",
    "PCMU",
    "TELEPHONE_EVENT",
    "AudioConfig",
    "AudioSession",
    "Codec",
    "Connection",
    "Direction",
    "Media",
    "NegotiatedAudio",
    "Origin",
    "SdpError",
    "SessionDescription",
    "parse_sdp",
]


class SdpError(RemoteProtocolError):
    """A malformed SDP body (status 400) or an offer/answer that cannot work (488)."""


# --------------------------------------------------------------------------- RFC 4566 model


@dataclass(slots=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> IN IP4 <address>``."""

    username: str
    session_id: str
    version: int
    nettype: str
    addrtype: str
    address: str

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=IN IP4 <address>``."""

    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"

    @property
    def is_hold(self) -> bool:
        """RFC 2543-style hold: an unspecified address (RFC 3264 §8.4)."""
        return self.address in ("0.0.0.0", "::")


Attribute = tuple[str, str | None]


@dataclass(slots=True)
class Media:
    """One ``m=`` section with its ``c=``, ``a=`` and other lines."""

    media: str
    port: int
    proto: str
    formats: list[str]
    connection: Connection | None = None
    attributes: list[Attribute] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)  # i=, b=, k= lines
    port_count: int | None = None

    def attribute(self, name: str) -> str | None:
        """The first value of ``a=name`` (``""`` for a flag), or ``None``."""
        for key, value in self.attributes:
            if key == name:
                return "" if value is None else value
        return None

    def rtpmap(self) -> dict[str, tuple[str, int]]:
        """Payload type -> (encoding name, clock rate) from ``a=rtpmap`` lines."""
        out: dict[str, tuple[str, int]] = {}
        for key, value in self.attributes:
            if key == "rtpmap" and value:
                pt, _, enc = value.partition(" ")
                name, _, rest = enc.strip().partition("/")
                rate = rest.partition("/")[0]
                if _number(rate, 9):
                    out[pt] = (name, int(rate))
        return out

    def direction(self) -> Direction | None:
        """The media-level direction attribute, if any."""
        for key, _ in self.attributes:
            if key in Direction.__members__.values():
                return Direction(key)
        return None


@dataclass(slots=True)
class SessionDescription:
    """A session description (RFC 4566 §5)."""

    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    timing: list[str] = field(default_factory=lambda: ["0 0"])
    attributes: list[Attribute] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)  # i= u= e= p= b= z= k= r=

    def __str__(self) -> str:
        lines = ["v=0", f"o={self.origin}", f"s={self.session_name}"]
        before_c = [(k, v) for k, v in self.other if k in "iuep"]
        after_c = [(k, v) for k, v in self.other if k not in "iuep"]
        lines += [f"{k}={v}" for k, v in before_c]
        if self.connection is not None:
            lines.append(f"c={self.connection}")
        lines += [f"{k}={v}" for k, v in after_c if k == "b"]
        lines += [f"t={t}" for t in self.timing]
        lines += [f"{k}={v}" for k, v in after_c if k != "b"]
        lines += [_attr(a) for a in self.attributes]
        for m in self.media:
            port = m.port if m.port_count is None else f"{m.port}/{m.port_count}"
            lines.append(f"m={m.media} {port} {m.proto} {' '.join(m.formats)}".rstrip())
            lines += [f"{k}={v}" for k, v in m.other if k == "i"]
            if m.connection is not None:
                lines.append(f"c={m.connection}")
            lines += [f"{k}={v}" for k, v in m.other if k != "i"]
            lines += [_attr(a) for a in m.attributes]
        return "\r\n".join(lines) + "\r\n"

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8")

    def direction_of(self, media: Media) -> Direction:
        """A media section's direction: its own attribute, else the session's, else sendrecv."""
        own = media.direction()
        if own is not None:
            return own
        for key, _ in self.attributes:
            if key in Direction.__members__.values():
                return Direction(key)
        return Direction.SENDRECV

    def connection_of(self, media: Media) -> Connection | None:
        """A media section's connection: its own ``c=``, else the session's."""
        return media.connection or self.connection


def _number(text: str, digits: int) -> bool:
    """Whether ``text`` is 1..``digits`` ASCII digits (``str.isdigit`` admits '²')."""
    return 0 < len(text) <= digits and text.isascii() and text.isdigit()


def _attr(attribute: Attribute) -> str:
    name, value = attribute
    return f"a={name}" if value is None else f"a={name}:{value}"


def _connection(value: str) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise SdpError(f"malformed c= line: {value[:60]!r}")
    nettype, addrtype, address = parts
    return Connection(address.split("/", 1)[0], nettype, addrtype)


def parse_sdp(body: bytes | str) -> SessionDescription:
    """Parse an SDP body (RFC 4566). Raises :class:`SdpError` (400) if malformed."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise SdpError("SDP is not UTF-8") from None
    lines = [line.rstrip("\r") for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    if not lines or lines[0] != "v=0":
        raise SdpError("SDP must start with v=0")
    origin: Origin | None = None
    session_name = None
    connection = None
    timing: list[str] = []
    attributes: list[Attribute] = []
    other: list[tuple[str, str]] = []
    media: list[Media] = []
    for line in lines[1:]:
        if len(line) < 2 or line[1] != "=" or not line[0].islower():
            raise SdpError(f"malformed SDP line: {line[:60]!r}")
        kind, value = line[0], line[2:]
        if kind == "m":
            parts = value.split()
            if len(parts) < 3:
                raise SdpError(f"malformed m= line: {value[:60]!r}")
            port_text, _, count = parts[1].partition("/")
            bad_count = count and not _number(count, 5)
            if not _number(port_text, 5) or int(port_text) > 65535 or bad_count:
                raise SdpError(f"malformed m= port: {value[:60]!r}")
            port_count = int(count) if count else None
            media.append(
                Media(parts[0], int(port_text), parts[2], parts[3:], port_count=port_count)
            )
            continue
        target = media[-1] if media else None
        if kind == "a":
            name, colon, val = value.partition(":")
            attr: Attribute = (name, val if colon else None)
            (target.attributes if target else attributes).append(attr)
        elif kind == "c":
            if target is not None:
                target.connection = _connection(value)
            else:
                connection = _connection(value)
        elif target is not None:
            target.other.append((kind, value))
        elif kind == "o":
            parts = value.split()
            if len(parts) != 6 or not _number(parts[2], 20):
                raise SdpError(f"malformed o= line: {value[:60]!r}")
            origin = Origin(parts[0], parts[1], int(parts[2]), parts[3], parts[4], parts[5])
        elif kind == "s":
            session_name = value
        elif kind == "t":
            timing.append(value)
        else:
            other.append((kind, value))
    if origin is None or session_name is None:
        raise SdpError("SDP without o= or s=")
    sdp = SessionDescription(origin, session_name, connection, timing or ["0 0"], attributes)
    sdp.media, sdp.other = media, other
    return sdp


# --------------------------------------------------------------------------- RFC 3264


@dataclass(frozen=True, slots=True)
class Codec:
    """An RTP payload format by name and clock rate; ``static_pt`` for RFC 3551 static types."""

    name: str
    clock_rate: int = 8000
    static_pt: int | None = None

    def matches(self, name: str, rate: int) -> bool:
        """Whether an rtpmap entry names this codec."""
        return name.lower() == self.name.lower() and rate == self.clock_rate


PCMU = Codec("PCMU", 8000, 0)
PCMA = Codec("PCMA", 8000, 8)
TELEPHONE_EVENT = Codec("telephone-event", 8000, None)
_STATIC = {"0": PCMU, "8": PCMA}


class Direction(StrEnum):
    """Media direction attributes (RFC 3264 §5.1), from the point of view of who writes them."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        """Whether the writer sends media."""
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        """Whether the writer receives media."""
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @staticmethod
    def of(*, sends: bool, receives: bool) -> Direction:
        """The direction for a pair of flags."""
        if sends and receives:
            return Direction.SENDRECV
        if sends:
            return Direction.SENDONLY
        if receives:
            return Direction.RECVONLY
        return Direction.INACTIVE


@dataclass(frozen=True, slots=True)
class AudioConfig:
    """Our side's audio: where we receive RTP and what we can do."""

    address: str
    port: int
    codecs: tuple[Codec, ...] = (PCMU, PCMA)
    dtmf_payload_type: int | None = 101
    ptime: int = 20


@dataclass(frozen=True, slots=True)
class NegotiatedAudio:
    """The outcome of one offer/answer exchange, from our side."""

    codec: Codec
    payload_type: int
    remote_address: str
    remote_port: int
    direction: Direction  # what *we* do: send, receive, both or neither
    dtmf_payload_type: int | None
    ptime: int = 20

    @property
    def on_hold(self) -> bool:
        """Whether media flows neither way or only one way (someone put the call on hold)."""
        return self.direction is not Direction.SENDRECV


def _addrtype(address: str) -> str:
    try:
        return "IP6" if ipaddress.ip_address(address).version == 6 else "IP4"
    except ValueError:
        return "IP4"


class AudioSession:
    """Our side of a call's SDP negotiation (RFC 3264), offers and answers alike.

    ``session_id`` is chosen by the caller (any number; it only has to stay the same for the
    session). The ``o=`` version goes up each time the SDP we send changes (§8).
    """

    def __init__(self, local: AudioConfig, *, session_id: int, username: str = "trunkline") -> None:
        self.local = local
        self.origin = Origin(
            username, str(session_id), 0, "IN", _addrtype(local.address), local.address
        )
        self._last_key: str | None = None
        self._offer: SessionDescription | None = None
        self.current: NegotiatedAudio | None = None

    # Building our SDP.
    def _describe(self, media: list[Media]) -> SessionDescription:
        conn = Connection(self.local.address, "IN", _addrtype(self.local.address))
        sdp = SessionDescription(replace(self.origin), "-", conn)
        sdp.media = media
        key = "\n".join(line for line in str(sdp).split("\r\n") if not line.startswith("o="))
        if self._last_key is not None and key != self._last_key:
            self.origin.version += 1  # §8: a changed session description gets a new version
            sdp.origin = replace(self.origin)
        self._last_key = key
        return sdp

    def _audio(
        self, pairs: list[tuple[int, Codec]], dtmf: int | None, direction: Direction
    ) -> Media:
        formats = [str(pt) for pt, _ in pairs]
        attrs: list[Attribute] = []
        for pt, codec in pairs:
            attrs.append(("rtpmap", f"{pt} {codec.name}/{codec.clock_rate}"))
        if dtmf is not None:
            formats.append(str(dtmf))
            attrs.append(("rtpmap", f"{dtmf} {TELEPHONE_EVENT.name}/8000"))
            attrs.append(("fmtp", f"{dtmf} 0-16"))
        attrs.append(("ptime", str(self.local.ptime)))
        attrs.append((str(direction), None))
        return Media("audio", self.local.port, "RTP/AVP", formats, attributes=attrs)

    def create_offer(self, direction: Direction = Direction.SENDRECV) -> SessionDescription:
        """An offer (initial or re-offer) with every codec we support."""
        pairs = [(pt, c) for c in self.local.codecs if (pt := c.static_pt) is not None]
        offer = self._describe([self._audio(pairs, self.local.dtmf_payload_type, direction)])
        self._offer = offer
        return offer

    def hold(self) -> SessionDescription:
        """A re-offer putting the peer on hold (sendonly, RFC 3264 §8.4)."""
        return self.create_offer(Direction.SENDONLY)

    def resume(self) -> SessionDescription:
        """A re-offer taking the call off hold."""
        return self.create_offer(Direction.SENDRECV)

    # Reading theirs.
    def receive_answer(self, answer: SessionDescription) -> NegotiatedAudio:
        """Apply the answer to our last offer."""
        offer = self._offer
        if offer is None:
            raise SdpError("an answer without an offer", status=400)
        if len(answer.media) != len(offer.media):
            raise SdpError("answer and offer have different m= lines", status=488)
        self._offer = None
        ours = offer.media[0]
        theirs = answer.media[0]
        if theirs.port == 0 or theirs.media != "audio":
            raise SdpError("audio stream refused", status=488)
        pick = self._pick(theirs, offered=ours)
        if pick is None:
            raise SdpError("answer has no codec we offered", status=488)
        pt, codec = pick
        dtmf = self._dtmf(theirs)
        if dtmf is not None and str(dtmf) not in ours.formats:
            dtmf = None
        self.current = self._negotiated(answer, theirs, codec, pt, dtmf, offer.direction_of(ours))
        return self.current

    def receive_offer(
        self, offer: SessionDescription, direction: Direction = Direction.SENDRECV
    ) -> tuple[SessionDescription, NegotiatedAudio]:
        """Answer the peer's offer (initial or re-offer); ``direction`` is what we want."""
        chosen: tuple[int, Media, int, Codec] | None = None
        for index, media in enumerate(offer.media):
            if chosen is None and media.media == "audio" and media.port != 0:
                if media.proto.upper() not in ("RTP/AVP", "RTP/AVPF"):
                    continue
                pick = self._pick(media, offered=None)
                if pick is not None:
                    chosen = (index, media, *pick)
        if chosen is None:
            raise SdpError("no common audio codec", status=488)
        index, media, pt, codec = chosen
        dtmf = self._dtmf(media) if self.local.dtmf_payload_type is not None else None
        negotiated = self._negotiated(offer, media, codec, pt, dtmf, direction)
        answer_media: list[Media] = []
        for i, m in enumerate(offer.media):
            if i == index:
                answer_media.append(self._audio([(pt, codec)], dtmf, negotiated.direction))
            else:  # §6: every m= line is answered; the ones we refuse get port 0
                answer_media.append(Media(m.media, 0, m.proto, m.formats[:1] or ["0"]))
        self.current = negotiated
        return self._describe(answer_media), negotiated

    def _pick(self, media: Media, *, offered: Media | None) -> tuple[int, Codec] | None:
        """The first format in ``media`` (the offerer's order) that we support."""
        rtpmap = media.rtpmap()
        for fmt in media.formats:
            if not _number(fmt, 3) or int(fmt) > 127:
                continue  # not an RTP payload type
            if offered is not None and fmt not in offered.formats:
                continue
            entry = rtpmap.get(fmt)
            for codec in self.local.codecs:
                if entry is not None and codec.matches(*entry):
                    return int(fmt), codec
                if entry is None and _STATIC.get(fmt) == codec:
                    return int(fmt), codec
        return None

    @staticmethod
    def _dtmf(media: Media) -> int | None:
        for pt, entry in media.rtpmap().items():
            if TELEPHONE_EVENT.matches(*entry) and pt in media.formats and _number(pt, 3):
                return int(pt)
        return None

    def _negotiated(
        self,
        sdp: SessionDescription,
        media: Media,
        codec: Codec,
        pt: int,
        dtmf: int | None,
        wanted: Direction,
    ) -> NegotiatedAudio:
        conn = sdp.connection_of(media)
        if conn is None:
            raise SdpError("no c= line for the audio stream", status=400)
        theirs = sdp.direction_of(media)
        # RFC 3264 §8.4: c=0.0.0.0 is the old way of saying "do not send to me".
        they_receive = theirs.receives and not conn.is_hold
        # Offering or answering alike, the other side can only narrow what we want.
        sends = wanted.sends and they_receive
        receives = wanted.receives and theirs.sends
        ptime_text = media.attribute("ptime")
        ptime = int(ptime_text) if ptime_text and _number(ptime_text, 4) else self.local.ptime
        return NegotiatedAudio(
            codec,
            pt,
            conn.address,
            media.port,
            Direction.of(sends=sends, receives=receives),
            dtmf,
            ptime,
        )
