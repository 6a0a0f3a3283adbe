"""In-band DTMF detection (ITU-T Q.23/Q.24) with the Goertzel single-bin DFT.

Each 20 ms frame of 8 kHz audio is analysed as two 20 ms windows hopping by 10 ms (the
previous frame's second half plus this frame's first half, then this frame), which gives
10 ms time resolution without losing the ~50 Hz frequency resolution that separates the
row tones. For each window:

1. the power at the 8 DTMF frequencies is the Goertzel output ``|X(f)|²`` — computed for
   all windows and frequencies as one matrix product (cosine and sine parts), which equals
   the per-sample Goertzel recursion (the tests check it against a literal recursion) and
   costs far less in numpy than a Python loop;
2. the strongest row tone and the strongest column tone must each reach ``min_amplitude``;
3. twist: the row tone may be at most ``max_normal_twist_db`` stronger than the column tone
   and at most ``max_reverse_twist_db`` weaker;
4. each peak must stand ``min_group_margin_db`` above the other tones of its group;
5. purity (talk-off guard): the two tones must hold at least ``min_purity`` of the window's
   energy — speech and music spread their energy over many frequencies.

A :class:`DtmfDetector` reports a digit once per key press: after ``min_on_windows``
consecutive windows agree (with the defaults, tones of 40 ms or more are accepted at any
alignment and tones under about 28 ms rejected), and a press of the same key again only
after ``min_off_windows`` windows without it. Time is an input: positions are sample counts.

Known limit: a sustained voiced sound whose harmonics sit within ~2 % of a DTMF pair (for
example formants placed exactly on 697 and 1209 Hz) can pass as a digit; ordinary vowels
and noise do not (see the tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

ROW_HZ: Final = (697.0, 770.0, 852.0, 941.0)
COLUMN_HZ: Final = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD: Final = ("123A", "456B", "789C", "*0#D")
DIGIT_FREQUENCIES: Final[dict[str, tuple[float, float]]] = {
    KEYPAD[r][c]: (ROW_HZ[r], COLUMN_HZ[c]) for r in range(4) for c in range(4)
}


@dataclass(frozen=True, slots=True)
class DtmfSettings:
    """Detector thresholds. ``min_amplitude`` is the peak amplitude of each tone in int16
    units (300 ≈ -37 dBm0 for G.711's 0 dBm0 ≈ 22,700)."""

    sample_rate: int = 8000
    frame_size: int = 160
    min_amplitude: float = 300.0
    max_normal_twist_db: float = 8.0
    max_reverse_twist_db: float = 4.0
    min_group_margin_db: float = 6.0
    min_purity: float = 0.7
    min_on_windows: int = 3
    min_off_windows: int = 2

    def __post_init__(self) -> None:
        if self.frame_size <= 0 or self.frame_size % 2:
            raise ValueError(f"frame size {self.frame_size} must be a positive even number")
        if self.min_on_windows < 1 or self.min_off_windows < 1:
            raise ValueError("min_on_windows and min_off_windows must be at least 1")


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """A detected key press; ``sample`` is where its first accepted window starts,
    counted from the first sample the detector was fed."""

    digit: str
    sample: int


class GoertzelBank:
    """Goertzel powers at the 8 DTMF frequencies for windows of ``size`` samples.

    Each tone is measured at its nominal frequency and at ±``deviation`` (Q.24 asks for
    tones within 1.5 % to be accepted; a 20 ms window's bins are only ~50 Hz wide) and the
    strongest of the three counts.
    """

    def __init__(self, size: int, sample_rate: int, deviation: float = 0.015) -> None:
        nominal = np.array(ROW_HZ + COLUMN_HZ)
        frequencies = np.concatenate(
            (nominal * (1 - deviation), nominal, nominal * (1 + deviation))
        )
        phase = 2 * np.pi * np.outer(np.arange(size), frequencies) / sample_rate
        self.size = size
        self._count = len(frequencies)
        self._basis = np.concatenate((np.cos(phase), np.sin(phase)), axis=1)

    def powers(self, windows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``|X(f)|²`` for each window (rows) and DTMF tone (8 columns, rows first)."""
        parts = windows @ self._basis
        parts *= parts
        count = self._count
        powers = parts[:, :count] + parts[:, count:]
        result: npt.NDArray[np.float64] = np.maximum(
            np.maximum(powers[:, :8], powers[:, 8:16]), powers[:, 16:]
        )
        return result


def _db(numerator: float, denominator: float) -> float:
    if denominator <= 0.0:
        return math.inf
    if numerator <= 0.0:
        return -math.inf
    return 10.0 * math.log10(numerator / denominator)


def _peak(powers: list[float]) -> tuple[int, float, float]:
    """Index and power of the strongest tone of a group, and the runner-up's power."""
    best = max(range(4), key=powers.__getitem__)
    return best, powers[best], max(p for i, p in enumerate(powers) if i != best)


def _decide(powers: list[float], energy: float, size: int, settings: DtmfSettings) -> str | None:
    min_power = (settings.min_amplitude * size / 2.0) ** 2
    if energy * size < 4.0 * min_power:  # too quiet to hold two tones of the minimum level
        return None
    row, row_power, row_rest = _peak(powers[:4])
    column, column_power, column_rest = _peak(powers[4:])
    if row_power < min_power or column_power < min_power:
        return None
    if 2.0 * (row_power + column_power) < settings.min_purity * size * energy:
        return None
    twist = _db(row_power, column_power)
    if twist > settings.max_normal_twist_db or -twist > settings.max_reverse_twist_db:
        return None
    if _db(row_power, row_rest) < settings.min_group_margin_db:
        return None
    if _db(column_power, column_rest) < settings.min_group_margin_db:
        return None
    return KEYPAD[row][column]


def classify(
    windows: npt.NDArray[np.float64], bank: GoertzelBank, settings: DtmfSettings
) -> list[str | None]:
    """The digit each window (a row of ``windows``) holds, or ``None``. The Goertzel powers
    of all windows come from one matrix product, so a media pump can pass many legs' windows
    at once; the threshold checks then run per window."""
    powers = bank.powers(windows).tolist()
    energies = np.einsum("ij,ij->i", windows, windows).tolist()
    return [_decide(p, e, bank.size, settings) for p, e in zip(powers, energies, strict=True)]


class DtmfDetector:
    """Feed 20 ms frames of int16 samples; get one :class:`DtmfDigit` per key press."""

    def __init__(self, settings: DtmfSettings | None = None) -> None:
        self.settings = settings or DtmfSettings()
        self._bank = GoertzelBank(self.settings.frame_size, self.settings.sample_rate)
        self._half = self.settings.frame_size // 2
        self._windows = np.zeros((2, self.settings.frame_size), dtype=np.float64)
        self._position = 0  # samples fed so far
        self._candidate: str | None = None
        self._run = 0  # consecutive windows holding the candidate
        self._run_start = 0
        self._reported: str | None = None  # the key whose press is in progress
        self._off = 0  # consecutive windows without the reported key

    def feed(self, frame: npt.ArrayLike) -> DtmfDigit | None:
        """Analyse one frame; return a digit when a new key press is confirmed."""
        samples = np.asarray(frame, dtype=np.float64)
        size = self.settings.frame_size
        if samples.shape != (size,):
            raise ValueError(f"expected a frame of {size} samples, got shape {samples.shape}")
        half = self._half
        windows = self._windows
        windows[0, :half] = windows[1, half:]  # the previous frame's second half
        windows[0, half:] = samples[:half]
        windows[1] = samples
        starts = (self._position - half, self._position)
        self._position += size
        found: DtmfDigit | None = None
        for start, digit in zip(starts, classify(windows, self._bank, self.settings), strict=True):
            found = self._step(start, digit) or found
        return found

    def _step(self, start: int, digit: str | None) -> DtmfDigit | None:
        settings = self.settings
        if digit is not None and digit == self._candidate:
            self._run += 1
        else:
            self._candidate, self._run, self._run_start = digit, 1, start
        if self._reported is not None:
            if digit == self._reported:
                self._off = 0
                return None
            self._off += 1
            if self._off < settings.min_off_windows:
                return None
            self._reported = None
        if digit is not None and self._run >= settings.min_on_windows:
            self._reported, self._off = digit, 0
            return DtmfDigit(digit, max(self._run_start, 0))
        return None
