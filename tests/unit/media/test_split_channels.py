"""``split: "conversation"`` with N channels on a real media pump driven by hand.

Every party is a :class:`FakePort` speaking a tone of its own; the recorded leg hears the
others through the pump (``set_hearing``). Each channel of the finished WAV is checked by
FFT: which tones are in it, which are not.
"""

from __future__ import annotations

import io
import wave

import numpy as np
import numpy.typing as npt
import pytest

from trunkline.media.port import FakePort
from trunkline.media.pump import MediaPump
from trunkline.media.recording import RecordingError, RecordingWriter
from trunkline.media.split import ConversationTap, tap_conversation

Frame = npt.NDArray[np.int16]
RATE = 8000
TONES = {"a": 400.0, "b": 700.0, "c": 1000.0, "d": 1300.0, "e": 1600.0}


def frames_of(freq: float, count: int, amplitude: float = 6000.0) -> list[Frame]:
    t = np.arange(160 * count) / RATE
    wave_ = np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return [wave_[i * 160 : (i + 1) * 160] for i in range(count)]


def band(samples: npt.NDArray[np.int16], freq: float) -> float:
    """The share of the signal's energy within ±30 Hz of ``freq``."""
    x = samples.astype(np.float64)
    if not np.any(x):
        return 0.0
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    hz = np.fft.rfftfreq(x.size, 1 / RATE)
    return float(spectrum[np.abs(hz - freq) <= 30].sum() / spectrum.sum())


def holds(samples: npt.NDArray[np.int16]) -> set[str]:
    """The parties whose tone carries at least 10 % of the energy of ``samples``."""
    return {name for name, hz in TONES.items() if band(samples, hz) > 0.1}


def read_wav(data: bytes) -> npt.NDArray[np.int16]:
    with wave.open(io.BytesIO(data), "rb") as w:
        assert w.getframerate() == RATE
        channels = w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.reshape(-1, channels).T.astype(np.int16)


class Party:
    def __init__(self, pump: MediaPump, name: str) -> None:
        self.port = FakePort(name)
        self.lm = pump.add(self.port)
        self.name = name

    def speak(self, ticks: int) -> None:
        self.port.push(*frames_of(TONES[self.name], ticks))


def conversation(pump: MediaPump, names: list[str]) -> dict[str, Party]:
    parties = {name: Party(pump, name) for name in names}
    for name in names:
        pump.set_hearing(name, [other for other in names if other != name])
    return parties


def run(pump: MediaPump, parties: dict[str, Party], ticks: int) -> None:
    for party in parties.values():
        party.speak(ticks)
    for _ in range(ticks):
        pump.tick()


def record(
    names: list[str], channels: int, ticks: int = 50
) -> tuple[npt.NDArray[np.int16], ConversationTap]:
    pump = MediaPump()
    parties = conversation(pump, names)
    writer = RecordingWriter(channels, RATE, file_rate=RATE)
    tap = ConversationTap(pump, parties["a"].lm, writer, order=lambda: names)
    run(pump, parties, ticks)
    tap.close()
    return read_wav(writer.finish("wav")), tap


@pytest.mark.parametrize("names", [["a", "b", "c"], ["a", "b", "c", "d"]])
def test_each_participant_has_a_channel_of_its_own(names: list[str]) -> None:
    audio, tap = record(names, channels=4)
    assert audio.shape == (4, 50 * 160)
    assert [tap.channel_of(name) for name in names[1:]] == list(range(1, len(names)))
    for channel, name in enumerate(names):
        assert holds(audio[channel]) == {name}, (channel, name)
    if len(names) == 3:
        assert not np.any(audio[3])  # the spare channel stays silent


def test_participants_beyond_the_channels_are_mixed_into_the_last() -> None:
    names = ["a", "b", "c", "d", "e"]
    audio, tap = record(names, channels=3)
    assert audio.shape == (3, 50 * 160)
    assert holds(audio[0]) == {"a"}
    assert holds(audio[1]) == {"b"}
    assert holds(audio[2]) == {"c", "d", "e"}
    assert [tap.channel_of(n) for n in names] == [None, 1, 2, 2, 2]


def test_newcomers_in_one_tick_follow_the_order_hint() -> None:
    names = ["a", "b", "c", "d"]
    pump = MediaPump()
    parties = conversation(pump, names)
    writer = RecordingWriter(4, RATE, file_rate=RATE)
    tap = ConversationTap(pump, parties["a"].lm, writer, order=lambda: ["d", "b", "c"])
    assert [tap.channel_of(n) for n in "bcd"] == [2, 3, 1]
    run(pump, parties, 20)
    tap.close()
    audio = read_wav(writer.finish("wav"))
    assert [holds(ch) for ch in audio] == [{"a"}, {"d"}, {"b"}, {"c"}]


