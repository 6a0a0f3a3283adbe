"""Recordings: frames in, real WAV/MP3 files out (read back with wave and miniaudio)."""

from __future__ import annotations

import functools
import io
import wave

import numpy as np
import numpy.typing as npt
import pytest

from trunkline.media.audio import decode_audio
from trunkline.media.port import FakePort
from trunkline.media.pump import MediaPump
from trunkline.media.recording import (
    RecordingError,
    RecordingWriter,
    SilenceWatch,
    beep,
    tap_leg,
)

Frame = npt.NDArray[np.int16]


def tone(freq: float, samples: int = 160, amplitude: float = 8000.0) -> Frame:
    t = np.arange(samples) / 8000.0
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def frames_of(freq: float, count: int) -> list[Frame]:
    wave_ = tone(freq, 160 * count)
    return [wave_[i * 160 : (i + 1) * 160] for i in range(count)]


def peak_hz(samples: npt.NDArray[np.int16], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * rate / samples.size)


def read_wav(data: bytes) -> tuple[npt.NDArray[np.int16], int]:
    with wave.open(io.BytesIO(data), "rb") as w:
        channels, rate = w.getnchannels(), w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.reshape(-1, channels).T.astype(np.int16), rate


def test_a_mono_wav_at_16_khz() -> None:
    writer = RecordingWriter(1, 8000)  # file_rate 16 kHz, as Vonage records
    for frame in frames_of(700.0, 50):
        writer.write([frame])
    assert writer.seconds == pytest.approx(1.0)
    audio, rate = read_wav(writer.finish("wav"))
    assert rate == 16000 and audio.shape == (1, 16000)
    assert peak_hz(audio[0], 16000) == pytest.approx(700.0, abs=2)


def test_an_mp3_reads_back() -> None:
    writer = RecordingWriter(1, 8000, file_rate=16000)
    for frame in frames_of(1000.0, 100):
        writer.write([frame])
    data = writer.finish("mp3")
    assert data[:3] == b"ID3" or data[0] == 0xFF
    audio = decode_audio(data, 16000)
    assert abs(audio.size - 32000) < 3000
    assert peak_hz(audio, 16000) == pytest.approx(1000.0, abs=3)


async def test_a_stereo_mp3_off_the_loop() -> None:
    writer = RecordingWriter(2, 8000, file_rate=8000)
    for left, right in zip(frames_of(500.0, 50), frames_of(1500.0, 50), strict=True):
        writer.write([left, right])
    data = await writer.finish_async("mp3")
    assert len(data) > 1000
    assert decode_audio(data, 8000).size > 7000


def test_thirty_two_channels_in_a_wav() -> None:
    writer = RecordingWriter(32, 8000, file_rate=8000)
    freqs = [200.0 + 100.0 * c for c in range(32)]
    streams = [frames_of(f, 10) for f in freqs]
    for tick in range(10):
        writer.write([streams[c][tick] for c in range(32)])
    audio, rate = read_wav(writer.finish("wav"))
    assert rate == 8000 and audio.shape == (32, 1600)
    assert [peak_hz(audio[c], 8000) for c in range(32)] == pytest.approx(freqs, abs=6)
    with pytest.raises(RecordingError, match="MP3 carries 1 or 2"):
        writer.finish("mp3")


def test_put_mixes_into_channels_and_overflow_goes_to_the_last() -> None:
    writer = RecordingWriter(2, 8000, file_rate=8000)
    writer.put(0, tone(400.0))
    writer.put(1, tone(900.0))
    writer.put(5, tone(1300.0))  # a third participant: into the last channel
    writer.commit()
    writer.commit()  # a tick where nobody spoke
    audio = writer.samples()
    assert audio.shape == (2, 320)
    right = np.abs(np.fft.rfft(audio[1, :160].astype(np.float64)))
    assert right[18] > 1e5 and right[26] > 1e5  # 900 and 1300 Hz (50 Hz bins)
    assert not audio[:, 160:].any()


def test_bad_input_is_refused() -> None:
    with pytest.raises(RecordingError, match="channels"):
        RecordingWriter(33)
    with pytest.raises(RecordingError, match="rates"):
        RecordingWriter(1, 44100)
    writer = RecordingWriter(1)
    with pytest.raises(RecordingError, match="shape"):
        writer.write([np.zeros(80, dtype=np.int16)])
    with pytest.raises(RecordingError, match="2 frames for 1"):
        writer.write([tone(100.0), tone(100.0)])
    with pytest.raises(RecordingError, match="format"):
        writer.finish("ogg")


