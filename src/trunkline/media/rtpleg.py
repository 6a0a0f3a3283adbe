"""An RTP leg: one call's audio over UDP, G.711 at 20 ms, as a :class:`MediaPort`.

The media pump calls :meth:`RtpLeg.receive` and :meth:`RtpLeg.send` once per 20 ms tick;
datagrams arrive on the event loop in between. What a leg does:

- **sockets** — RTP on an even port picked in ``port_range`` and RTCP on the next odd port
  (RFC 3550 §11); with ``rtcp_mux=True`` RTCP shares the RTP socket instead (RFC 5761), and
  RTCP arriving on the RTP socket is recognised either way (second octet 192..223).
- **the remote** — host, port and payload types come from SDP later (:meth:`set_remote`).
  Symmetric RTP (RFC 4961 / NAT latching): the first packet after ``set_remote`` fixes the
  peer's real source address; packets from any other address are then dropped (counted as
  ``foreign``). RTCP latches its address the same way. ``set_remote(..., latch=False)`` is
  strict mode: only the SDP address is accepted.
- **inbound audio** — a :class:`~trunkline.rtp.jitter.JitterBuffer` (``jitter_depth`` packets
  of delay) reorders, drops duplicates and late packets; G.711 µ-law (PT 0) or A-law (PT 8) is
  decoded at play-out. A new SSRC restarts the buffer. Comfort noise (PT 13) is silence.
- **DTMF in** — RFC 4733 events (one ``on_dtmf`` call per press, at the press's first packet)
  and, for peers that send tones, in-band detection with the Goertzel
  :class:`~trunkline.media.dtmf.DtmfDetector` at play-out. In-band detection costs ~17 µs a
  frame (as much as the rest of the leg), so by default it runs only when no telephone-event
  payload type was negotiated (``inband_dtmf=None``); a tone heard within 200 ms of an RFC 4733
  press is not reported twice.
- **DTMF out** — :meth:`send_dtmf` queues presses; each press replaces the audio packets of the
  ticks it spans: updates every 20 ms, the end packet three times (RFC 4733 §2.5.1.4), the
  marker bit on the first packet, all with the event's start timestamp. ``p`` pauses 500 ms.
- **own clock** — the RTP timestamp advances 160 per :meth:`send` call (a pump tick), sent or
  not, so hold and DTMF keep the media clock right.
- **RTCP** — a compound SR (or RR before anything was sent) + SDES CNAME every ``rtcp_interval``
  seconds (randomised ×0.5–1.5, RFC 3550 §6.3.5), counted in ticks of :meth:`send`, with a
  report block for the peer's stream (loss, interarrival jitter, LSR/DLSR, RFC 3550 §6.4.1 and
  A.3/A.8). Reports from the peer fill ``peer_*`` stats and the round-trip time.
- **hold** — :meth:`hold` stops sending RTP (``sendonly``/``inactive`` from the peer); RTCP
  goes on (RFC 3264 §5.1). :meth:`close` sends a last report with an RTCP BYE.
- **clock drift** — when more than ``2 × jitter_depth + 2`` packets wait (the peer's clock
  runs fast, or a burst arrived), one frame is dropped at play-out (counted as ``trimmed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from trunkline.errors import TrunklineError
from trunkline.media import g711
from trunkline.media.dtmf import DtmfDetector
from trunkline.media.port import FRAME_SAMPLES, SILENCE, Frame
from trunkline.rtp.jitter import JitterBuffer
from trunkline.rtp.packet import RtpError, RtpPacket
from trunkline.rtp.rtcp import (
    ReceiverReport,
    ReportBlock,
    RtcpUnknown,
    SenderReport,
    parse_compound,
)
from trunkline.rtp.telephone_event import DIGIT_EVENTS, TelephoneEventReceiver, press_payloads

log = logging.getLogger(__name__)

PCMU: Final = 0
PCMA: Final = 8
COMFORT_NOISE: Final = 13
PT_SDES: Final = 202
PT_BYE: Final = 203
PAUSE_MS: Final = 500  # "p" in a digit string (Vonage dtmf and dtmfAnswer)
INTER_DIGIT_TICKS: Final = 3  # audio ticks after a press's end packets
_INBAND_AFTER_EVENT_TICKS: Final = 10  # in-band tones right after an RFC 4733 press are its echo
_NTP_EPOCH_OFFSET: Final = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
_HEADER = struct.Struct("!BBHII")


class MediaError(TrunklineError):
    """A media leg could not be set up or used (no free port, bad payload type, closed leg)."""


@dataclass(frozen=True, slots=True)
class RtpStats:
    """A snapshot of one leg's counters.

    ``lost`` is the network loss of the peer's stream (expected − received, RFC 3550 A.3);
    ``late`` counts packets that arrived after their play-out slot; ``concealed`` counts ticks
    played as silence for a missing packet. ``peer_*`` come from the peer's RTCP about us.
    """

    packets_sent: int = 0
    octets_sent: int = 0
    packets_received: int = 0
    octets_received: int = 0
    lost: int = 0
    late: int = 0
    duplicates: int = 0
    concealed: int = 0
    malformed: int = 0
    foreign: int = 0
    dtmf_received: int = 0
    dtmf_sent: int = 0
    rtcp_sent: int = 0
    rtcp_received: int = 0
    jitter_ms: float = 0.0
    remote_learned: bool = False
    peer_fraction_lost: float = 0.0
    peer_cumulative_lost: int = 0
    peer_jitter_ms: float = 0.0
    rtt_ms: float | None = None
    trimmed: int = 0


class ReceptionStats:
    """Sequence and jitter bookkeeping of one received stream (RFC 3550 A.1, A.3, A.8).
    Pure: the caller gives each packet's arrival time in timestamp units."""

    def __init__(self) -> None:
        self.reset(None, 0)

    def reset(self, ssrc: int | None, seq: int) -> None:
        """Start counting a new stream at ``seq``."""
        self.ssrc = ssrc
        self.base_seq = seq
        self.max_seq = seq
        self.cycles = 0
        self.received = 0
        self.jitter = 0.0
        self._transit: int | None = None
        self._expected_prior = 0
        self._received_prior = 0

    def update(self, ssrc: int, seq: int, timestamp: int, arrival: int) -> bool:
        """Count one packet; return True when it starts a new stream (a new SSRC)."""
        new = ssrc != self.ssrc
        if new:
            self.reset(ssrc, seq)
        elif 0 < (seq - self.max_seq) & 0xFFFF < 0x8000:
            if seq < self.max_seq:
                self.cycles += 1 << 16
            self.max_seq = seq
        self.received += 1
        transit = arrival - timestamp
        if self._transit is not None:
            self.jitter += (abs(transit - self._transit) - self.jitter) / 16.0
        self._transit = transit
        return new

    @property
    def expected(self) -> int:
        return self.cycles + self.max_seq - self.base_seq + 1 if self.received else 0

    @property
    def lost(self) -> int:
        return max(self.expected - self.received, 0)

    def report(self, last_sr: int, delay_since_last_sr: int) -> ReportBlock | None:
        """A report block for the interval since the previous one (None before any packet)."""
        if self.ssrc is None:
            return None
        expected = self.expected
        interval_expected = expected - self._expected_prior
        interval_lost = interval_expected - (self.received - self._received_prior)
        self._expected_prior, self._received_prior = expected, self.received
        fraction = 0
        if interval_expected > 0 and interval_lost > 0:
            fraction = min((interval_lost << 8) // interval_expected, 255)
        cumulative = max(min(expected - self.received, 0x7FFFFF), -0x800000)
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            cumulative_lost=cumulative,
            highest_sequence=(self.cycles + self.max_seq) & 0xFFFFFFFF,
            jitter=int(self.jitter) & 0xFFFFFFFF,
            last_sr=last_sr,
            delay_since_last_sr=delay_since_last_sr,
        )


