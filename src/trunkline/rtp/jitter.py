"""A jitter buffer as pure code: packets go in as they arrive (out of order, duplicated,
late), one comes out per 20 ms tick in sequence order. The caller owns the clock — it calls
:meth:`JitterBuffer.pop` once per tick — so tests drive it with a seeded RNG, never a sleep.

Sequence numbers are 16 bits and wrap (RFC 3550 §A.1); they are extended to plain integers
against the next expected number, so ordering survives the wrap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from trunkline.rtp.packet import RtpPacket

_SEQ_MOD = 1 << 16


class BufferState(Enum):
    BUFFERING = "buffering"  # waiting for ``depth`` packets before playing
    PLAYING = "playing"


@dataclass(slots=True)
class JitterStats:
    """Counters since the buffer was made."""

    received: int = 0
    played: int = 0
    lost: int = 0  # sequence numbers played out as gaps
    late: int = 0  # arrived after their slot had been played or skipped
    duplicates: int = 0
    underruns: int = 0  # ticks with nothing buffered while playing
    resets: int = 0  # sequence jumps too large to be jitter (the sender restarted)


@dataclass(slots=True)
class JitterBuffer:
    """Reorders packets and plays one per tick after ``depth`` packets of delay.

    ``capacity`` bounds the buffer: a packet further than that ahead of the playout point
    is taken as a new stream (the buffer restarts from it).
    """

    depth: int = 3
    capacity: int = 64
    stats: JitterStats = field(default_factory=JitterStats)
    state: BufferState = BufferState.BUFFERING
    _packets: dict[int, RtpPacket] = field(default_factory=dict)
    _next: int | None = None  # extended sequence number of the next slot to play

    def __post_init__(self) -> None:
        if not 1 <= self.depth <= self.capacity:
            raise ValueError(f"depth {self.depth} must be in 1..capacity ({self.capacity})")

    def _extend(self, sequence: int) -> int:
        reference = self._next
        if reference is None:
            if not self._packets:
                return sequence
            reference = min(self._packets)
        delta = (sequence - reference) % _SEQ_MOD
        if delta >= _SEQ_MOD // 2:
            delta -= _SEQ_MOD
        return reference + delta

    def insert(self, packet: RtpPacket) -> None:
        """Take one arriving packet."""
        self.stats.received += 1
        extended = self._extend(packet.sequence_number)
        if self._next is not None and extended < self._next:
            self.stats.late += 1
            return
        if extended in self._packets:
            self.stats.duplicates += 1
            return
        anchor = self._next if self._next is not None else min(self._packets, default=extended)
        if abs(extended - anchor) >= self.capacity:
            self.stats.resets += 1
            self._packets.clear()
            self._next = None
            self.state = BufferState.BUFFERING
        self._packets[extended] = packet

    def pop(self) -> RtpPacket | None:
        """One tick: the next packet in order, or ``None`` for a gap, a late packet or
        while buffering."""
        if self.state is BufferState.BUFFERING:
            if len(self._packets) < self.depth:
                return None
            first = min(self._packets)
            if self._next is not None and first > self._next:
                self.stats.lost += first - self._next  # gaps skipped while re-buffering
            self._next = first
            self.state = BufferState.PLAYING
        assert self._next is not None
        if not self._packets:
            self.stats.underruns += 1
            self.state = BufferState.BUFFERING
            return None
        packet = self._packets.pop(self._next, None)
        self._next += 1
        if packet is None:
            self.stats.lost += 1
            return None
        self.stats.played += 1
        return packet

    def __len__(self) -> int:
        return len(self._packets)
