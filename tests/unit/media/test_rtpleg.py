"""Two RtpLegs talking over real UDP sockets on 127.0.0.1 (and raw sockets posing as peers).

Nothing sleeps: every wait is on a leg's counters (``wait_until``) or on a datagram queue,
bounded by ``asyncio.timeout``. The test drives each leg's clock itself by calling
``send``/``receive`` once per "tick", as the media pump does.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest

from trunkline.media import g711
from trunkline.media.dtmf import DIGIT_FREQUENCIES
from trunkline.media.port import SILENCE
from trunkline.media.rtpleg import PCMA, PCMU, MediaError, RtpLeg, RtpStats, bind_rtp_ports
from trunkline.rtp.packet import RtpPacket
from trunkline.rtp.rtcp import ReceiverReport, RtcpUnknown, SenderReport, parse_compound
from trunkline.rtp.telephone_event import TelephoneEvent

Frame = npt.NDArray[np.int16]
TIMEOUT = 5.0


def tone(freq: float, frames: int, amplitude: float = 8000.0, start: int = 0) -> list[Frame]:
    t = (np.arange(frames * 160) + start) / 8000.0
    wave = np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return [wave[i * 160 : (i + 1) * 160] for i in range(frames)]


def dtmf_tone(digit: str, frames: int) -> list[Frame]:
    low, high = DIGIT_FREQUENCIES[digit]
    t = np.arange(frames * 160) / 8000.0
    wave = 5000 * np.sin(2 * np.pi * low * t) + 5000 * np.sin(2 * np.pi * high * t)
    samples = np.rint(wave).astype(np.int16)
    return [samples[i * 160 : (i + 1) * 160] for i in range(frames)]


def peak_hz(samples: Frame) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * 8000 / samples.size)


class Sink(asyncio.DatagramProtocol):
    """A raw UDP peer: datagrams it receives land in a queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # 3.11's selector datagram transport does not subclass DatagramTransport
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait((data, addr))

    @property
    def port(self) -> int:
        assert self.transport is not None
        port: int = self.transport.get_extra_info("sockname")[1]
        return port

    async def get(self) -> bytes:
        async with asyncio.timeout(TIMEOUT):
            data, _ = await self.queue.get()
        return data


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    yield protocol
    transport.close()


async def open_pair(
    payload_type: int = PCMU, dtmf: int | None = 101, **kw: Any
) -> tuple[RtpLeg, RtpLeg]:
    a = await RtpLeg.open("a", rng=random.Random(1), **kw)
    b = await RtpLeg.open("b", rng=random.Random(2), **kw)
    a.set_remote("127.0.0.1", b.local_port, payload_type, dtmf)
    b.set_remote("127.0.0.1", a.local_port, payload_type, dtmf)
    return a, b


def received(count: int) -> Callable[[RtpStats], bool]:
    """A wait_until predicate: at least ``count`` RTP packets received."""
    return lambda stats: stats.packets_received >= count


async def relay(sender: RtpLeg, receiver: RtpLeg, frames: list[Frame]) -> list[Frame | None]:
    """Send ``frames`` one tick at a time, each received (and played out) at the far end,
    then flush the far end's jitter buffer: the played frames, in order."""
    out: list[Frame | None] = []
    for frame in frames:
        target = receiver.stats.packets_received + 1
        sender.send(frame)
        async with asyncio.timeout(TIMEOUT):
            await receiver.wait_until(received(target))
        out.append(receiver.receive())
    out.extend(receiver.receive() for _ in range(5))
    return out


@pytest.mark.parametrize("payload_type", [PCMU, PCMA], ids=["pcmu", "pcma"])
async def test_a_tone_crosses_loopback_each_way(payload_type: int) -> None:
    a, b = await open_pair(payload_type)
    try:
        heard_by_b = [f for f in await relay(a, b, tone(1000.0, 25)) if f is not None]
        heard_by_a = [f for f in await relay(b, a, tone(1750.0, 25)) if f is not None]
    finally:
        a.close()
        b.close()
    assert len(heard_by_b) == 25 and len(heard_by_a) == 25
    at_b, at_a = np.concatenate(heard_by_b), np.concatenate(heard_by_a)
    assert peak_hz(at_b) == pytest.approx(1000.0, abs=10)
    assert peak_hz(at_a) == pytest.approx(1750.0, abs=10)
    # G.711 keeps the waveform to within its quantisation step (~3 % at this level).
    assert np.max(np.abs(at_b.astype(int) - np.concatenate(tone(1000.0, 25)))) < 300
    assert b.stats.lost == 0 and b.stats.late == 0 and b.stats.packets_received == 25
    assert a.stats.packets_sent == 25 and a.stats.octets_sent == 25 * 160


