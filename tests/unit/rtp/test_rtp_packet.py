"""RTP packets (RFC 3550 §5.1): golden bytes, round-trips and malformed input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.errors import TrunklineError
from trunkline.rtp import RtpError, RtpExtension, RtpPacket

# A PCMU packet as a softphone sends it: V=2, no P/X/CC, M=1, PT 0, seq 0x1234,
# timestamp 0xDEADBEEF, SSRC 0x01020304, 4 payload octets.
GOLDEN = bytes.fromhex("80801234deadbeef01020304ffff7f7f")


def test_parse_golden_packet() -> None:
    packet = RtpPacket.parse(GOLDEN)
    assert packet == RtpPacket(
        payload_type=0,
        sequence_number=0x1234,
        timestamp=0xDEADBEEF,
        ssrc=0x01020304,
        payload=b"\xff\xff\x7f\x7f",
        marker=True,
    )
    assert bytes(packet) == GOLDEN


def test_csrcs_extension_and_padding_golden() -> None:
    data = bytes.fromhex(
        "b2"
        "08"
        "0001"
        "00000010"
        "0000abcd"  # V=2 P X CC=2, PT 8
        "00000001"
        "00000002"  # CSRCs
        "bede"
        "0001"
        "10ff0000"  # one-byte-header extension, 1 word
        "d5d5"  # payload
        "000003"  # 3 octets of padding, the last holds the count
    )
    packet = RtpPacket.parse(data)
    assert packet.payload_type == 8
    assert not packet.marker
    assert packet.csrcs == (1, 2)
    assert packet.extension == RtpExtension(0xBEDE, bytes.fromhex("10ff0000"))
    assert packet.payload == b"\xd5\xd5"
    assert packet.padding == 3
    assert bytes(packet) == data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "shorter than the 12-octet header"),
        (GOLDEN[:11], "shorter than the 12-octet header"),
        (bytes([0x40]) + GOLDEN[1:], "version 1"),
        (bytes([0x82]) + GOLDEN[1:], "announces 2 CSRCs"),
        (bytes([0x90]) + GOLDEN[1:12] + b"\xbe\xde", "too short for its header extension"),
        (bytes([0x90]) + GOLDEN[1:12] + b"\xbe\xde\x00\x02" + bytes(4), "overruns"),
        (bytes([0xA0]) + GOLDEN[1:12] + b"\x00", "padding count 0"),
        (bytes([0xA0]) + GOLDEN[1:12] + b"\x01\x09", "padding count 9"),
    ],
)
def test_malformed_packets_raise_rtp_error(data: bytes, message: str) -> None:
    with pytest.raises(RtpError, match=message):
        RtpPacket.parse(data)


def test_rtp_error_is_a_trunkline_error() -> None:
    assert issubclass(RtpError, TrunklineError)


@pytest.mark.parametrize(
    "fields",
    [
        {"payload_type": 128},
        {"sequence_number": 65536},
        {"timestamp": -1},
        {"ssrc": 1 << 32},
        {"csrcs": tuple(range(16))},
        {"padding": 256},
    ],
)
def test_out_of_range_fields_are_refused(fields: dict[str, object]) -> None:
    base: dict[str, object] = {"payload_type": 0, "sequence_number": 0, "timestamp": 0, "ssrc": 0}
    with pytest.raises(RtpError):
        RtpPacket(**{**base, **fields})  # type: ignore[arg-type]


def test_extension_data_must_be_whole_words() -> None:
    with pytest.raises(RtpError, match="multiple of 4"):
        RtpExtension(0x1000, b"abc")


packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence_number=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=200),
    marker=st.booleans(),
    csrcs=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension=st.none()
    | st.builds(
        RtpExtension,
        profile=st.integers(0, 0xFFFF),
        data=st.integers(0, 4).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)),
    ),
    padding=st.integers(0, 255),
)


@settings(max_examples=300, deadline=None, database=None)
@given(packets)
def test_round_trip(packet: RtpPacket) -> None:
    assert RtpPacket.parse(bytes(packet)) == packet


@settings(max_examples=500, deadline=None, database=None)
@given(st.binary(max_size=64))
def test_fuzz_parse_raises_only_rtp_error(data: bytes) -> None:
    try:
        packet = RtpPacket.parse(data)
    except RtpError:
        return
    assert RtpPacket.parse(bytes(packet)) == packet
    if not packet.padding:  # padding octets other than the count are not kept
        assert bytes(packet) == data
