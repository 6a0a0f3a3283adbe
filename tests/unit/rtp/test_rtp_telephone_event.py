"""RFC 4733 telephone-events: payload codec, sender packets and the digit receiver."""

from __future__ import annotations

import random

import pytest

from trunkline.rtp.packet import RtpError
from trunkline.rtp.telephone_event import (
    DIGIT_EVENTS,
    DigitPressed,
    TelephoneEvent,
    TelephoneEventReceiver,
    press_payloads,
)


def test_payload_golden() -> None:
    # RFC 4733 §2.3: event 5, E=1, volume 10, duration 800 (100 ms at 8 kHz).
    assert bytes(TelephoneEvent(5, end=True, volume=10, duration=800)) == b"\x05\x8a\x03\x20"
    assert TelephoneEvent.parse(b"\x0b\x0a\x00\xa0") == TelephoneEvent(11, False, 10, 160)
    assert TelephoneEvent.parse(b"\x0b\x0a\x00\xa0").digit == "#"
    assert TelephoneEvent(16).digit is None  # flash, not a DTMF digit


def test_reserved_bit_is_ignored_on_parse() -> None:
    assert TelephoneEvent.parse(b"\x01\xca\x00\x10") == TelephoneEvent(1, True, 10, 16)


def test_all_digits_round_trip() -> None:
    assert sorted(DIGIT_EVENTS.values()) == list(range(16))
    for digit, code in DIGIT_EVENTS.items():
        event = TelephoneEvent(code, volume=63, duration=0xFFFF)
        assert TelephoneEvent.parse(bytes(event)) == event
        assert event.digit == digit


@pytest.mark.parametrize(
    "make",
    [
        lambda: TelephoneEvent.parse(b"\x01\x0a\x00"),
        lambda: TelephoneEvent(256),
        lambda: TelephoneEvent(1, volume=64),
        lambda: TelephoneEvent(1, duration=0x10000),
        lambda: press_payloads("x", 800),
        lambda: press_payloads("1", 100),
    ],
)
def test_invalid_events(make: object) -> None:
    with pytest.raises(RtpError):
        make()  # type: ignore[operator]


def test_press_payloads_updates_then_three_ends() -> None:
    payloads = press_payloads("7", 800, packet_duration=160, volume=12)
    assert [p.duration for p in payloads] == [160, 320, 480, 640, 800, 800, 800]
    assert [p.end for p in payloads] == [False] * 4 + [True] * 3
    assert {p.event for p in payloads} == {7}
    assert {p.volume for p in payloads} == {12}


def _stream(digits: str, start: int = 1000) -> list[tuple[int, bytes]]:
    """(timestamp, payload) of a sender pressing each digit for 100 ms, 100 ms apart."""
    packets = []
    for i, digit in enumerate(digits):
        timestamp = (start + i * 1600) & 0xFFFFFFFF
        packets += [(timestamp, bytes(p)) for p in press_payloads(digit, 800)]
    return packets


def _receive(packets: list[tuple[int, bytes]]) -> list[DigitPressed]:
    receiver = TelephoneEventReceiver()
    return [d for ts, payload in packets if (d := receiver.feed(ts, payload)) is not None]


def test_one_digit_per_press_including_repeated_keys() -> None:
    got = _receive(_stream("1155#*"))
    assert "".join(d.digit for d in got) == "1155#*"
    assert [d.timestamp for d in got] == [1000 + i * 1600 for i in range(6)]
    assert {d.volume for d in got} == {10}


def test_press_whose_start_packets_were_lost_is_still_reported() -> None:
    packets = _stream("9")
    assert [d.digit for d in _receive(packets[-3:])] == ["9"]


def test_duplicates_reordering_and_late_packets() -> None:
    rng = random.Random(4733)
    packets = _stream("0123456789ABCD*#", start=0xFFFFF000)  # timestamps wrap past 2**32
    noisy: list[tuple[int, bytes]] = []
    for packet in packets:
        noisy += [packet] * rng.choice((1, 1, 2))
    # Swap neighbours within a press; a late end packet of the previous press arrives
    # after the next press has started.
    for i in range(0, len(noisy) - 1, 5):
        noisy[i], noisy[i + 1] = noisy[i + 1], noisy[i]
    got = _receive(noisy)
    assert "".join(d.digit for d in got) == "0123456789ABCD*#"


def test_non_dtmf_events_are_ignored() -> None:
    receiver = TelephoneEventReceiver()
    assert receiver.feed(500, bytes(TelephoneEvent(16, duration=160))) is None
    assert receiver.feed(660, bytes(TelephoneEvent(3, duration=160))) == DigitPressed("3", 660, 10)


def test_history_is_bounded() -> None:
    receiver = TelephoneEventReceiver(history=2)
    payload = bytes(TelephoneEvent(1, duration=160))
    assert receiver.feed(1, payload) is not None
    assert receiver.feed(2, payload) is not None
    assert receiver.feed(3, payload) is not None
    assert receiver.feed(1, payload) is not None  # forgotten, so taken as a new press
    assert receiver.feed(3, payload) is None
