"""ConferenceRecorder: every member's unmuted voice mixed into one recording, through the pump."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from trunkline.clock import VirtualClock
from trunkline.engine.ports import RecordedAudio, RecordingOptions
from trunkline.media.conference import ConferenceRecorder
from trunkline.media.port import FRAME_SAMPLES, FakePort
from trunkline.media.pump import MediaPump

TONES = {"a": 500.0, "b": 700.0, "c": 1100.0}


class KeptRecordings:
    """A RecordingSink that keeps what it is given and reports a size through the clock."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.saved: list[RecordedAudio] = []

    def save(self, audio: RecordedAudio, done: Callable[[int], None]) -> None:
        self.saved.append(audio)
        size = len(audio.pcm()) if audio.pcm is not None else 0
        self.clock.call_soon(lambda: done(size))


def tone_frames(freq: float, ticks: int) -> list[npt.NDArray[np.int16]]:
    t = np.arange(ticks * FRAME_SAMPLES) / 8000
    wave = (np.sin(2 * np.pi * freq * t) * 6000).astype(np.int16)
    return list(wave.reshape(ticks, FRAME_SAMPLES))


def level(samples: npt.NDArray[np.int16], rate: int, freq: float) -> float:
    """The share of the signal's power within 20 Hz of ``freq``."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    hz = np.fft.rfftfreq(len(samples), 1 / rate)
    total = spectrum[hz > 50].sum()
    return float(spectrum[np.abs(hz - freq) < 20].sum() / total) if total else 0.0


def setup(ticks: int) -> tuple[MediaPump, dict[str, FakePort], ConferenceRecorder, KeptRecordings]:
    clock = VirtualClock()
    pump = MediaPump()
    ports = {name: FakePort(name) for name in TONES}
    for name, port in ports.items():
        port.push(*tone_frames(TONES[name], ticks))
        pump.add(port)
    sink = KeptRecordings(clock)
    return pump, ports, ConferenceRecorder(pump, sink, clock), sink


def test_every_member_is_in_the_recording_and_a_muted_one_drops_out() -> None:
    pump, _, rec, sink = setup(200)
    sizes: list[int] = []
    rec.start("CON-1", "rec-1", RecordingOptions(file_id="file-1"), application_id="app")
    rec.set_members("rec-1", ["a", "b", "c"])
    for _ in range(100):
        pump.tick()
    pump.get("c").muted = True  # type: ignore[union-attr]
    for _ in range(100):
        pump.tick()
    rec.stop("rec-1", sizes.append)
    assert isinstance(rec.clock, VirtualClock)
    rec.clock.run()
    (audio,) = sink.saved
    assert audio.file_id == "file-1" and audio.conversation_uuid == "CON-1"
    assert audio.application_id == "app" and audio.channels == 1
    assert audio.sample_rate == 16000 and audio.seconds == 200 * 0.02
    assert audio.pcm is not None
    samples = np.frombuffer(audio.pcm(), dtype="<i2")
    assert sizes == [len(samples) * 2]
    first, second = samples[: len(samples) // 2], samples[len(samples) // 2 :]
    # the first tap takes effect on the first tick: the first 2 s hold all three tones
    for freq in TONES.values():
        assert level(first[1600:], 16000, freq) > 0.2, freq
    assert level(second[1600:], 16000, TONES["a"]) > 0.3
    assert level(second[1600:], 16000, TONES["b"]) > 0.3
    assert level(second[1600:], 16000, TONES["c"]) < 0.01


def test_members_follow_joins_and_leaves_and_stop_removes_the_taps() -> None:
    pump, _, rec, sink = setup(150)
    rec.start("CON-2", "rec-2", RecordingOptions(file_id="file-2", sample_rate=8000))
    rec.set_members("rec-2", ["a", "late"])  # "late" has no media yet
    for _ in range(50):
        pump.tick()
    late = FakePort("late")
    late.push(*tone_frames(1100.0, 100))
    pump.add(late)  # its media starts now: tapped from the next tick
    for _ in range(50):
        pump.tick()
    rec.set_members("rec-2", ["late"])  # "a" left
    for _ in range(50):
        pump.tick()
    recording = rec.active["rec-2"][0]
    assert recording.members == {"late"}
    rec.stop("rec-2", lambda _: None)
    assert recording.members == frozenset()
    assert pump.get("late")._taps == []  # type: ignore[union-attr]
    (audio,) = sink.saved
    assert audio.pcm is not None
    samples = np.frombuffer(audio.pcm(), dtype="<i2")
    n = 50 * FRAME_SAMPLES
    one, two, three = samples[:n], samples[n + 160 : 2 * n], samples[2 * n + 160 :]
    assert level(one, 8000, 500.0) > 0.9
    assert level(two, 8000, 500.0) > 0.3 and level(two, 8000, 1100.0) > 0.3
    assert level(three, 8000, 1100.0) > 0.9 and level(three, 8000, 500.0) < 0.01


def test_stopping_an_unknown_recording_reports_an_empty_file() -> None:
    _, _, rec, sink = setup(1)
    sizes: list[int] = []
    rec.stop("nope", sizes.append)
    assert isinstance(rec.clock, VirtualClock)
    rec.clock.run()
    assert sizes == [0] and sink.saved == []
