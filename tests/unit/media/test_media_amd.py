"""Answering-machine detection on synthetic 8 kHz audio (seeded numpy signals, real webrtcvad)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from trunkline.media.amd import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    Beep,
    BeepDetector,
    MachineDetector,
    Vad,
    Verdict,
    frames_for_seconds,
)

F64 = npt.NDArray[np.float64]
I16 = npt.NDArray[np.int16]

VOWELS = (
    ((700.0, 130.0), (1200.0, 150.0), (2600.0, 250.0)),  # /a/
    ((300.0, 80.0), (2300.0, 200.0), (3000.0, 250.0)),  # /i/
    ((500.0, 100.0), (900.0, 120.0), (2500.0, 250.0)),  # /o/
)


def speech(
    seconds: float, rng: np.random.Generator, f0: float = 120.0, level: float = 8000.0
) -> F64:
    """Voiced "speech": harmonics of a wandering f0 shaped by formant envelopes, one vowel per
    syllable (4 per second), each syllable amplitude-modulated."""
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    f0t = f0 * (1.0 + 0.08 * np.sin(2 * np.pi * 0.7 * t) + 0.02 * np.sin(2 * np.pi * 3.1 * t))
    phase = 2 * np.pi * np.cumsum(f0t) / SAMPLE_RATE + rng.uniform(0, 2 * np.pi)
    syllable = (t * 4.0).astype(int) % len(VOWELS)
    sig = np.zeros(n)
    for k in range(1, int(3800 / f0)):
        fk = k * f0t
        amp = np.zeros(n)
        for vi, formants in enumerate(VOWELS):
            m = syllable == vi
            amp[m] = sum(1.0 / (1.0 + ((fk[m] - f) / b) ** 2) for f, b in formants)
        amp[fk > 3900] = 0.0
        sig += amp / np.sqrt(k) * np.sin(k * phase)
    sig *= np.sin(np.pi * (t * 4.0 % 1.0)) ** 0.6
    return np.asarray(sig / np.abs(sig).max() * level)


def noise(seconds: float, rng: np.random.Generator, rms: float = 30.0) -> F64:
    return rng.normal(0.0, rms, int(seconds * SAMPLE_RATE))


def tone(seconds: float, hz: float, level: float = 6000.0) -> F64:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return np.asarray(level * np.sin(2 * np.pi * hz * t))


def to_frames(sig: F64) -> list[I16]:
    pcm = np.clip(np.round(sig), -32768, 32767).astype(np.int16)
    usable = len(pcm) // FRAME_SAMPLES * FRAME_SAMPLES
    return list(pcm[:usable].reshape(-1, FRAME_SAMPLES))


def run_beep(sig: F64) -> tuple[BeepDetector, list[int]]:
    det = BeepDetector()
    hits = [r for f in to_frames(sig) if (r := det.push(f)) is not None]
    return det, hits


def run_amd(sig: F64, det: MachineDetector, vad: Vad | None = None) -> list[Verdict | Beep]:
    vad = vad or Vad(2)
    events: list[Verdict | Beep] = []
    for f in to_frames(sig):
        events += det.push(f, vad.is_speech(f))
    return events


# --- BeepDetector ---


@pytest.mark.parametrize(
    ("hz", "offset_samples"), [(1000.0, 0), (1400.0, 0), (1000.0, 77), (1400.0, 123)]
)
def test_beep_found_at_its_frame_in_noise(hz: float, offset_samples: int) -> None:
    rng = np.random.default_rng(7)
    start = 2.0 + offset_samples / SAMPLE_RATE
    sig = np.concatenate([noise(start, rng), tone(0.3, hz), noise(1.0, rng)])
    sig += rng.normal(0.0, 60.0, len(sig))  # noise under the beep too
    det, hits = run_beep(sig)
    expected = int(start * SAMPLE_RATE) // FRAME_SAMPLES
    assert len(hits) == 1
    assert abs(hits[0] - expected) <= 1
    assert det.beep_frame == hits[0]
    assert det.beep_hz is not None and abs(det.beep_hz - hz) <= 25.0


@pytest.mark.parametrize("hz", [430.0, 812.5, 1962.0])
def test_beep_between_grid_frequencies(hz: float) -> None:
    _, hits = run_beep(np.concatenate([np.zeros(800), tone(0.2, hz)]))
    assert hits == [5]


def test_beep_reported_once_even_when_long_or_repeated() -> None:
    rng = np.random.default_rng(1)
    sig = np.concatenate([tone(1.0, 1000.0), noise(0.5, rng), tone(0.5, 1000.0)])
    _, hits = run_beep(sig)
    assert hits == [0]


def test_short_tone_and_quiet_tone_are_not_beeps() -> None:
    rng = np.random.default_rng(2)
    short = np.concatenate([noise(0.5, rng), tone(0.06, 1000.0), noise(0.5, rng)])
    assert run_beep(short)[1] == []
    quiet = tone(0.5, 1000.0, level=80.0)  # RMS ~57, under the floor
    assert run_beep(quiet)[1] == []


def test_two_tone_signal_is_not_a_beep() -> None:
    dual = tone(0.5, 770.0, 4000.0) + tone(0.5, 1336.0, 4000.0)  # a DTMF "5"
    assert run_beep(dual)[1] == []


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("f0", [100.0, 140.0, 220.0])
def test_speech_gives_no_beep(seed: int, f0: float) -> None:
    rng = np.random.default_rng(seed)
    assert run_beep(speech(3.0, rng, f0=f0))[1] == []


def test_noise_bursts_give_no_beep() -> None:
    rng = np.random.default_rng(3)
    parts = [np.concatenate([noise(0.2, rng, rms=3000.0), noise(0.3, rng)]) for _ in range(6)]
    assert run_beep(np.concatenate(parts))[1] == []


def test_beep_detector_rejects_wrong_frame_size() -> None:
    with pytest.raises(ValueError, match="160"):
        BeepDetector().push(np.zeros(80, dtype=np.int16))


# --- Vad ---


def test_vad_flags_synthetic_speech_and_not_silence() -> None:
    rng = np.random.default_rng(4)
    vad = Vad(2)
    voiced = [vad.is_speech(f) for f in to_frames(speech(2.0, rng))]
    assert sum(voiced) / len(voiced) > 0.9
    silent = [vad.is_speech(f) for f in to_frames(np.zeros(SAMPLE_RATE))]
    assert not any(silent[10:])  # after webrtcvad's hangover of a few frames


def test_vad_warmup_hides_webrtcvad_start_up_flags_on_noise() -> None:
    quiet = to_frames(noise(0.5, np.random.default_rng(12)))
    raw = Vad(2, warmup_frames=0)
    flags = [raw.is_speech(f) for f in quiet]
    assert any(flags[:6])  # webrtcvad's own start-up behaviour
    assert not any(flags[6:])
    vad = Vad(2)
    assert not any(vad.is_speech(f) for f in quiet)


def test_vad_rejects_bad_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        Vad(4)


# --- MachineDetector ---


def test_short_greeting_then_silence_is_human() -> None:
    rng = np.random.default_rng(5)
    sig = np.concatenate([noise(0.5, rng), speech(0.6, rng), noise(3.0, rng)])
    det = MachineDetector(watch_beep=True)
    events = run_amd(sig, det)
    assert len(events) == 1
    v = events[0]
    assert isinstance(v, Verdict) and v.verdict == "human"
    # decided 0.8 s of silence after the greeting (VAD hangover allows a little more)
    assert frames_for_seconds(1.1 + 0.8) <= v.at_frame <= frames_for_seconds(1.1 + 0.8 + 0.3)
    assert det.done


def test_long_continuous_greeting_is_machine_then_beep_start() -> None:
    rng = np.random.default_rng(6)
    beep_at = 0.3 + 4.0 + 0.5
    sig = np.concatenate(
        [noise(0.3, rng), speech(4.0, rng), noise(0.5, rng), tone(0.4, 1400.0), noise(1.0, rng)]
    )
    det = MachineDetector(watch_beep=True, beep_timeout_frames=frames_for_seconds(30))
    events = run_amd(sig, det)
    assert len(events) == 2
    v, b = events
    assert isinstance(v, Verdict) and v.verdict == "machine"
    # 2.5 s of speech after the greeting began at 0.3 s
    assert abs(v.at_frame - frames_for_seconds(0.3 + 2.5)) <= 3
    assert b == Beep("beep_start", round(beep_at * 50))
    assert det.done


def test_machine_without_beep_times_out_at_beep_timeout() -> None:
    rng = np.random.default_rng(8)
    sig = np.concatenate([speech(4.0, rng), noise(8.0, rng)])
    timeout = frames_for_seconds(10)
    det = MachineDetector(watch_beep=True, beep_timeout_frames=timeout)
    events = run_amd(sig, det)
    assert [type(e) for e in events] == [Verdict, Beep]
    assert events[1] == Beep("beep_timeout", timeout)


def test_machine_without_beep_watch_emits_verdict_only() -> None:
    rng = np.random.default_rng(9)
    det = MachineDetector(watch_beep=False)
    events = run_amd(np.concatenate([speech(4.0, rng), tone(0.5, 1000.0)]), det)
    assert len(events) == 1 and isinstance(events[0], Verdict)
    assert events[0].verdict == "machine"
    assert det.done


@pytest.mark.parametrize("rule", ["machine", "human"])
def test_silence_gives_the_no_speech_verdict_at_start_timeout(rule: str) -> None:
    rng = np.random.default_rng(10)
    det = MachineDetector(no_speech_verdict="machine" if rule == "machine" else "human")
    events = run_amd(noise(4.0, rng), det)
    assert events == [Verdict("machine" if rule == "machine" else "human", frames_for_seconds(2.5))]


def test_default_no_speech_rule_is_machine() -> None:
    det = MachineDetector()
    events: list[Verdict | Beep] = []
    for _ in range(200):
        events += det.push(np.zeros(FRAME_SAMPLES, dtype=np.int16), False)
    assert events == [Verdict("machine", frames_for_seconds(2.5))]


def test_beep_before_any_verdict_is_machine_with_beep_start() -> None:
    rng = np.random.default_rng(11)
    sig = np.concatenate([noise(0.4, rng), tone(0.5, 1000.0), noise(1.0, rng)])
    det = MachineDetector(watch_beep=True)
    events = run_amd(sig, det)
    assert events == [Verdict("machine", 20 + 5), Beep("beep_start", 20)]


def test_greeting_with_short_pauses_still_counts_as_one_greeting() -> None:
    # explicit flags: 1 s speech, 0.5 s pause, 1 s speech, 0.5 s pause, 1 s speech → machine
    flags = ([True] * 50 + [False] * 25) * 2 + [True] * 50
    det = MachineDetector()
    frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    events = [e for f in flags for e in det.push(frame, f)]
    assert events == [Verdict("machine", 50 + 25 + 50 + 25 + 25)]


def test_vad_flicker_does_not_start_a_greeting() -> None:
    flags = [False, True, False, False, True, True, False] * 10
    det = MachineDetector(start_timeout_frames=len(flags), no_speech_verdict="human")
    frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    events = [e for f in flags for e in det.push(frame, f)]
    assert events == [Verdict("human", len(flags))]


@pytest.mark.parametrize(("on", "off", "expected"), [(8, 2, "machine"), (3, 7, "human")])
def test_max_decision_time(on: int, off: int, expected: str) -> None:
    # Bursts of speech with pauses under 0.8 s: neither threshold is reached, so the maximum
    # decision time (here 100 frames) ends the analysis; half the machine threshold (60) decides.
    det = MachineDetector(machine_speech_frames=120, max_decision_frames=100)
    flags = ([True] * on + [False] * off) * 10
    frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    events = [e for f in flags for e in det.push(frame, f)]
    assert events == [Verdict("machine" if expected == "machine" else "human", 100)]