async def test_rfc4733_digits_both_ways() -> None:
    a, b = await open_pair()
    got_a: list[str] = []
    got_b: list[str] = []
    a.on_dtmf, b.on_dtmf = got_a.append, got_b.append
    try:
        a.send_dtmf("12#")
        b.send_dtmf("9*D", duration_ms=60)
        async with asyncio.timeout(TIMEOUT):
            while a.dtmf_pending or b.dtmf_pending:
                a.send(SILENCE)
                b.send(SILENCE)
                await asyncio.sleep(0)
            await b.wait_until(lambda s: s.dtmf_received == 3)
            await a.wait_until(lambda s: s.dtmf_received == 3)
    finally:
        a.close()
        b.close()
    assert got_b == ["1", "2", "#"]
    assert got_a == ["9", "*", "D"]
    assert a.stats.dtmf_sent == 3


async def test_dtmf_packets_on_the_wire(sink: Sink) -> None:
    leg = await RtpLeg.open("a", rng=random.Random(3))
    leg.set_remote("127.0.0.1", sink.port, PCMU, 101)
    try:
        leg.send(tone(440.0, 1)[0])
        leg.send_dtmf("5", duration_ms=100)
        for _ in range(9):
            leg.send(SILENCE)
        packets = [RtpPacket.parse(await sink.get()) for _ in range(10)]
    finally:
        leg.close()
    audio, events, after = packets[0], packets[1:8], packets[8:]
    assert audio.payload_type == PCMU and audio.marker  # first packet of the stream
    assert all(p.payload_type == 101 for p in events)
    assert [p.marker for p in events] == [True] + [False] * 6
    assert {p.timestamp for p in events} == {audio.timestamp + 160}  # the press's start
    payloads = [TelephoneEvent.parse(p.payload) for p in events]
    assert [e.event for e in payloads] == [5] * 7
    assert [e.duration for e in payloads] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in payloads] == [False] * 4 + [True] * 3
    seqs = [p.sequence_number for p in packets]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(10)]
    # audio resumes on the leg's own clock: 8 ticks after the first packet
    assert after[0].payload_type == PCMU and after[0].timestamp == audio.timestamp + 8 * 160


async def test_send_dtmf_refuses_bad_input() -> None:
    leg = await RtpLeg.open("a")
    try:
        leg.set_remote("127.0.0.1", 9, PCMU, 101)
        with pytest.raises(MediaError, match="not DTMF"):
            leg.send_dtmf("12x")
        with pytest.raises(MediaError, match="duration"):
            leg.send_dtmf("1", duration_ms=10)
        leg.set_remote("127.0.0.1", 9, PCMU, None)
        with pytest.raises(MediaError, match="telephone-event"):
            leg.send_dtmf("1")
        with pytest.raises(MediaError, match=r"G\.711"):
            leg.set_remote("127.0.0.1", 9, 18, None)
    finally:
        leg.close()


async def test_in_band_tones_are_detected() -> None:
    a, b = await open_pair(PCMU, dtmf=None)  # no telephone-event: b listens for tones
    got: list[str] = []
    b.on_dtmf = got.append
    frames: list[Frame] = tone(300.0, 5, amplitude=2000)  # speech-ish lead-in, no digit
    for digit in "59*0":
        frames += dtmf_tone(digit, 5) + [SILENCE] * 3
    try:
        await relay(a, b, frames)
    finally:
        a.close()
        b.close()
    assert got == ["5", "9", "*", "0"]


async def test_in_band_detection_is_off_when_telephone_event_is_negotiated() -> None:
    a, b = await open_pair(PCMU, dtmf=101)
    got: list[str] = []
    b.on_dtmf = got.append
    try:
        await relay(a, b, dtmf_tone("7", 6))
        b.set_remote("127.0.0.1", a.local_port, PCMU, 101, inband_dtmf=True)
        await relay(a, b, dtmf_tone("8", 6))
    finally:
        a.close()
        b.close()
    assert got == ["8"]


