"""SDP parsing and RFC 3264 offer/answer for G.711 + telephone-event, hold and re-offers."""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkline.sip.message import parse_datagram
from trunkline.sip.sdp import (
    PCMA,
    PCMU,
    AudioConfig,
    AudioSession,
    Connection,
    Direction,
    SdpError,
    parse_sdp,
)

CORPUS = Path(__file__).parent / "data" / "rfc4475"

OFFER = (
    b"v=0\r\n"
    b"o=carrier 4858 9 IN IP4 203.0.113.7\r\n"
    b"s=call\r\n"
    b"c=IN IP4 203.0.113.7\r\n"
    b"t=0 0\r\n"
    b"m=audio 40000 RTP/AVP 18 8 0 96\r\n"
    b"a=rtpmap:18 G729/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:96 telephone-event/8000\r\n"
    b"a=fmtp:96 0-15\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
    b"m=video 40002 RTP/AVP 31\r\n"
)


def ours(port: int = 30000, **kw: object) -> AudioSession:
    return AudioSession(AudioConfig("198.51.100.1", port, **kw), session_id=77)  # type: ignore[arg-type]


def test_parse_and_serialise_round_trip() -> None:
    sdp = parse_sdp(OFFER)
    assert sdp.origin.version == 9 and sdp.connection == Connection("203.0.113.7")
    audio, video = sdp.media
    assert audio.formats == ["18", "8", "0", "96"] and audio.rtpmap()["96"] == (
        "telephone-event",
        8000,
    )
    assert sdp.direction_of(audio) is Direction.SENDRECV and video.port == 40002
    assert bytes(sdp) == OFFER
    assert bytes(parse_sdp(bytes(sdp))) == OFFER


def test_torture_corpus_bodies_parse() -> None:
    msg = parse_datagram((CORPUS / "wsinv.dat").read_bytes())
    sdp = parse_sdp(msg.body)
    assert [m.media for m in sdp.media] == ["audio", "video"]
    assert sdp.media[1].attribute("rtpmap") == "31 LPC"  # no clock rate: not a usable rtpmap
    assert sdp.media[1].rtpmap() == {}


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"v=1\r\n",
        b"v=0\r\ns=x\r\n",
        b"v=0\r\no=a b c IN IP4 h\r\ns=-\r\n",
        b"v=0\r\nbogus\r\n",
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio port RTP/AVP 0\r\n",
        b"\xff\xfe",
    ],
)
def test_malformed_sdp_is_a_400(bad: bytes) -> None:
    with pytest.raises(SdpError) as err:
        parse_sdp(bad)
    assert err.value.status == 400


def test_answer_picks_the_offerers_first_common_codec_and_keeps_dtmf_pt() -> None:
    answer, got = ours().receive_offer(parse_sdp(OFFER))
    assert (got.codec, got.payload_type, got.dtmf_payload_type) == (PCMA, 8, 96)
    assert (got.remote_address, got.remote_port, got.direction) == (
        "203.0.113.7",
        40000,
        Direction.SENDRECV,
    )
    audio, video = answer.media
    assert audio.formats == ["8", "96"] and audio.port == 30000
    assert ("rtpmap", "96 telephone-event/8000") in audio.attributes
    assert video.port == 0  # refused, but answered (§6)
    assert answer.connection == Connection("198.51.100.1")


def test_no_common_codec_is_a_488() -> None:
    only_g729 = OFFER.replace(b"18 8 0 96", b"18")
    with pytest.raises(SdpError) as err:
        ours().receive_offer(parse_sdp(only_g729))
    assert err.value.status == 488


def test_offer_then_answer() -> None:
    session = ours()
    offer = session.create_offer()
    assert offer.media[0].formats == ["0", "8", "101"]
    assert offer.media[0].attribute("fmtp") == "101 0-16"
    # The peer answers with PCMU only and no telephone-event.
    peer = AudioSession(
        AudioConfig("203.0.113.9", 5004, codecs=(PCMU,), dtmf_payload_type=None), session_id=1
    )
    answer, theirs = peer.receive_offer(parse_sdp(bytes(offer)))
    assert theirs.codec == PCMU and theirs.dtmf_payload_type is None
    got = session.receive_answer(parse_sdp(bytes(answer)))
    assert (got.codec, got.remote_port, got.dtmf_payload_type) == (PCMU, 5004, None)
    with pytest.raises(SdpError):
        session.receive_answer(answer)  # no offer outstanding


