"""The jitter buffer under reordering, duplication, loss and late packets (seeded RNG)."""

from __future__ import annotations

import random

import pytest

from trunkline.rtp.jitter import BufferState, JitterBuffer
from trunkline.rtp.packet import RtpPacket


def packet(sequence: int) -> RtpPacket:
    return RtpPacket(
        payload_type=0,
        sequence_number=sequence & 0xFFFF,
        timestamp=(sequence * 160) & 0xFFFFFFFF,
        ssrc=7,
        payload=bytes(160),
    )


def run(
    count: int,
    *,
    seed: int,
    max_delay: int,
    loss: float,
    duplicate: float,
    depth: int,
    first: int = 0,
) -> tuple[JitterBuffer, list[int | None], set[int]]:
    """Send ``count`` packets one per tick through a network that delays each by 0..max_delay
    ticks, drops and duplicates some; pop once per tick. Returns the buffer, the sequence
    numbers played per tick (None for a silent tick) and the dropped sequence numbers."""
    rng = random.Random(seed)
    arrivals: dict[int, list[RtpPacket]] = {}
    dropped: set[int] = set()
    for i in range(count):
        sequence = (first + i) & 0xFFFF
        if 0 < i < count - 1 and rng.random() < loss:
            dropped.add(sequence)
            continue
        copies = 2 if rng.random() < duplicate else 1
        for _ in range(copies):
            arrivals.setdefault(i + rng.randint(0, max_delay), []).append(packet(first + i))
    buffer = JitterBuffer(depth=depth)
    played: list[int | None] = []
    for tick in range(count + max_delay + depth + 2):
        for p in arrivals.get(tick, []):
            buffer.insert(p)
        out = buffer.pop()
        played.append(None if out is None else out.sequence_number)
    return buffer, played, dropped


@pytest.mark.parametrize("seed", [1, 2, 3, 3550])
@pytest.mark.parametrize("first", [0, 65500])  # the second run wraps the sequence number
def test_reorders_dedups_and_counts_loss(seed: int, first: int) -> None:
    buffer, played, dropped = run(
        500, seed=seed, max_delay=2, loss=0.03, duplicate=0.05, depth=3, first=first
    )
    sequences = [s for s in played if s is not None]
    expected = [(first + i) & 0xFFFF for i in range(500) if (first + i) & 0xFFFF not in dropped]
    assert sequences == expected
    assert buffer.stats.played == len(expected)
    assert buffer.stats.lost == len(dropped)
    assert buffer.stats.late == 0
    assert buffer.stats.duplicates > 0
    assert len(buffer) == 0


def test_too_little_depth_shows_late_packets() -> None:
    buffer, played, dropped = run(500, seed=9, max_delay=4, loss=0.0, duplicate=0.0, depth=1)
    sequences = [s for s in played if s is not None]
    assert sequences == sorted(set(sequences))  # still in order, never repeated
    assert buffer.stats.late > 0
    assert buffer.stats.played + buffer.stats.late == 500
    assert not dropped


def test_buffers_before_playing_and_after_an_underrun() -> None:
    buffer = JitterBuffer(depth=2)
    buffer.insert(packet(11))
    assert buffer.pop() is None
    assert buffer.state is BufferState.BUFFERING
    buffer.insert(packet(10))
    assert [p.sequence_number for p in (buffer.pop(), buffer.pop()) if p] == [10, 11]
    assert buffer.pop() is None  # nothing left: an underrun
    assert buffer.stats.underruns == 1
    assert buffer.state is BufferState.BUFFERING
    buffer.insert(packet(14))
    buffer.insert(packet(15))
    out = buffer.pop()
    assert out is not None and out.sequence_number == 14
    assert buffer.stats.lost == 2  # 12 and 13 never came
    buffer.insert(packet(12))
    assert buffer.stats.late == 1


def test_a_large_jump_restarts_the_stream() -> None:
    buffer = JitterBuffer(depth=1, capacity=16)
    buffer.insert(packet(100))
    assert buffer.pop() is not None
    buffer.insert(packet(30000))
    assert buffer.stats.resets == 1
    out = buffer.pop()
    assert out is not None and out.sequence_number == 30000
    assert buffer.stats.lost == 0


def test_depth_must_fit_capacity() -> None:
    with pytest.raises(ValueError, match="depth"):
        JitterBuffer(depth=0)
    with pytest.raises(ValueError, match="depth"):
        JitterBuffer(depth=10, capacity=5)