def test_max_seconds_bounds_memory() -> None:
    writer = RecordingWriter(1, 8000, max_seconds=0.1)
    for frame in frames_of(300.0, 8):
        writer.write([frame])
    assert writer.full and writer.seconds == pytest.approx(0.1)


@pytest.mark.parametrize("split", [False, True], ids=["mono", "split"])
def test_tap_leg_records_what_the_caller_says_and_hears(split: bool) -> None:
    pump = MediaPump()
    port = FakePort("caller")
    lm = pump.add(port)
    writer = RecordingWriter(2 if split else 1, 8000, file_rate=8000)
    stop = tap_leg(lm, writer, split=split)
    lm.play(tone(900.0, 160 * 30))
    port.push(*frames_of(400.0, 20))  # the caller speaks for 20 ticks
    for _ in range(30):
        pump.tick()
    stop()
    pump.tick()  # not recorded
    audio = writer.samples()
    assert audio.shape[1] == 30 * 160
    if split:
        assert peak_hz(audio[0, : 20 * 160], 8000) == pytest.approx(400.0, abs=3)
        assert not audio[0, 20 * 160 :].any()
        assert peak_hz(audio[1], 8000) == pytest.approx(900.0, abs=3)
    else:
        spectrum = np.abs(np.fft.rfft(audio[0, : 20 * 160].astype(np.float64)))
        assert spectrum[160] > 1e6 and spectrum[360] > 1e6  # 2.5 Hz bins: 400 and 900 Hz


def test_silence_watch_waits_for_speech_then_silence() -> None:
    watch = SilenceWatch(3.0)
    quiet = np.zeros(160, dtype=np.int16)
    loud = tone(300.0, amplitude=3000.0)
    assert not any(watch.push(quiet) for _ in range(500))  # nobody spoke: never ends
    assert not watch.push(loud) and not watch.push(loud)  # a click is not speech
    assert not any(watch.push(quiet) for _ in range(200)) and not watch.spoke
    for _ in range(10):
        assert not watch.push(loud)
    assert watch.spoke
    ended = [watch.push(quiet) for _ in range(160)]
    assert ended.index(True) == 149 and ended.count(True) == 1  # 150 frames = 3 s


def test_silence_watch_takes_a_vad_flag() -> None:
    watch = SilenceWatch(0.4, min_speech_frames=1)
    loud = tone(300.0, amplitude=3000.0)
    assert not watch.push(loud, is_speech=False)  # the VAD says no: energy is ignored
    assert not watch.spoke
    watch.push(np.zeros(160, dtype=np.int16), is_speech=True)
    results = [watch.push(loud, is_speech=False) for _ in range(20)]
    assert results.index(True) == 19
    with pytest.raises(RecordingError):
        SilenceWatch(0)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_the_beep(rate: int) -> None:
    samples = beep(rate)
    assert samples.size == round(0.4 * rate) and samples.dtype == np.int16
    assert peak_hz(samples, rate) == pytest.approx(1000.0, abs=3)
    assert abs(int(samples[0])) < 200 and abs(int(samples[-1])) < 200  # ramps, no click
    assert np.abs(samples).max() == pytest.approx(16384, rel=0.01)


def test_a_conversation_split_recording_through_taps_and_the_tick_listener() -> None:
    """record split=conversation, channels=2 with three legs: caller left, the callee right,
    the third party (beyond the channels) mixed into the last channel."""
    pump = MediaPump()
    ports = {name: FakePort(name) for name in ("caller", "callee", "third")}
    writer = RecordingWriter(2, 8000, file_rate=8000)
    for channel, (name, port) in enumerate(ports.items()):
        lm = pump.add(port)
        lm.add_tap(functools.partial(writer.put, channel))
        pump.set_hearing(name, [other for other in ports if other != name])
    pump.add_tick_listener(writer.commit)
    for name, freq in (("caller", 400.0), ("callee", 900.0), ("third", 1300.0)):
        ports[name].push(*frames_of(freq, 10))
    for _ in range(10):
        pump.tick()
    left, right = writer.samples()
    assert left.size == right.size == 1600
    assert peak_hz(left, 8000) == pytest.approx(400.0, abs=3)
    spectrum = np.abs(np.fft.rfft(right.astype(np.float64)))  # 5 Hz bins
    assert spectrum[180] > 1e6 and spectrum[260] > 1e6 and spectrum[80] < 1e4
