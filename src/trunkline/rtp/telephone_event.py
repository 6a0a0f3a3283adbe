"""RFC 4733 telephone-events: the 4-octet payload, the packets a sender emits for one key
press, and a receiver that turns a stream of event packets into one digit per press.

Payload (RFC 4733 §2.3)::

    |     event     |E|R| volume    |          duration             |
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from trunkline.rtp.packet import RtpError

#: DTMF event codes (RFC 4733 §3.2, table 1).
DIGIT_EVENTS: dict[str, int] = {
    **{str(d): d for d in range(10)},
    "*": 10,
    "#": 11,
    "A": 12,
    "B": 13,
    "C": 14,
    "D": 15,
}
EVENT_DIGITS: dict[int, str] = {code: digit for digit, code in DIGIT_EVENTS.items()}

_PAYLOAD = struct.Struct("!BBH")
END_REPEATS = 3  # RFC 4733 §2.5.1.4: the final packet is sent three times


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One telephone-event payload. ``volume`` is the power in -dBm0 (0–63);
    ``duration`` is in timestamp units since the event's RTP timestamp."""

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    SIZE = _PAYLOAD.size

    def __post_init__(self) -> None:
        if not 0 <= self.event <= 0xFF:
            raise RtpError(f"event code {self.event} is outside 0..255")
        if not 0 <= self.volume <= 63:
            raise RtpError(f"volume {self.volume} is outside 0..63")
        if not 0 <= self.duration <= 0xFFFF:
            raise RtpError(f"duration {self.duration} is outside 0..65535")

    @property
    def digit(self) -> str | None:
        """The DTMF digit of this event, or ``None`` for a non-DTMF event."""
        return EVENT_DIGITS.get(self.event)

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        """Decode a 4-octet payload (only the first event of a longer payload)."""
        if len(payload) < cls.SIZE:
            raise RtpError(f"telephone-event payload of {len(payload)} octets, expected 4")
        event, flags, duration = _PAYLOAD.unpack_from(payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def __bytes__(self) -> bytes:
        flags = (0x80 if self.end else 0) | self.volume
        return _PAYLOAD.pack(self.event, flags, self.duration)


def press_payloads(
    digit: str, duration: int, *, packet_duration: int = 160, volume: int = 10
) -> list[TelephoneEvent]:
    """The payloads a sender emits for one key press lasting ``duration`` timestamp units:
    one update every ``packet_duration`` units, then the end packet three times. All share
    the event's RTP timestamp; the first goes out with the marker bit (RFC 4733 §2.5.1)."""
    if digit not in DIGIT_EVENTS:
        raise RtpError(f"{digit!r} is not a DTMF digit")
    if not 0 < packet_duration <= duration <= 0xFFFF:
        raise RtpError(f"duration {duration} must be in {packet_duration}..65535")
    event = DIGIT_EVENTS[digit]
    updates = [
        TelephoneEvent(event, False, volume, elapsed)
        for elapsed in range(packet_duration, duration, packet_duration)
    ]
    final = TelephoneEvent(event, True, volume, duration)
    return [*updates, *([final] * END_REPEATS)]


@dataclass(frozen=True, slots=True)
class DigitPressed:
    """A key press the receiver reports once, at its first packet."""

    digit: str
    timestamp: int
    volume: int


class TelephoneEventReceiver:
    """Turn telephone-event packets into one :class:`DigitPressed` per key press.

    A press is keyed by its RTP timestamp (RFC 4733 §2.5.2.1): repeats, updates and the
    three end packets share it, so only the first packet of a new timestamp reports a
    digit — even when the start packets were lost. Late packets of earlier presses are
    recognised from a short history of timestamps and ignored. Non-DTMF events are ignored.
    """

    def __init__(self, history: int = 16) -> None:
        self._seen: deque[int] = deque(maxlen=history)

    def feed(self, timestamp: int, payload: bytes) -> DigitPressed | None:
        """Take one packet's RTP timestamp and payload; return a digit for a new press."""
        event = TelephoneEvent.parse(payload)
        if timestamp in self._seen:
            return None
        self._seen.append(timestamp)
        digit = event.digit
        if digit is None:
            return None
        return DigitPressed(digit, timestamp, event.volume)