def test_a_participant_joining_later_gets_the_next_channel_from_then_on() -> None:
    pump = MediaPump()
    parties = conversation(pump, ["a", "b"])
    writer = RecordingWriter(4, RATE, file_rate=RATE)
    stop = tap_conversation(pump, parties["a"].lm, writer)
    run(pump, parties, 30)
    parties["c"] = Party(pump, "c")
    for name in parties:
        pump.set_hearing(name, [other for other in parties if other != name])
    run(pump, parties, 30)
    stop()
    run(pump, parties, 10)  # stopped: nothing more is recorded
    audio = read_wav(writer.finish("wav"))
    assert audio.shape == (4, 60 * 160)
    before, after = slice(0, 30 * 160), slice(31 * 160, 60 * 160)
    assert holds(audio[0][before]) == {"a"} and holds(audio[0][after]) == {"a"}
    assert holds(audio[1][before]) == {"b"} and holds(audio[1][after]) == {"b"}
    assert not np.any(audio[2][before]), "c was not there yet"
    assert holds(audio[2][after]) == {"c"}
    assert not np.any(audio[3])


def test_a_muted_or_departed_participant_is_silent_and_keeps_its_channel() -> None:
    pump = MediaPump()
    parties = conversation(pump, ["a", "b", "c"])
    writer = RecordingWriter(4, RATE, file_rate=RATE)
    tap = ConversationTap(pump, parties["a"].lm, writer, order=lambda: ["b", "c"])
    run(pump, parties, 20)
    parties["b"].lm.muted = True  # the pump leaves b out of what a hears
    run(pump, parties, 20)
    parties["b"].lm.muted = False
    pump.remove("c")  # c hangs up ...
    pump.set_hearing("a", ["b"])
    del parties["c"]
    run(pump, parties, 20)
    parties["c"] = Party(pump, "c")  # ... and calls back into the conversation
    pump.set_hearing("a", ["b", "c"])
    run(pump, parties, 20)
    tap.close()
    audio = read_wav(writer.finish("wav"))
    windows = [slice(i * 3200 + 160, (i + 1) * 3200) for i in range(4)]
    assert [holds(audio[1][w]) for w in windows] == [{"b"}, set(), {"b"}, {"b"}]
    assert [holds(audio[2][w]) for w in windows] == [{"c"}, {"c"}, set(), {"c"}]
    assert tap.channel_of("c") == 2 and not np.any(audio[3])
    assert all(holds(audio[0][w]) == {"a"} for w in windows)


def test_an_earmuffed_leg_records_itself_only_and_levels_apply() -> None:
    pump = MediaPump()
    parties = conversation(pump, ["a", "b", "c"])
    pump.mixer.set_level("c", -1.0)  # a tenth of the amplitude to whoever hears c
    writer = RecordingWriter(3, RATE, file_rate=RATE)
    tap = ConversationTap(pump, parties["a"].lm, writer, order=lambda: ["b", "c"])
    run(pump, parties, 20)
    parties["a"].lm.earmuffed = True
    run(pump, parties, 20)
    tap.close()
    audio = read_wav(writer.finish("wav"))
    first, second = slice(160, 3200), slice(3360, 6400)
    peak_b = np.abs(audio[1][first]).max()
    peak_c = np.abs(audio[2][first]).max()
    assert peak_c == pytest.approx(peak_b / 10, rel=0.05)
    assert not np.any(audio[1][second]) and not np.any(audio[2][second])
    assert holds(audio[0][second]) == {"a"}
    # what the recorded leg was sent matches channels 1 + 2 while it heard them
    sent = np.concatenate(parties["a"].port.sent[1:20]).astype(np.int32)
    assert np.array_equal(sent, audio[1][160:3200].astype(np.int32) + audio[2][160:3200])


def test_the_writer_must_run_at_the_pumps_rate() -> None:
    pump = MediaPump()
    lm = pump.add(FakePort("a"))
    with pytest.raises(RecordingError):
        ConversationTap(pump, lm, RecordingWriter(3, 16000))


def test_a_leg_whose_media_comes_back_is_tapped_again() -> None:
    """c's media leaves the pump and comes back while a's hearing set stays the same."""
    pump = MediaPump()
    parties = conversation(pump, ["a", "b", "c"])
    writer = RecordingWriter(3, RATE, file_rate=RATE)
    tap = ConversationTap(pump, parties["a"].lm, writer, order=lambda: ["b", "c"])
    run(pump, parties, 10)
    pump.remove("c")
    del parties["c"]
    run(pump, parties, 10)
    parties["c"] = Party(pump, "c")
    run(pump, parties, 10)
    tap.close()
    audio = read_wav(writer.finish("wav"))
    windows = [slice(i * 1600 + 160, (i + 1) * 1600) for i in range(3)]
    assert [holds(audio[2][w]) for w in windows] == [{"c"}, set(), {"c"}]
    assert all(holds(audio[1][w]) == {"b"} for w in windows)