def _bind_udp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def bind_rtp_ports(
    host: str, port_range: tuple[int, int], *, rtcp_mux: bool, rng: random.Random
) -> tuple[socket.socket, socket.socket | None]:
    """Bind an even RTP port in ``port_range`` (inclusive) and, unless ``rtcp_mux``, the odd
    port after it for RTCP. The search starts at a random even port and wraps once."""
    low, high = port_range
    low += low % 2
    if not 0 < low <= high <= 65535:
        raise MediaError(f"bad RTP port range {port_range}")
    candidates = (high - low) // 2 + 1
    start = rng.randrange(candidates)
    for i in range(candidates):
        port = low + 2 * ((start + i) % candidates)
        if not rtcp_mux and port + 1 > high:
            continue
        try:
            rtp = _bind_udp(host, port)
        except OSError:
            continue
        if rtcp_mux:
            return rtp, None
        try:
            return rtp, _bind_udp(host, port + 1)
        except OSError:
            rtp.close()
    raise MediaError(f"no free RTP port pair on {host} in {low}..{high}")


class _PlainPacket(RtpPacket):
    """An RtpPacket built from a header already unpacked by ``struct``: every field is in
    range by construction, so the checks of ``__post_init__`` (half the cost of a packet on
    the receive path) are skipped."""

    __slots__ = ()

    def __post_init__(self) -> None:
        """No checks: every field is in range by construction (see the class docstring)."""


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, handler: Callable[[bytes, Any], None]) -> None:
        # the handler itself, not a method calling it: one Python call less per packet
        self.datagram_received = handler  # type: ignore[method-assign, assignment]

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a peer that is not listening yet (or any more).
        log.debug("RTP socket error: %s", exc)