async def test_jitter_reordering_and_duplicates_are_absorbed() -> None:
    leg = await RtpLeg.open("b", jitter_depth=3)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    leg.set_remote("127.0.0.1", peer.getsockname()[1], PCMU, 101)
    rng = random.Random(7)
    codes = list(range(20, 60))  # one distinct µ-law code per packet: its identity
    blocks = [list(range(i, i + 4)) for i in range(0, len(codes), 4)]
    for block in blocks:  # reordered within blocks of four (within the buffer's depth)
        rng.shuffle(block)
    blocks[2].append(blocks[2][1])  # one duplicate
    seq0 = 65530  # the sequence numbers wrap on the way
    played: list[Frame | None] = []
    try:
        for block in blocks:  # each block arrives during four ticks
            target = leg.stats.packets_received + len(block)
            for index in block:
                packet = RtpPacket(
                    PCMU,
                    (seq0 + index) & 0xFFFF,
                    1000 + 160 * index,
                    42,
                    bytes([codes[index]]) * 160,
                )
                peer.sendto(bytes(packet), ("127.0.0.1", leg.local_port))
            async with asyncio.timeout(TIMEOUT):
                await leg.wait_until(received(target))
            played += [leg.receive() for _ in range(4)]
        played += [leg.receive() for _ in range(6)]
    finally:
        leg.close()
        peer.close()
    frames = [f for f in played if f is not None]
    assert [int(f[0]) for f in frames] == [int(g711.MULAW_DECODE[c]) for c in codes]
    stats = leg.stats
    assert stats.duplicates == 1 and stats.lost == 0 and stats.concealed == 0
    assert stats.trimmed == 0


async def test_a_backlog_is_trimmed_to_keep_the_delay_down() -> None:
    leg = await RtpLeg.open("b", jitter_depth=3)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    leg.set_remote("127.0.0.1", peer.getsockname()[1], PCMU, 101)
    try:
        for seq in range(30):  # a burst: 30 packets in one go (a fast clock, a stalled link)
            packet = RtpPacket(PCMU, seq, 160 * seq, 42, bytes([seq + 1]) * 160)
            peer.sendto(bytes(packet), ("127.0.0.1", leg.local_port))
        async with asyncio.timeout(TIMEOUT):
            await leg.wait_until(received(30))
        played = [leg.receive() for _ in range(30)]
    finally:
        leg.close()
        peer.close()
    codes = [int(np.argmin(np.abs(g711.MULAW_DECODE - f[0]))) for f in played if f is not None]
    assert codes == sorted(codes)  # still in order
    stats = leg.stats
    # one frame dropped per tick while more than 2 × 3 + 2 wait: 30 → 8 takes 11 ticks
    assert stats.trimmed == 11 and len(codes) == 19
    assert codes[-8:] == list(range(23, 31))  # the newest audio is what plays


async def test_a_gap_counts_as_lost_and_a_late_packet_as_late() -> None:
    leg = await RtpLeg.open("b", jitter_depth=2)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    leg.set_remote("127.0.0.1", peer.getsockname()[1], PCMU, 101)

    def send(seq: int) -> None:
        packet = RtpPacket(PCMU, seq, 160 * seq, 9, bytes([0x7F]) * 160)
        peer.sendto(bytes(packet), ("127.0.0.1", leg.local_port))

    try:
        for seq in (0, 1, 2, 4, 5, 6):  # 3 never comes in time
            send(seq)
        async with asyncio.timeout(TIMEOUT):
            await leg.wait_until(lambda s: s.packets_received == 6)
        played = [leg.receive() for _ in range(7)]
        send(3)  # after its slot
        async with asyncio.timeout(TIMEOUT):
            await leg.wait_until(lambda s: s.packets_received == 7)
    finally:
        leg.close()
        peer.close()
    assert [f is not None for f in played] == [True, True, True, False, True, True, True]
    stats = leg.stats
    assert stats.concealed == 1 and stats.late == 1
    assert stats.lost == 0  # it did arrive, late: the network lost nothing


