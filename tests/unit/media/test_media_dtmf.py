"""In-band DTMF detection on synthesised tones, noise and speech-like signals."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from trunkline.media.dtmf import (
    COLUMN_HZ,
    DIGIT_FREQUENCIES,
    ROW_HZ,
    DtmfDetector,
    DtmfDigit,
    DtmfSettings,
    GoertzelBank,
    classify,
)

RATE = 8000
FRAME = 160
Signal = npt.NDArray[np.float64]


def tone(
    digit: str, ms: float, *, row_amp: float = 5000, column_amp: float = 5000, detune: float = 1.0
) -> Signal:
    low, high = DIGIT_FREQUENCIES[digit]
    t = np.arange(round(RATE * ms / 1000)) / RATE
    return row_amp * np.sin(2 * np.pi * low * detune * t) + column_amp * np.sin(
        2 * np.pi * high * detune * t + 1.0
    )


def silence(ms: float) -> Signal:
    return np.zeros(round(RATE * ms / 1000))


def detect(signal: Signal, settings: DtmfSettings | None = None) -> list[DtmfDigit]:
    """Run the detector over ``signal`` (padded with 60 ms of silence) in 20 ms frames."""
    padded = np.concatenate((signal, np.zeros((-len(signal)) % FRAME + 3 * FRAME)))
    samples = np.clip(np.round(padded), -32768, 32767).astype(np.int16)
    detector = DtmfDetector(settings)
    found = (detector.feed(samples[i : i + FRAME]) for i in range(0, len(samples), FRAME))
    return [d for d in found if d is not None]


def digits(signal: Signal, settings: DtmfSettings | None = None) -> str:
    return "".join(d.digit for d in detect(signal, settings))


def test_goertzel_bank_matches_the_goertzel_recursion() -> None:
    rng = np.random.default_rng(1)
    window = rng.normal(size=FRAME) * 3000
    bank = GoertzelBank(FRAME, RATE, deviation=0.0)
    powers = bank.powers(window[np.newaxis, :])[0]
    for index, frequency in enumerate(ROW_HZ + COLUMN_HZ):
        coefficient = 2 * np.cos(2 * np.pi * frequency / RATE)
        s1 = s2 = 0.0
        for x in window:
            s1, s2 = x + coefficient * s1 - s2, s1
        expected = s1 * s1 + s2 * s2 - coefficient * s1 * s2
        assert powers[index] == pytest.approx(expected, rel=1e-9)


KEYS = "123A456B789C*0#D"


@pytest.mark.parametrize("digit", list(KEYS))
def test_each_digit_once_per_press(digit: str) -> None:
    found = detect(np.concatenate((silence(30), tone(digit, 100), silence(50))))
    assert [d.digit for d in found] == [digit]
    # The first accepted window starts within 10 ms of the tone (240 samples in).
    assert 240 - 80 <= found[0].sample <= 240 + 80


def test_dialled_number_with_noise() -> None:
    rng = np.random.default_rng(4733)
    parts = []
    for digit in KEYS:
        parts += [tone(digit, 60, row_amp=3000, column_amp=2500), silence(50)]
    signal = np.concatenate(parts)
    noisy = signal + rng.normal(scale=300, size=len(signal))  # about 20 dB SNR
    assert digits(noisy) == KEYS


def test_repeated_key_needs_a_pause_between_presses() -> None:
    press = tone("5", 80)
    assert digits(np.concatenate((press, silence(40), press, silence(40), press))) == "555"
    assert digits(tone("5", 1000)) == "5"


def test_too_short_tones_are_rejected_and_40_ms_accepted() -> None:
    for offset in range(0, FRAME, 20):
        assert digits(np.concatenate((silence(offset / 8), tone("8", 22)))) == ""
        assert digits(np.concatenate((silence(offset / 8), tone("8", 40)))) == "8"


def test_twist_limits() -> None:
    db = 10 ** (1 / 20)
    assert digits(tone("6", 100, row_amp=5000, column_amp=5000 / db**6)) == "6"
    assert digits(tone("6", 100, row_amp=5000, column_amp=5000 / db**10)) == ""
    assert digits(tone("6", 100, row_amp=5000 / db**3, column_amp=5000)) == "6"
    assert digits(tone("6", 100, row_amp=5000 / db**6, column_amp=5000)) == ""


def test_level_threshold() -> None:
    assert digits(tone("2", 100, row_amp=400, column_amp=400)) == "2"
    assert digits(tone("2", 100, row_amp=200, column_amp=200)) == ""


def test_tones_within_one_and_a_half_percent_are_accepted() -> None:
    for detune in (0.985, 1.015):
        assert digits(tone("9", 60, detune=detune)) == "9"
        assert digits(tone("D", 60, detune=detune)) == "D"


def test_a_single_tone_is_not_a_digit() -> None:
    t = np.arange(RATE) / RATE
    assert digits(5000 * np.sin(2 * np.pi * 697 * t)) == ""
    assert digits(5000 * np.sin(2 * np.pi * 1209 * t)) == ""


def vowel(f0: Signal, formants: tuple[float, ...]) -> Signal:
    """A voiced sound as a cascade formant synthesiser makes it: harmonics of a gliding
    pitch with a -6 dB/octave source tilt, shaped by two-pole resonators (80 Hz bandwidth)."""
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    out = np.zeros(len(f0))
    for k in range(1, 40):
        z = np.exp(-2j * np.pi * k * f0 / RATE)
        gain = np.ones(len(f0))
        for formant in formants:
            pole = np.exp(-np.pi * 80 / RATE + 2j * np.pi * formant / RATE)
            gain /= np.abs((1 - pole * z) * (1 - np.conj(pole) * z))
        out += np.where(k * f0 < RATE / 2, gain / k, 0) * np.sin(k * phase)
    result: Signal = out / np.abs(out).max() * 12000
    return result


# Average adult male formants (Peterson & Barney 1952) of seven English vowels.
VOWELS = {
    "a": (730, 1090, 2440),
    "i": (270, 2290, 3010),
    "u": (300, 870, 2240),
    "ae": (660, 1720, 2410),
    "er": (490, 1350, 1690),
    "o": (570, 840, 2410),
    "e": (530, 1840, 2480),
}


@pytest.mark.parametrize("name", sorted(VOWELS))
def test_talk_off_on_vowels(name: str) -> None:
    rng = np.random.default_rng(2833)
    samples = 2 * RATE
    contours = (
        np.linspace(100, 240, samples),
        np.linspace(240, 100, samples),
        np.linspace(180, 320, samples),
        np.full(samples, 140.0),
    )
    for f0 in contours:
        speech = vowel(f0, VOWELS[name]) + rng.normal(scale=200, size=samples)
        assert digits(speech) == "", f0[0]


def test_talk_off_on_noise() -> None:
    rng = np.random.default_rng(4475)
    assert digits(rng.normal(scale=3000, size=5 * RATE)) == ""


def test_classify_batches_windows() -> None:
    windows = np.stack((tone("4", 20), tone("D", 20), silence(20)))
    assert classify(windows, GoertzelBank(FRAME, RATE), DtmfSettings()) == ["4", "D", None]


def test_frame_shape_and_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="160 samples"):
        DtmfDetector().feed(np.zeros(80, dtype=np.int16))
    with pytest.raises(ValueError, match="even"):
        DtmfSettings(frame_size=161)
    with pytest.raises(ValueError, match="at least 1"):
        DtmfSettings(min_on_windows=0)
