"""RTP data packets (RFC 3550 §5.1) as a small immutable class with ``parse()``/``__bytes__``.

Wire layout of the fixed header::

     0                   1                   2                   3
    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
    |                           timestamp                           |
    |           synchronization source (SSRC) identifier            |
    |            contributing source (CSRC) identifiers ...         |
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from trunkline.errors import TrunklineError

RTP_VERSION = 2
HEADER_SIZE = 12

_HEADER = struct.Struct("!BBHII")
_EXT_HEADER = struct.Struct("!HH")


class RtpError(TrunklineError):
    """An RTP or RTCP packet is malformed (too short, wrong version, bad lengths) or a
    value does not fit its field."""


def _check_range(name: str, value: int, bits: int) -> None:
    if not 0 <= value < (1 << bits):
        raise RtpError(f"{name} {value} does not fit in {bits} bits")


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """A header extension (RFC 3550 §5.3.1): a 16-bit profile word and data whose
    length is a multiple of 4 octets."""

    profile: int
    data: bytes = b""

    def __post_init__(self) -> None:
        _check_range("extension profile", self.profile, 16)
        if len(self.data) % 4:
            raise RtpError(f"extension data of {len(self.data)} octets is not a multiple of 4")
        if len(self.data) // 4 > 0xFFFF:
            raise RtpError("extension data is too long")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet. ``padding`` is the number of padding octets (0 for none, else
    1–255, the last of which holds the count, RFC 3550 §5.1 "P")."""

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0

    def __post_init__(self) -> None:
        _check_range("payload type", self.payload_type, 7)
        _check_range("sequence number", self.sequence_number, 16)
        _check_range("timestamp", self.timestamp, 32)
        _check_range("SSRC", self.ssrc, 32)
        if len(self.csrcs) > 15:
            raise RtpError(f"{len(self.csrcs)} CSRCs; at most 15 fit the CC field")
        for csrc in self.csrcs:
            _check_range("CSRC", csrc, 32)
        if not 0 <= self.padding <= 255:
            raise RtpError(f"padding {self.padding} is outside 0..255")

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one RTP packet; raise :class:`RtpError` when it is malformed."""
        if len(data) < HEADER_SIZE:
            raise RtpError(f"RTP packet of {len(data)} octets is shorter than the 12-octet header")
        first, second, seq, timestamp, ssrc = _HEADER.unpack_from(data)
        version = first >> 6
        if version != RTP_VERSION:
            raise RtpError(f"RTP version {version}, expected 2")
        has_padding = bool(first & 0x20)
        has_extension = bool(first & 0x10)
        cc = first & 0x0F
        offset = HEADER_SIZE + 4 * cc
        if len(data) < offset:
            raise RtpError(f"RTP packet announces {cc} CSRCs but is only {len(data)} octets")
        csrcs = struct.unpack_from(f"!{cc}I", data, HEADER_SIZE) if cc else ()
        extension = None
        if has_extension:
            if len(data) < offset + 4:
                raise RtpError("RTP packet is too short for its header extension")
            profile, words = _EXT_HEADER.unpack_from(data, offset)
            offset += 4
            end = offset + 4 * words
            if len(data) < end:
                raise RtpError(f"RTP header extension of {words} words overruns the packet")
            extension = RtpExtension(profile, bytes(data[offset:end]))
            offset = end
        end = len(data)
        padding = 0
        if has_padding:
            padding = data[-1]
            if padding == 0 or offset + padding > end:
                raise RtpError(f"RTP padding count {padding} is invalid for this packet")
            end -= padding
        return cls(
            payload_type=second & 0x7F,
            sequence_number=seq,
            timestamp=timestamp,
            ssrc=ssrc,
            payload=bytes(data[offset:end]),
            marker=bool(second & 0x80),
            csrcs=tuple(csrcs),
            extension=extension,
            padding=padding,
        )

    def __bytes__(self) -> bytes:
        first = (
            (RTP_VERSION << 6)
            | (0x20 if self.padding else 0)
            | (0x10 if self.extension is not None else 0)
            | len(self.csrcs)
        )
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [
            _HEADER.pack(first, second, self.sequence_number, self.timestamp, self.ssrc),
        ]
        if self.csrcs:
            parts.append(struct.pack(f"!{len(self.csrcs)}I", *self.csrcs))
        if self.extension is not None:
            ext = self.extension
            parts.append(_EXT_HEADER.pack(ext.profile, len(ext.data) // 4))
            parts.append(ext.data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)