@pytest.mark.parametrize("rtcp_mux", [False, True], ids=["port+1", "rtcp-mux"])
async def test_rtcp_reports_are_exchanged(rtcp_mux: bool) -> None:
    a, b = await open_pair(rtcp_interval=0.1, rtcp_mux=rtcp_mux)
    assert a.rtcp_port == (a.local_port if rtcp_mux else a.local_port + 1)
    try:
        async with asyncio.timeout(TIMEOUT):
            for frame in tone(500.0, 60):
                target = (a.stats.packets_received + 1, b.stats.packets_received + 1)
                a.send(frame)
                b.send(frame)
                await a.wait_until(received(target[0]))
                await b.wait_until(received(target[1]))
                a.receive()
                b.receive()
            await a.wait_until(lambda s: s.rtcp_received >= 2)
            await b.wait_until(lambda s: s.rtcp_received >= 2)
    finally:
        a.close()
        b.close()
    for leg in (a, b):
        stats = leg.stats
        assert stats.rtcp_sent >= 2 and stats.rtcp_received >= 2
        assert stats.peer_cumulative_lost == 0 and stats.peer_fraction_lost == 0.0
        assert stats.rtt_ms is not None and 0.0 <= stats.rtt_ms < 1000.0
        assert stats.malformed == 0


async def test_rtcp_compound_is_sr_then_sdes(sink: Sink) -> None:
    leg = await RtpLeg.open("a", rtcp_mux=True, rtcp_interval=0.02)  # every 1..2 ticks
    leg.set_remote("127.0.0.1", sink.port, PCMA, None)
    try:
        leg.send(SILENCE)
        leg.send(SILENCE)
        leg.send(SILENCE)
        datagrams = [await sink.get() for _ in range(4)]
        leg.close()  # leaving: a last report with an RTCP BYE
        while True:  # what was still in flight, then the BYE (each get is bounded)
            last = parse_compound(data) if 192 <= (data := await sink.get())[1] <= 223 else []
            if any(p.packet_type == 203 for p in last if isinstance(p, RtcpUnknown)):
                bye = last
                break
    finally:
        leg.close()
    assert isinstance(bye[0], SenderReport)
    assert bye[-1].packet_type == 203  # type: ignore[union-attr]
    assert bye[-1].body == leg.ssrc.to_bytes(4, "big")  # type: ignore[union-attr]
    rtcp = [d for d in datagrams if 192 <= d[1] <= 223]
    assert rtcp
    reports = [parse_compound(d) for d in rtcp]
    for parts in reports:
        assert isinstance(parts[0], SenderReport | ReceiverReport)
        assert parts[0].ssrc == leg.ssrc
        assert parts[1].packet_type == 202  # type: ignore[union-attr]
        assert b"a@trunkline" in parts[1].body  # type: ignore[union-attr]
    for position, datagram in enumerate(datagrams):  # RR until an RTP packet went out, then SR
        if 192 <= datagram[1] <= 223:
            sent_rtp = any(not 192 <= d[1] <= 223 for d in datagrams[:position])
            kind = SenderReport if sent_rtp else ReceiverReport
            assert isinstance(parse_compound(datagram)[0], kind)


async def test_a_held_leg_sends_nothing() -> None:
    a, b = await open_pair()
    try:
        await relay(a, b, tone(800.0, 3))
        before = b.stats.packets_received
        a.hold(True)
        for frame in tone(800.0, 10):
            a.send(frame)
        a.hold(False)
        a.send(tone(800.0, 1)[0])  # the packet after hold ends
        async with asyncio.timeout(TIMEOUT):
            await b.wait_until(lambda s: s.packets_received > before)
    finally:
        a.close()
        b.close()
    assert b.stats.packets_received == before + 1
    assert a.stats.packets_sent == 4


