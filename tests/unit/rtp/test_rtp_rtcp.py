"""RTCP SR/RR (RFC 3550 §6.4): golden bytes, compound packets, round-trips, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.rtp.packet import RtpError
from trunkline.rtp.rtcp import (
    ReceiverReport,
    ReportBlock,
    RtcpUnknown,
    SenderReport,
    parse_compound,
)

BLOCK = ReportBlock(
    ssrc=0x11223344,
    fraction_lost=0x40,
    cumulative_lost=-2,
    highest_sequence=0x0001FFFF,
    jitter=37,
    last_sr=0xAABBCCDD,
    delay_since_last_sr=0x00010000,
)
BLOCK_BYTES = bytes.fromhex("1122334440fffffe0001ffff00000025aabbccdd00010000")
SR_BYTES = (
    bytes.fromhex(
        "81c8000c"  # V=2 RC=1 PT=200 length=12 words
        "01020304"  # SSRC
        "e8f1a2b3"
        "80000000"  # NTP timestamp
        "0000fa00"  # RTP timestamp
        "00000032"
        "00001f40"  # 50 packets, 8000 octets
    )
    + BLOCK_BYTES
)
RR_BYTES = bytes.fromhex("81c9000705060708") + BLOCK_BYTES
SDES_BYTES = bytes.fromhex("81ca0003010203040104616263640000")


def test_sender_report_golden() -> None:
    sr = SenderReport.parse(SR_BYTES)
    assert sr == SenderReport(
        ssrc=0x01020304,
        ntp_timestamp=0xE8F1A2B380000000,
        rtp_timestamp=64000,
        packet_count=50,
        octet_count=8000,
        reports=(BLOCK,),
    )
    assert bytes(sr) == SR_BYTES


def test_receiver_report_golden_and_negative_cumulative_loss() -> None:
    rr = ReceiverReport.parse(RR_BYTES)
    assert rr == ReceiverReport(ssrc=0x05060708, reports=(BLOCK,))
    assert rr.reports[0].cumulative_lost == -2
    assert bytes(rr) == RR_BYTES


def test_compound_keeps_unknown_packet_types() -> None:
    packets = parse_compound(RR_BYTES + SDES_BYTES)
    assert packets[0] == ReceiverReport(ssrc=0x05060708, reports=(BLOCK,))
    assert packets[1] == RtcpUnknown(202, 1, bytes.fromhex("010203040104616263640000"))
    assert b"".join(bytes(p) for p in packets) == RR_BYTES + SDES_BYTES


def test_padding_is_removed() -> None:
    padded = bytes.fromhex("a1c9000805060708") + BLOCK_BYTES + bytes.fromhex("00000004")
    assert parse_compound(padded) == [ReceiverReport(ssrc=0x05060708, reports=(BLOCK,))]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x81\xc9", "shorter than its 4-octet header"),
        (bytes.fromhex("41c9000105060708"), "version 1"),
        (RR_BYTES[:-4], "overruns"),
        (bytes.fromhex("81c9000105060708"), "too short for its 1 report blocks"),
        (bytes.fromhex("80c8000101020304"), "too short for its sender info"),
        (bytes.fromhex("80c90000"), "too short for its SSRC"),
        (bytes.fromhex("a0c9000105060700"), "padding count 0"),
        (bytes.fromhex("a0c9000105060709"), "padding count 9"),
    ],
)
def test_malformed_rtcp(data: bytes, message: str) -> None:
    with pytest.raises(RtpError, match=message):
        parse_compound(data)


def test_single_packet_parsers_refuse_other_types() -> None:
    with pytest.raises(RtpError, match="not a single RTCP sender report"):
        SenderReport.parse(RR_BYTES)
    with pytest.raises(RtpError, match="not a single RTCP receiver report"):
        ReceiverReport.parse(SR_BYTES)


@pytest.mark.parametrize(
    "fields",
    [{"fraction_lost": 256}, {"cumulative_lost": 1 << 23}, {"jitter": 1 << 32}],
)
def test_report_block_ranges(fields: dict[str, int]) -> None:
    base = {
        "ssrc": 0,
        "fraction_lost": 0,
        "cumulative_lost": 0,
        "highest_sequence": 0,
        "jitter": 0,
        "last_sr": 0,
        "delay_since_last_sr": 0,
    }
    with pytest.raises(RtpError):
        ReportBlock(**{**base, **fields})


def test_too_many_report_blocks() -> None:
    with pytest.raises(RtpError, match="at most 31"):
        ReceiverReport(ssrc=1, reports=(BLOCK,) * 32)


u32 = st.integers(0, 0xFFFFFFFF)
blocks = st.builds(
    ReportBlock,
    ssrc=u32,
    fraction_lost=st.integers(0, 255),
    cumulative_lost=st.integers(-(1 << 23), (1 << 23) - 1),
    highest_sequence=u32,
    jitter=u32,
    last_sr=u32,
    delay_since_last_sr=u32,
)
block_lists = st.lists(blocks, max_size=31).map(tuple)
extensions = st.integers(0, 3).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n))
reports = st.builds(
    SenderReport,
    ssrc=u32,
    ntp_timestamp=st.integers(0, (1 << 64) - 1),
    rtp_timestamp=u32,
    packet_count=u32,
    octet_count=u32,
    reports=block_lists,
    extension=extensions,
) | st.builds(ReceiverReport, ssrc=u32, reports=block_lists, extension=extensions)


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(reports, min_size=1, max_size=3))
def test_compound_round_trip(packets: list[SenderReport | ReceiverReport]) -> None:
    data = b"".join(bytes(p) for p in packets)
    assert parse_compound(data) == packets


@settings(max_examples=500, deadline=None, database=None)
@given(st.binary(max_size=80))
def test_fuzz_parse_raises_only_rtp_error(data: bytes) -> None:
    try:
        packets = parse_compound(data)
    except RtpError:
        return
    assert packets
