"""The sans-I/O WebSocket media protocol: messages, frame codec, playout queue, resampling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trunkline.media.port import SILENCE
from trunkline.wsdoor.protocol import (
    Clear,
    Encoder,
    Ignored,
    Notify,
    Playout,
    WebSocketProtocolError,
    connected_message,
    dtmf_message,
    frame_bytes,
    parse_app_message,
    rate_of,
)
from trunkline.wsdoor.resample import StreamResampler


def tone(freq: float, rate: int, seconds: float, amp: float = 8000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[spectrum.argmax()])


def l16(samples: np.ndarray) -> bytes:
    return samples.astype("<i2").tobytes()


def test_rates_and_frame_sizes() -> None:
    assert rate_of("audio/l16;rate=8000") == 8000
    assert rate_of("audio/L16; rate=16000") == 16000
    assert rate_of("audio/l16;rate=24000") == 24000
    assert [frame_bytes(r) for r in (8000, 16000, 24000)] == [320, 640, 960]
    with pytest.raises(WebSocketProtocolError, match="unsupported"):
        rate_of("audio/pcmu;rate=8000")


def test_connected_message_copies_headers_to_the_top_level() -> None:
    msg = json.loads(connected_message("audio/l16;rate=16000", {"caller": "447700900000", "n": 3}))
    assert msg == {
        "event": "websocket:connected",
        "content-type": "audio/l16;rate=16000",
        "caller": "447700900000",
        "n": 3,
    }
    # a header cannot overwrite the protocol's own keys
    msg = json.loads(connected_message("audio/l16;rate=8000", {"event": "x", "content-type": "y"}))
    assert msg["event"] == "websocket:connected"
    assert msg["content-type"] == "audio/l16;rate=8000"


def test_dtmf_message() -> None:
    assert json.loads(dtmf_message("5", 260)) == {
        "event": "websocket:dtmf",
        "digit": "5",
        "duration": 260,
    }
    with pytest.raises(WebSocketProtocolError):
        dtmf_message("p", 100)


def test_parse_app_messages() -> None:
    assert parse_app_message('{"action":"clear"}') == Clear()
    assert parse_app_message('{"action":"notify","payload":{"a":[1]}}') == Notify({"a": [1]})
    assert isinstance(parse_app_message('{"action":"dance"}'), Ignored)
    assert isinstance(parse_app_message("not json"), Ignored)
    assert isinstance(parse_app_message("[1]"), Ignored)


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
def test_encoder_sends_exact_frames_of_the_tone(rate: int) -> None:
    enc = Encoder(rate)
    source = tone(1000, 8000, 1.0)
    out = [enc.encode(source[i : i + 160]) for i in range(0, source.size, 160)]
    assert {len(b) for b in out} == {frame_bytes(rate)}
    wire = np.frombuffer(b"".join(out), dtype="<i2")
    body = wire[rate // 10 :]  # past the filter's start-up
    assert peak_hz(body, rate) == pytest.approx(1000, abs=5)
    assert body.std() == pytest.approx(source.std(), rel=0.02)
    assert enc.encode(SILENCE) == bytes(frame_bytes(rate))


@pytest.mark.parametrize("rate", [16000, 24000])
def test_stream_resampler_is_continuous_across_frames(rate: int) -> None:
    """Frame by frame equals all at once: no clicks at frame edges."""
    source = tone(700, 8000, 0.5)
    whole = StreamResampler(8000, rate).process(source)
    framed = StreamResampler(8000, rate)
    pieces = np.concatenate([framed.process(source[i : i + 160]) for i in range(0, 4000, 160)])
    assert np.array_equal(whole, pieces)
    down = StreamResampler(rate, 8000)
    back = np.concatenate(
        [down.process(pieces[i : i + rate // 50]) for i in range(0, pieces.size, rate // 50)]
    )
    assert back.size == source.size
    assert peak_hz(back[800:], 8000) == pytest.approx(700, abs=5)
    assert back[800:].std() == pytest.approx(source.std(), rel=0.02)


def test_playout_downsamples_and_hands_out_one_frame_a_tick() -> None:
    p = Playout(16000)
    audio = tone(1000, 16000, 0.2)
    for i in range(0, audio.size, 320):
        p.push_audio(l16(audio[i : i + 320]))
    assert p.queued_frames == 10
    frames = [p.pop()[0] for _ in range(10)]
    assert all(f is not None and f.size == 160 for f in frames)
    assert p.pop() == (None, [])
    assert p.stats.frames_in == 10 and p.stats.frames_played == 10 and p.stats.ran_dry == 1
    joined = np.concatenate([f for f in frames if f is not None])
    assert peak_hz(joined[400:], 8000) == pytest.approx(1000, abs=10)


def test_playout_rechunks_wrong_size_messages() -> None:
    p = Playout(8000)
    data = l16(np.arange(480, dtype=np.int16))  # 3 frames' worth
    p.push_audio(data[:100])  # odd pieces
    p.push_audio(data[100:501])
    p.push_audio(data[501:])
    assert p.queued_frames == 3
    assert p.stats.odd_frames == 3
    got = np.concatenate([p.pop()[0] for _ in range(3)])  # type: ignore[misc]
    assert np.array_equal(got, np.arange(480, dtype=np.int16))


def test_playout_is_bounded_and_counts_overflow() -> None:
    p = Playout(8000, max_frames=5)
    for _ in range(8):
        p.push_audio(bytes(320))
    assert p.queued_frames == 5
    assert p.stats.overflow == 3


def test_notify_is_due_once_the_audio_before_it_has_played() -> None:
    p = Playout(8000)
    p.push_audio(bytes(320) * 1)
    p.push_audio(bytes(320))
    p.push_notify({"n": 1})
    p.push_audio(bytes(320))
    ticks = [p.pop()[1] for _ in range(4)]
    # frame, frame, (the second frame has had its tick) notify + the third frame, nothing
    assert ticks == [[], [], [{"n": 1}], []]


def test_notify_with_nothing_queued_is_due_next_tick() -> None:
    p = Playout(8000)
    p.push_notify("now")
    assert p.pop() == (None, ["now"])


def test_clear_drops_audio_and_answers_pending_notifies() -> None:
    p = Playout(8000)
    for _ in range(4):
        p.push_audio(bytes(320))
    p.push_notify({"after": "speech"})
    assert p.clear() == [{"after": "speech"}]
    assert p.queued_frames == 0
    assert p.stats.cleared == 4
    assert p.pop() == (None, [])