_DECODERS: Final[dict[int, npt.NDArray[np.int16]]] = {
    PCMU: g711.MULAW_DECODE,
    PCMA: g711.ALAW_DECODE,
}
_ENCODERS: Final[dict[int, npt.NDArray[np.uint8]]] = {
    PCMU: g711.MULAW_ENCODE,
    PCMA: g711.ALAW_ENCODE,
}


def _dtmf_schedule(digits: str, duration_ms: int) -> list[tuple[bytes, bool] | None]:
    """One entry per tick: an event payload and whether it starts a press, or None (audio)."""
    schedule: list[tuple[bytes, bool] | None] = []
    duration = duration_ms * 8
    for digit in digits.upper():
        if digit == "P":
            schedule.extend([None] * (PAUSE_MS // 20))
            continue
        payloads = press_payloads(digit, duration)
        schedule.extend((bytes(p), i == 0) for i, p in enumerate(payloads))
        schedule.extend([None] * INTER_DIGIT_TICKS)
    return schedule


class RtpLeg:
    """One RTP session; see the module docstring. Make it with :meth:`open`."""

    def __init__(
        self,
        uuid: str,
        rtp_sock: socket.socket,
        rtcp_sock: socket.socket | None,
        *,
        jitter_depth: int = 3,
        rtcp_interval: float = 5.0,
        ptime: float = 0.02,
        rng: random.Random | None = None,
        wallclock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uuid = uuid
        self._rng = rng or random.Random()
        self._wallclock = wallclock
        self._monotonic = monotonic
        self._rtp_sock = rtp_sock
        self._rtcp_sock = rtcp_sock
        name = rtp_sock.getsockname()
        self.local_host: str = name[0]
        self.local_port: int = name[1]
        self.rtcp_mux = rtcp_sock is None
        self._rtp: asyncio.DatagramTransport | None = None
        self._rtcp: asyncio.DatagramTransport | None = None
        self._closed = False
        self.on_dtmf: Callable[[str], None] | None = None

        # remote
        self._remote: Any = None
        self._rtcp_remote: Any = None
        self._latched = False
        self._rtcp_latched = False
        self._pt = PCMU
        self._dtmf_pt: int | None = None
        self._decode = g711.MULAW_DECODE
        self._encode = g711.MULAW_ENCODE
        self._silence_payload = b""
        self._inband: DtmfDetector | None = None

        # inbound
        self._jitter_depth = jitter_depth
        self._jitter = JitterBuffer(depth=jitter_depth)
        self._reception = ReceptionStats()
        self._events = TelephoneEventReceiver()
        self._rx_ticks = 0
        self._last_event_tick = -_INBAND_AFTER_EVENT_TICKS - 1

        # outbound
        self.ssrc = self._rng.getrandbits(32)
        self._seq = self._rng.getrandbits(16)
        self._timestamp = self._rng.getrandbits(32)
        self._marker = True
        self._held = False
        self._dtmf_out: deque[tuple[bytes, bool] | None] = deque()
        self._event_ts = 0
        self._cname = f"{uuid}@trunkline".encode()[:255]

        # RTCP
        self._ptime = ptime
        self._rtcp_interval = rtcp_interval
        self._tx_ticks = 0
        self._next_rtcp_tick = self._rtcp_ticks()
        self._last_sr = 0  # middle 32 bits of the peer's last SR NTP timestamp
        self._last_sr_at = 0.0

        # counters
        self._c: dict[str, int] = dict.fromkeys(
            (
                "packets_sent",
                "octets_sent",
                "packets_received",
                "octets_received",
                "malformed",
                "foreign",
                "dtmf_received",
                "dtmf_sent",
                "rtcp_sent",
                "rtcp_received",
                "trimmed",
            ),
            0,
        )
        self._late = self._duplicates = self._concealed = 0  # from retired jitter buffers
        self._remote_learned = False
        self._peer_block: ReportBlock | None = None
        self._rtt_ms: float | None = None
        self._waiters: list[tuple[Callable[[RtpStats], bool], asyncio.Future[None]]] = []

    # ----------------------------------------------------------------- set-up

    @classmethod
    async def open(
        cls,
        uuid: str,
        host: str = "127.0.0.1",
        port_range: tuple[int, int] = (20000, 30000),
        *,
        rtcp_mux: bool = False,
        jitter_depth: int = 3,
        rtcp_interval: float = 5.0,
        ptime: float = 0.02,
        rng: random.Random | None = None,
        wallclock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> RtpLeg:
        """Bind the leg's socket(s) on ``host`` in ``port_range`` and start receiving.
        Raises :class:`MediaError` when no port is free."""
        rng = rng or random.Random()
        rtp_sock, rtcp_sock = bind_rtp_ports(host, port_range, rtcp_mux=rtcp_mux, rng=rng)
        leg = cls(
            uuid,
            rtp_sock,
            rtcp_sock,
            jitter_depth=jitter_depth,
            rtcp_interval=rtcp_interval,
            ptime=ptime,
            rng=rng,
            wallclock=wallclock,
            monotonic=monotonic,
        )
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(leg._on_rtp), sock=rtp_sock
            )
            leg._rtp = transport
            if rtcp_sock is not None:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(leg._on_rtcp), sock=rtcp_sock
                )
                leg._rtcp = transport
        except BaseException:
            leg.close()
            raise
        return leg

    @property
    def uuid(self) -> str:
        return self._uuid

    @property
    def rtcp_port(self) -> int:
        """The local RTCP port (the RTP port itself with rtcp-mux)."""
        return self.local_port if self.rtcp_mux else self.local_port + 1

    def set_remote(
        self,
        host: str,
        port: int,
        payload_type: int = PCMU,
        dtmf_payload_type: int | None = 101,
        *,
        rtcp_port: int | None = None,
        inband_dtmf: bool | None = None,
        latch: bool = True,
    ) -> None:
        """Where to send and what to expect (from SDP). May be called again (re-INVITE):
        the address latches anew. ``rtcp_port`` defaults to ``port + 1`` (the RTP port with
        rtcp-mux); ``inband_dtmf`` None = detect tones only if ``dtmf_payload_type`` is None.
        ``latch=False`` is strict mode: only packets from the SDP address are accepted (no
        NAT traversal, but nobody else can take the stream over by sending first)."""
        if payload_type not in _DECODERS:
            raise MediaError(f"payload type {payload_type} is not G.711 (0 PCMU or 8 PCMA)")
        if dtmf_payload_type is not None and not 96 <= dtmf_payload_type <= 127:
            raise MediaError(f"telephone-event payload type {dtmf_payload_type} is not dynamic")
        if rtcp_port is None:
            rtcp_port = port if self.rtcp_mux else port + 1
        # as the socket reports sources: IPv6 addresses carry flow info and scope id
        tail: tuple[int, ...] = (0, 0) if ":" in host else ()
        self._remote = (host, port, *tail)
        self._rtcp_remote = (host, rtcp_port, *tail)
        self._latched = self._rtcp_latched = not latch
        self._pt = payload_type
        self._dtmf_pt = dtmf_payload_type
        self._decode = _DECODERS[payload_type]
        self._encode = _ENCODERS[payload_type]
        self._silence_payload = self._encode[SILENCE.view(np.uint16)].tobytes()
        if inband_dtmf is None:
            inband_dtmf = dtmf_payload_type is None
        self._inband = DtmfDetector() if inband_dtmf else None

    @property
    def remote(self) -> tuple[str, int] | None:
        """The address RTP goes to (after latching, the peer's real source address)."""
        return self._remote[:2] if self._remote is not None else None

    @property
    def held(self) -> bool:
        return self._held

    def hold(self, on: bool) -> None:
        """Stop (True) or resume (False) sending RTP; reception and RTCP go on."""
        if self._held and not on:
            self._marker = True
        self._held = on

    def close(self) -> None:
        """Close the sockets; pending :meth:`wait_until` calls are cancelled. Idempotent."""
        if self._closed:
            return
        if self._remote is not None:
            self._send_rtcp(self._timestamp, bye=True)
        self._closed = True
        for transport in (self._rtp, self._rtcp):
            if transport is not None:
                transport.close()
        if self._rtp is None:
            self._rtp_sock.close()
        if self._rtcp is None and self._rtcp_sock is not None:
            self._rtcp_sock.close()
        for _, future in self._waiters:
            future.cancel()
        self._waiters.clear()

    @property
    def closed(self) -> bool:
        return self._closed

    # ----------------------------------------------------------------- stats

    @property
    def stats(self) -> RtpStats:
        c = self._c
        jb = self._jitter.stats
        block = self._peer_block
        return RtpStats(
            **c,
            lost=self._reception.lost,
            late=self._late + jb.late,
            duplicates=self._duplicates + jb.duplicates,
            concealed=self._concealed + jb.lost,
            jitter_ms=self._reception.jitter / 8.0,
            remote_learned=self._remote_learned,
            peer_fraction_lost=block.fraction_lost / 256.0 if block else 0.0,
            peer_cumulative_lost=block.cumulative_lost if block else 0,
            peer_jitter_ms=block.jitter / 8.0 if block else 0.0,
            rtt_ms=self._rtt_ms,
        )

    async def wait_until(self, predicate: Callable[[RtpStats], bool]) -> None:
        """Return once ``predicate(stats)`` holds; checked after every datagram, tick and
        digit. No timeout of its own: wrap it in ``asyncio.timeout``."""
        if predicate(self.stats):
            return
        if self._closed:
            raise MediaError(f"RTP leg {self._uuid} is closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            await future
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    def _check_waiters(self) -> None:
        stats = self.stats
        for predicate, future in list(self._waiters):
            if not future.done() and predicate(stats):
                future.set_result(None)

    # ----------------------------------------------------------------- inbound

    def _on_rtp(self, data: bytes, addr: Any) -> None:
        if len(data) > 1 and 192 <= data[1] <= 223:  # RTCP on the RTP port (RFC 5761 §4)
            self._on_rtcp(data, addr)
            return
        self._rtp_datagram(data, addr)
        if self._waiters:
            self._check_waiters()

    def _rtp_datagram(self, data: bytes, addr: Any) -> None:
        c = self._c
        if self._remote is None or self._closed:
            c["foreign"] += 1
            return
        if addr != self._remote:
            if self._latched:
                c["foreign"] += 1
                return
            log.info(
                "RTP leg %s: peer sends from %s, not %s; latching", self._uuid, addr, self._remote
            )
            self._remote = addr
            self._remote_learned = True
        self._latched = True
        if data[0] == 0x80 and len(data) >= 12:  # the usual header: no CSRC, extension, padding
            _, second, seq, timestamp, ssrc = _HEADER.unpack_from(data)
            packet: RtpPacket = _PlainPacket(
                second & 0x7F, seq, timestamp, ssrc, data[12:], bool(second & 0x80)
            )
        else:
            try:
                packet = RtpPacket.parse(data)
            except RtpError:
                c["malformed"] += 1
                return
        c["packets_received"] += 1
        c["octets_received"] += len(packet.payload)
        arrival = int(self._monotonic() * 8000)
        if self._reception.update(packet.ssrc, packet.sequence_number, packet.timestamp, arrival):
            self._restart_jitter()
        pt = packet.payload_type
        if pt == self._pt:
            self._jitter.insert(packet)
        elif pt == self._dtmf_pt:
            self._on_event(packet)
        elif pt != COMFORT_NOISE:
            c["malformed"] += 1

    def _restart_jitter(self) -> None:
        old = self._jitter.stats
        self._late += old.late
        self._duplicates += old.duplicates
        self._concealed += old.lost
        self._jitter = JitterBuffer(depth=self._jitter_depth)

    def _on_event(self, packet: RtpPacket) -> None:
        try:
            pressed = self._events.feed(packet.timestamp, packet.payload)
        except RtpError:
            self._c["malformed"] += 1
            return
        if pressed is not None:
            self._last_event_tick = self._rx_ticks
            self._digit(pressed.digit)

    def _digit(self, digit: str) -> None:
        self._c["dtmf_received"] += 1
        callback = self.on_dtmf
        if callback is not None:
            try:
                callback(digit)
            except Exception:
                log.exception("on_dtmf callback of RTP leg %s failed", self._uuid)

    def receive(self) -> Frame | None:
        """This tick's frame from the jitter buffer (None while buffering or for a gap)."""
        self._rx_ticks += 1
        if self._closed:
            return None
        jitter = self._jitter
        if len(jitter) > 2 * self._jitter_depth + 2:
            # The peer's clock runs fast (or a burst came in): play one frame less so the
            # delay does not grow until the buffer overflows.
            jitter.pop()
            self._c["trimmed"] += 1
        packet = jitter.pop()
        frame: Frame | None = None
        if packet is not None:
            frame = self._decode.take(np.frombuffer(packet.payload, dtype=np.uint8))
            if frame.size != FRAME_SAMPLES:  # another ptime: cut or pad to 20 ms
                fixed = np.zeros(FRAME_SAMPLES, dtype=np.int16)
                n = min(frame.size, FRAME_SAMPLES)
                fixed[:n] = frame[:n]
                frame = fixed
        detector = self._inband
        if detector is not None:
            found = detector.feed(frame if frame is not None else SILENCE)
            if found is not None and (
                self._rx_ticks - self._last_event_tick > _INBAND_AFTER_EVENT_TICKS
            ):
                self._digit(found.digit)
                if self._waiters:
                    self._check_waiters()
        return frame

    def skip_ticks(self, count: int) -> None:
        """The pump skipped ``count`` ticks (its loop stalled): keep the media clock on real
        time (the RTP timestamp jumps, RFC 3550 §5.1) and drop as much stale inbound audio,
        so the delay does not grow."""
        self._timestamp = (self._timestamp + count * FRAME_SAMPLES) & 0xFFFFFFFF
        self._tx_ticks += count
        self._rx_ticks += count
        for _ in range(min(count, len(self._jitter))):
            self._jitter.pop()

    # ----------------------------------------------------------------- outbound

    def send_dtmf(self, digits: str, duration_ms: int = 100) -> None:
        """Queue RFC 4733 presses (``0-9 * # A-D``; ``p`` = 500 ms pause); they go out on the
        next ticks in place of audio. Raises :class:`MediaError` on a bad digit or duration."""
        if self._dtmf_pt is None:
            raise MediaError(f"RTP leg {self._uuid}: the peer did not negotiate telephone-event")
        bad = {d for d in digits.upper() if d not in DIGIT_EVENTS and d != "P"}
        if bad:
            raise MediaError(f"not DTMF digits: {''.join(sorted(bad))!r}")
        if not 40 <= duration_ms <= 5000:
            raise MediaError(f"DTMF duration {duration_ms} ms is outside 40..5000")
        self._dtmf_out.extend(_dtmf_schedule(digits, duration_ms))

    @property
    def dtmf_pending(self) -> bool:
        """True while queued presses have not all been sent."""
        return bool(self._dtmf_out)

    def send(self, frame: Frame) -> None:
        """Send this tick's frame (or the DTMF event packet that replaces it)."""
        ts = self._timestamp
        self._timestamp = (ts + FRAME_SAMPLES) & 0xFFFFFFFF
        self._tx_ticks += 1
        if self._closed or self._remote is None:
            return
        if self._tx_ticks >= self._next_rtcp_tick:
            self._next_rtcp_tick = self._tx_ticks + self._rtcp_ticks()
            self._send_rtcp(ts)
        event = self._dtmf_out.popleft() if self._dtmf_out else None
        if self._held:
            return
        if event is not None:
            payload, start = event
            if start:
                self._event_ts = ts
                self._c["dtmf_sent"] += 1
            assert self._dtmf_pt is not None
            second = (0x80 if start else 0) | self._dtmf_pt
            ts = self._event_ts
        else:
            if frame is SILENCE:
                payload = self._silence_payload
            else:
                payload = self._encode.take(frame.view(np.uint16)).tobytes()
            second = self._pt
            if self._marker:
                second |= 0x80
                self._marker = False
        seq = self._seq
        self._seq = (seq + 1) & 0xFFFF
        assert self._rtp is not None
        self._rtp.sendto(_HEADER.pack(0x80, second, seq, ts, self.ssrc) + payload, self._remote)
        c = self._c
        c["packets_sent"] += 1
        c["octets_sent"] += len(payload)

    # ----------------------------------------------------------------- RTCP

    def _rtcp_ticks(self) -> int:
        ticks = self._rtcp_interval / self._ptime
        return max(1, round(ticks * self._rng.uniform(0.5, 1.5)))

    def _ntp_now(self) -> int:
        now = self._wallclock() + _NTP_EPOCH_OFFSET
        seconds = int(now)
        return (seconds << 32) | int((now - seconds) * (1 << 32))

    def _send_rtcp(self, rtp_timestamp: int, *, bye: bool = False) -> None:
        transport = self._rtp if self.rtcp_mux else self._rtcp
        if transport is None or self._rtcp_remote is None:
            return
        dlsr = 0
        if self._last_sr:
            dlsr = int((self._monotonic() - self._last_sr_at) * 65536) & 0xFFFFFFFF
        block = self._reception.report(self._last_sr, dlsr)
        blocks = (block,) if block is not None else ()
        c = self._c
        report: SenderReport | ReceiverReport
        if c["packets_sent"]:
            report = SenderReport(
                self.ssrc,
                self._ntp_now(),
                rtp_timestamp,
                c["packets_sent"] & 0xFFFFFFFF,
                c["octets_sent"] & 0xFFFFFFFF,
                blocks,
            )
        else:
            report = ReceiverReport(self.ssrc, blocks)
        chunk = struct.pack("!IBB", self.ssrc, 1, len(self._cname)) + self._cname + b"\0"
        chunk += b"\0" * (-len(chunk) % 4)
        compound = bytes(report) + bytes(RtcpUnknown(PT_SDES, 1, chunk))
        if bye:  # RFC 3550 §6.6: leaving the session
            compound += bytes(RtcpUnknown(PT_BYE, 1, struct.pack("!I", self.ssrc)))
        transport.sendto(compound, self._rtcp_remote)
        c["rtcp_sent"] += 1

    def _on_rtcp(self, data: bytes, addr: Any) -> None:
        self._rtcp_datagram(data, addr)
        if self._waiters:
            self._check_waiters()

    def _rtcp_datagram(self, data: bytes, addr: Any) -> None:
        if self._rtcp_remote is None or self._closed:
            self._c["foreign"] += 1
            return
        if addr != self._rtcp_remote:
            if self._rtcp_latched:
                self._c["foreign"] += 1
                return
            self._rtcp_remote = addr
        self._rtcp_latched = True
        try:
            packets = parse_compound(data)
        except RtpError:
            self._c["malformed"] += 1
            return
        self._c["rtcp_received"] += 1
        for packet in packets:
            if isinstance(packet, SenderReport):
                self._last_sr = (packet.ntp_timestamp >> 16) & 0xFFFFFFFF
                self._last_sr_at = self._monotonic()
            if isinstance(packet, SenderReport | ReceiverReport):
                for block in packet.reports:
                    if block.ssrc == self.ssrc:
                        self._peer_block = block
                        self._rtt_ms = self._rtt(block)

    def _rtt(self, block: ReportBlock) -> float | None:
        """Round trip from a report block about us (RFC 3550 §6.4.1): A − LSR − DLSR."""
        if not block.last_sr:
            return self._rtt_ms
        arrival = (self._ntp_now() >> 16) & 0xFFFFFFFF
        rtt = (arrival - block.last_sr - block.delay_since_last_sr) & 0xFFFFFFFF
        if rtt >= 0x80000000:  # negative: clock steps or bogus values
            return self._rtt_ms
        return rtt * 1000.0 / 65536.0
