"""RTCP sender and receiver reports (RFC 3550 §6.4) with ``parse()``/``__bytes__``.

:func:`parse_compound` splits a compound RTCP packet (RFC 3550 §6.1) into its parts; packet
types other than SR and RR come back as :class:`RtcpUnknown` so nothing is silently lost.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from trunkline.rtp.packet import RTP_VERSION, RtpError

PT_SR = 200
PT_RR = 201

_COMMON = struct.Struct("!BBH")
_SENDER_INFO = struct.Struct("!IQIII")  # SSRC, NTP timestamp, RTP timestamp, packets, octets
_BLOCK = struct.Struct("!IIIIII")


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1). ``cumulative_lost`` is a signed
    24-bit count (duplicates can make it negative); ``jitter`` is in timestamp units."""

    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    highest_sequence: int
    jitter: int
    last_sr: int
    delay_since_last_sr: int

    SIZE = _BLOCK.size

    def __post_init__(self) -> None:
        if not 0 <= self.fraction_lost <= 0xFF:
            raise RtpError(f"fraction lost {self.fraction_lost} is outside 0..255")
        if not -(1 << 23) <= self.cumulative_lost < (1 << 23):
            raise RtpError(f"cumulative lost {self.cumulative_lost} does not fit 24 signed bits")
        for name in ("ssrc", "highest_sequence", "jitter", "last_sr", "delay_since_last_sr"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFFFFFFFF:
                raise RtpError(f"{name} {value} does not fit in 32 bits")

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> ReportBlock:
        """Parse the 24-octet block at ``offset``."""
        if len(data) < offset + cls.SIZE:
            raise RtpError("RTCP report block is truncated")
        ssrc, lost, high, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 1 << 24
        return cls(ssrc, lost >> 24, cumulative, high, jitter, lsr, dlsr)

    def __bytes__(self) -> bytes:
        lost = (self.fraction_lost << 24) | (self.cumulative_lost & 0xFFFFFF)
        return _BLOCK.pack(
            self.ssrc,
            lost,
            self.highest_sequence,
            self.jitter,
            self.last_sr,
            self.delay_since_last_sr,
        )


def _header(data: bytes, offset: int) -> tuple[int, int, int, int, int]:
    """Return (count, packet type, start of body, end of body without padding, next offset)."""
    if len(data) < offset + _COMMON.size:
        raise RtpError("RTCP packet is shorter than its 4-octet header")
    first, packet_type, words = _COMMON.unpack_from(data, offset)
    if first >> 6 != RTP_VERSION:
        raise RtpError(f"RTCP version {first >> 6}, expected 2")
    end = following = offset + 4 * (words + 1)
    if end > len(data):
        raise RtpError(f"RTCP length of {words + 1} words overruns the {len(data)}-octet datagram")
    if first & 0x20:
        padding = data[end - 1]
        if padding == 0 or padding > end - offset - _COMMON.size:
            raise RtpError(f"RTCP padding count {padding} is invalid")
        end -= padding
    return first & 0x1F, packet_type, offset + _COMMON.size, end, following


def _blocks(data: bytes, start: int, end: int, count: int) -> tuple[tuple[ReportBlock, ...], int]:
    if start + count * ReportBlock.SIZE > end:
        raise RtpError(f"RTCP packet is too short for its {count} report blocks")
    blocks = tuple(ReportBlock.parse(data, start + i * ReportBlock.SIZE) for i in range(count))
    return blocks, start + count * ReportBlock.SIZE


def _frame(packet_type: int, count: int, body: bytes) -> bytes:
    if len(body) % 4:
        raise RtpError("RTCP body is not a multiple of 4 octets")
    return _COMMON.pack((RTP_VERSION << 6) | count, packet_type, len(body) // 4) + body


def _check_blocks(blocks: tuple[ReportBlock, ...], extension: bytes) -> None:
    if len(blocks) > 31:
        raise RtpError(f"{len(blocks)} report blocks; at most 31 fit the RC field")
    if len(extension) % 4:
        raise RtpError("RTCP profile extension is not a multiple of 4 octets")


@dataclass(frozen=True, slots=True)
class SenderReport:
    """RTCP SR (PT 200): sender info plus report blocks. ``ntp_timestamp`` is the 64-bit
    NTP time (seconds << 32 | fraction) the caller supplies — time is an input here."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    def __post_init__(self) -> None:
        _check_blocks(self.reports, self.extension)

    @classmethod
    def parse(cls, data: bytes) -> SenderReport:
        """Parse a datagram holding exactly one SR (see :func:`parse_compound` for more)."""
        packets = parse_compound(data)
        if len(packets) != 1 or not isinstance(packets[0], SenderReport):
            raise RtpError("datagram is not a single RTCP sender report")
        return packets[0]

    @classmethod
    def _from_body(cls, data: bytes, count: int, start: int, end: int) -> SenderReport:
        if start + _SENDER_INFO.size > end:
            raise RtpError("RTCP SR is too short for its sender info")
        ssrc, ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(data, start)
        reports, rest = _blocks(data, start + _SENDER_INFO.size, end, count)
        return cls(ssrc, ntp, rtp_ts, packets, octets, reports, bytes(data[rest:end]))

    def __bytes__(self) -> bytes:
        info = _SENDER_INFO.pack(
            self.ssrc, self.ntp_timestamp, self.rtp_timestamp, self.packet_count, self.octet_count
        )
        body = info + b"".join(bytes(r) for r in self.reports) + self.extension
        return _frame(PT_SR, len(self.reports), body)


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RTCP RR (PT 201): the reporter's SSRC and report blocks."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    def __post_init__(self) -> None:
        _check_blocks(self.reports, self.extension)

    @classmethod
    def parse(cls, data: bytes) -> ReceiverReport:
        """Parse a datagram holding exactly one RR."""
        packets = parse_compound(data)
        if len(packets) != 1 or not isinstance(packets[0], ReceiverReport):
            raise RtpError("datagram is not a single RTCP receiver report")
        return packets[0]

    @classmethod
    def _from_body(cls, data: bytes, count: int, start: int, end: int) -> ReceiverReport:
        if start + 4 > end:
            raise RtpError("RTCP RR is too short for its SSRC")
        (ssrc,) = struct.unpack_from("!I", data, start)
        reports, rest = _blocks(data, start + 4, end, count)
        return cls(ssrc, reports, bytes(data[rest:end]))

    def __bytes__(self) -> bytes:
        body = struct.pack("!I", self.ssrc) + b"".join(bytes(r) for r in self.reports)
        return _frame(PT_RR, len(self.reports), body + self.extension)


@dataclass(frozen=True, slots=True)
class RtcpUnknown:
    """An RTCP packet of a type this module does not decode (SDES, BYE, APP, feedback…)."""

    packet_type: int
    count: int
    body: bytes

    def __bytes__(self) -> bytes:
        return _frame(self.packet_type, self.count, self.body)


RtcpPacket = SenderReport | ReceiverReport | RtcpUnknown


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Split a compound RTCP datagram into its packets; raise :class:`RtpError` if any
    part is malformed."""
    if not data:
        raise RtpError("empty RTCP datagram")
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < len(data):
        count, packet_type, start, end, offset = _header(data, offset)
        if packet_type == PT_SR:
            packets.append(SenderReport._from_body(data, count, start, end))
        elif packet_type == PT_RR:
            packets.append(ReceiverReport._from_body(data, count, start, end))
        else:
            packets.append(RtcpUnknown(packet_type, count, bytes(data[start:end])))
    return packets