async def test_symmetric_rtp_latches_to_the_real_source() -> None:
    a = await RtpLeg.open("a")
    b = await RtpLeg.open("b")
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.1", 0))
    unused = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    unused.bind(("127.0.0.1", 0))
    try:
        a.set_remote("127.0.0.1", b.local_port, PCMU, 101)
        # b was told (say, by SDP behind NAT) an address a does not send from
        b.set_remote("127.0.0.1", unused.getsockname()[1], PCMU, 101)
        await relay(a, b, tone(600.0, 2))
        assert b.remote == ("127.0.0.1", a.local_port)
        assert b.stats.remote_learned
        packet = RtpPacket(PCMU, 1, 0, 77, bytes(160))
        stranger.sendto(bytes(packet), ("127.0.0.1", b.local_port))
        heard = await relay(b, a, tone(600.0, 4))  # b now reaches a
        async with asyncio.timeout(TIMEOUT):
            await b.wait_until(lambda s: s.foreign == 1)
    finally:
        a.close()
        b.close()
        stranger.close()
        unused.close()
    assert sum(f is not None for f in heard) == 4


async def test_packets_before_the_remote_is_known_are_dropped() -> None:
    leg = await RtpLeg.open("b")
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        peer.sendto(bytes(RtpPacket(PCMU, 1, 0, 1, bytes(160))), ("127.0.0.1", leg.local_port))
        async with asyncio.timeout(TIMEOUT):
            await leg.wait_until(lambda s: s.foreign == 1)
        assert leg.receive() is None
    finally:
        leg.close()
        peer.close()


async def test_malformed_datagrams_are_counted_not_fatal() -> None:
    a, b = await open_pair()
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raw.bind(("127.0.0.1", 0))
        b.set_remote("127.0.0.1", raw.getsockname()[1], PCMU, 101)
        raw.sendto(b"\x40\x00junk", ("127.0.0.1", b.local_port))  # version 1
        header = struct.pack("!BBHII", 0x80, 101, 1, 0, 5)
        raw.sendto(header + b"\x01", ("127.0.0.1", b.local_port))  # short 4733 payload
        async with asyncio.timeout(TIMEOUT):
            await b.wait_until(lambda s: s.malformed == 2)
        raw.close()
    finally:
        a.close()
        b.close()


async def test_port_pairs_come_from_the_range() -> None:
    rng = random.Random(5)
    for low in range(41000, 42000, 10):
        try:
            rtp, rtcp = bind_rtp_ports("127.0.0.1", (low, low + 1), rtcp_mux=False, rng=rng)
        except MediaError:
            continue
        try:
            assert rtp.getsockname()[1] == low and rtcp is not None
            assert rtcp.getsockname()[1] == low + 1
            with pytest.raises(MediaError, match="no free RTP port"):
                await RtpLeg.open("x", port_range=(low, low + 1))
        finally:
            rtp.close()
            if rtcp is not None:
                rtcp.close()
        leg = await RtpLeg.open("y", port_range=(low, low + 1))
        assert (leg.local_port, leg.rtcp_port) == (low, low + 1)
        leg.close()
        leg.close()  # idempotent
        return
    pytest.fail("no free port pair found to test with")


async def test_ipv6_loopback() -> None:
    a = await RtpLeg.open("a", host="::1")
    b = await RtpLeg.open("b", host="::1")
    a.set_remote("::1", b.local_port, PCMU, 101)
    b.set_remote("::1", a.local_port, PCMU, 101)
    try:
        heard = [f for f in await relay(a, b, tone(1000.0, 6)) if f is not None]
        back = [f for f in await relay(b, a, tone(500.0, 6)) if f is not None]
    finally:
        a.close()
        b.close()
    assert len(heard) == 6 and len(back) == 6
    assert b.remote == ("::1", a.local_port) and not b.stats.remote_learned


async def test_strict_mode_accepts_only_the_sdp_address() -> None:
    a = await RtpLeg.open("a")
    b = await RtpLeg.open("b")
    unused = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    unused.bind(("127.0.0.1", 0))
    sdp_port = unused.getsockname()[1]
    try:
        a.set_remote("127.0.0.1", b.local_port, PCMU, 101)
        b.set_remote("127.0.0.1", sdp_port, PCMU, 101, latch=False)
        for frame in tone(600.0, 3):
            a.send(frame)
        async with asyncio.timeout(TIMEOUT):
            await b.wait_until(lambda s: s.foreign == 3)
    finally:
        a.close()
        b.close()
        unused.close()
    assert b.stats.packets_received == 0 and not b.stats.remote_learned
    assert b.remote == ("127.0.0.1", sdp_port)