def test_hold_and_resume_re_offers() -> None:
    a, b = ours(), ours(40000)
    offer = a.create_offer()
    answer, _ = b.receive_offer(parse_sdp(bytes(offer)))
    assert a.receive_answer(answer).direction is Direction.SENDRECV
    v0 = offer.origin.version
    hold = a.hold()
    assert hold.origin.version == v0 + 1 and hold.media[0].direction() is Direction.SENDONLY
    answer, theirs = b.receive_offer(parse_sdp(bytes(hold)))
    assert (
        theirs.direction is Direction.RECVONLY and answer.media[0].direction() is Direction.RECVONLY
    )
    ours_now = a.receive_answer(answer)
    assert ours_now.direction is Direction.SENDONLY and ours_now.on_hold
    resume = a.resume()
    assert resume.origin.version == v0 + 2
    answer, theirs = b.receive_offer(parse_sdp(bytes(resume)))
    assert theirs.direction is Direction.SENDRECV and not a.receive_answer(answer).on_hold
    # An unchanged re-offer (session refresh) keeps the version (§8).
    assert a.resume().origin.version == v0 + 2


@pytest.mark.parametrize(
    ("offered", "wanted", "answered"),
    [
        ("sendrecv", Direction.SENDRECV, Direction.SENDRECV),
        ("sendonly", Direction.SENDRECV, Direction.RECVONLY),
        ("recvonly", Direction.SENDRECV, Direction.SENDONLY),
        ("inactive", Direction.SENDRECV, Direction.INACTIVE),
        ("sendrecv", Direction.SENDONLY, Direction.SENDONLY),
        ("sendonly", Direction.SENDONLY, Direction.INACTIVE),
    ],
)
def test_answer_directions(offered: str, wanted: Direction, answered: Direction) -> None:
    offer = parse_sdp(OFFER.replace(b"a=sendrecv", b"a=" + offered.encode()))
    answer, got = ours().receive_offer(offer, wanted)
    assert got.direction is answered and answer.media[0].direction() is answered


def test_old_style_hold_with_zero_address() -> None:
    offer = parse_sdp(OFFER.replace(b"c=IN IP4 203.0.113.7", b"c=IN IP4 0.0.0.0"))
    _, got = ours().receive_offer(offer)
    assert not got.direction.sends and got.direction.receives


def test_static_payload_types_without_rtpmap_and_media_level_connection() -> None:
    offer = parse_sdp(
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n"
        b"m=audio 7000 RTP/AVP 0\r\nc=IN IP4 192.0.2.50\r\n"
    )
    _, got = ours().receive_offer(offer)
    assert (got.codec, got.remote_address, got.dtmf_payload_type) == (PCMU, "192.0.2.50", None)


def test_fuzzed_sdp_only_raises_sdp_error() -> None:
    import random

    rng = random.Random(3264)
    seeds = [OFFER, bytes(ours().create_offer())]
    answered = 0
    for _ in range(3000):
        buf = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(buf))
            op = rng.randrange(4)
            if op == 0:
                buf[pos] = rng.choice(b" =:/\r\n0123456789abcmtv\xb2")
            elif op == 1:
                del buf[pos : pos + rng.randint(1, 8)]
            elif op == 2:
                buf[pos:pos] = rng.choice([b"a=rtpmap:x PCMU/8000\r\n", b" x", "²".encode(), b"/"])
            else:
                buf[pos:pos] = buf[pos : pos + rng.randint(1, 20)]
        try:
            _, got = ours().receive_offer(parse_sdp(bytes(buf)))
        except SdpError:
            continue
        answered += 1
        assert got.payload_type in (0, 8)
    assert answered > 300
