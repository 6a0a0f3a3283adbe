"""Answering-machine detection (AMD) on 8 kHz 16-bit mono 20 ms frames (no sockets, no clock).

Three parts, all fed one 20 ms frame (160 int16 samples) at a time; time is counted in frames:

- :class:`BeepDetector` finds a voicemail beep: a steady single tone between 400 and 2000 Hz.
  Each frame is correlated (one matrix product, DC offset removed) with cosines and sines at
  65 frequencies 25 Hz apart, giving the Goertzel outputs ``|X(f)|²``. A frame is a
  *tone frame* when its RMS reaches ``min_rms`` and the strongest frequency holds at least
  ``min_purity`` of the frame's energy (``2|X(f)|² / (N·Σx²)``; a pure tone at any frequency
  in the range scores ≥ 0.81 with the 25 Hz grid, speech spreads its energy over many
  harmonics). A beep is ``min_frames`` consecutive tone frames whose frequency stays within
  one grid step and whose RMS stays within a factor ``max_level_ratio`` of the first one. The
  frame index of the first tone frame of the run is reported once.
- :class:`Vad` is a typed wrapper around ``webrtcvad.Vad(mode)`` for int16 frames.
- :class:`MachineDetector` is a pure state machine fed each frame and its speech flag. It
  decides ``human`` or ``machine`` from the greeting (classic AMD heuristics), then optionally
  watches for the beep:

  * the greeting starts at the first run of ``min_speech_frames`` consecutive speech frames
    (isolated VAD flickers on noise are ignored);
  * ``machine`` as soon as the greeting holds ``machine_speech_frames`` speech frames (default
    2.5 s) — pauses shorter than ``human_silence_frames`` do not end it; a recorded greeting
    talks on, a person says "Hello?" and waits;
  * ``human`` when the greeting is followed by ``human_silence_frames`` (default 0.8 s) of
    silence before reaching the machine threshold;
  * no speech within ``start_timeout_frames`` (default 2.5 s) gives ``no_speech_verdict``
    (default ``machine``, as Asterisk's AMD does for initial silence: voicemail systems that
    only beep, or play a silent gap, answer this way; a person normally speaks first);
  * a beep before any verdict gives ``machine`` at that frame (and ``beep_start`` when watching);
  * if none of these has happened after ``max_decision_frames`` (default 5 s), the verdict is
    ``machine`` when the greeting holds at least half of ``machine_speech_frames`` speech
    frames, else ``human``.

  With ``watch_beep`` (advanced modes ``default`` and ``detect_beep``), after a ``machine``
  verdict the detector waits for the beep: :class:`Beep` ``beep_start`` at the beep's first
  frame, or ``beep_timeout`` at frame ``beep_timeout_frames`` counted from the first frame fed
  (the answer). Which events reach the application per mode (``detect`` only the verdict,
  ``detect_beep`` only the beep event) is for the caller to choose.

Known limits: webrtcvad flags tones as speech, so a beep-only greeting longer than the machine
threshold is still ``machine`` (correct); a person who answers with a long monologue is
``machine``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import webrtcvad  # type: ignore[import-untyped]

SAMPLE_RATE: Final = 8000
FRAME_SAMPLES: Final = 160
FRAME_MS: Final = 20
BEEP_FREQS_HZ: Final = tuple(400.0 + 25.0 * i for i in range(65))

Int16Frame = npt.NDArray[np.int16]


def _basis(freqs: tuple[float, ...], n: int) -> npt.NDArray[np.float64]:
    t = np.arange(n) / SAMPLE_RATE
    arg = 2.0 * np.pi * np.outer(t, np.asarray(freqs))
    basis = np.concatenate([np.cos(arg), np.sin(arg)], axis=1)
    # Centre each column: x @ centred == (x - mean(x)) @ basis, which removes a DC offset.
    return np.ascontiguousarray(basis - basis.mean(axis=0))


def _check_frame(frame: Int16Frame) -> None:
    if frame.shape != (FRAME_SAMPLES,):
        raise ValueError(f"expected {FRAME_SAMPLES} samples, got shape {frame.shape}")


class BeepDetector:
    """Find a steady single tone (a voicemail beep) in consecutive 20 ms frames."""

    def __init__(
        self,
        *,
        min_frames: int = 5,
        min_rms: float = 100.0,
        min_purity: float = 0.7,
        max_level_ratio: float = 2.0,
    ) -> None:
        if min_frames < 1:
            raise ValueError("min_frames must be >= 1")
        self.min_frames = min_frames
        self.min_rms = min_rms
        self.min_purity = min_purity
        self.max_level_ratio = max_level_ratio
        self._basis = _basis(BEEP_FREQS_HZ, FRAME_SAMPLES)
        self._nf = len(BEEP_FREQS_HZ)
        self._index = 0
        self._run = 0
        self._run_start = 0
        self._run_bin = -10
        self._run_rms = 0.0
        self.beep_frame: int | None = None
        """Index of the beep's first frame once found."""
        self.beep_hz: float | None = None

    def analyse(self, frame: Int16Frame) -> tuple[int, float, float]:
        """Return (strongest bin, its share of the frame energy, frame RMS) for one frame."""
        _check_frame(frame)
        x = frame.astype(np.float64)
        total = float(x.sum())
        energy = float(x @ x) - total * total / FRAME_SAMPLES  # energy with the DC removed
        if energy <= 1e-9:
            return 0, 0.0, 0.0
        proj = x @ self._basis  # the basis is zero-mean, so the DC offset drops out here too
        power = (proj * proj).reshape(2, self._nf).sum(axis=0)
        best = int(power.argmax())
        purity = 2.0 * float(power[best]) / (FRAME_SAMPLES * energy)
        return best, purity, (energy / FRAME_SAMPLES) ** 0.5

    def push(self, frame: Int16Frame) -> int | None:
        """Feed the next frame; return the beep's first frame index once, when it is found."""
        index = self._index
        self._index += 1
        if self.beep_frame is not None:
            return None
        best, purity, rms = self.analyse(frame)
        if rms < self.min_rms or purity < self.min_purity:
            self._run = 0
            return None
        steady = (
            self._run > 0
            and abs(best - self._run_bin) <= 1
            and 1.0 / self.max_level_ratio <= rms / self._run_rms <= self.max_level_ratio
        )
        if steady:
            self._run += 1
        else:
            self._run, self._run_start, self._run_bin, self._run_rms = 1, index, best, rms
        if self._run >= self.min_frames:
            self.beep_frame = self._run_start
            self.beep_hz = BEEP_FREQS_HZ[self._run_bin]
            return self.beep_frame
        return None


class Vad:
    """webrtcvad voice activity detection on 20 ms int16 frames at 8 kHz.

    A fresh webrtcvad instance flags its first four or five frames of line noise as speech
    while its noise model settles, so the first ``warmup_frames`` frames are fed to it but
    reported as non-speech.
    """

    def __init__(self, mode: int = 2, *, warmup_frames: int = 6) -> None:
        if mode not in (0, 1, 2, 3):
            raise ValueError("webrtcvad mode must be 0..3")
        self._vad = webrtcvad.Vad(mode)
        self._warmup = warmup_frames

    def is_speech(self, frame: Int16Frame) -> bool:
        _check_frame(frame)
        pcm = frame.astype(np.int16, copy=False).tobytes()
        speech = bool(self._vad.is_speech(pcm, SAMPLE_RATE))
        if self._warmup > 0:
            self._warmup -= 1
            return False
        return speech


@dataclass(frozen=True, slots=True)
class Verdict:
    """The human/machine decision; ``at_frame`` frames after the answer (× 20 ms)."""

    verdict: Literal["human", "machine"]
    at_frame: int


@dataclass(frozen=True, slots=True)
class Beep:
    """``beep_start`` at the beep's first frame, or ``beep_timeout`` at ``beep_timeout_frames``."""

    sub_state: Literal["beep_start", "beep_timeout"]
    at_frame: int


AmdEvent = Verdict | Beep


def frames_for_seconds(seconds: float) -> int:
    return round(seconds * 1000 / FRAME_MS)


class MachineDetector:
    """Decide human vs. machine from per-frame speech flags, then optionally watch for the beep."""

    def __init__(
        self,
        *,
        watch_beep: bool = False,
        beep_timeout_frames: int = frames_for_seconds(45),
        min_speech_frames: int = 3,
        machine_speech_frames: int = frames_for_seconds(2.5),
        human_silence_frames: int = frames_for_seconds(0.8),
        start_timeout_frames: int = frames_for_seconds(2.5),
        max_decision_frames: int = frames_for_seconds(5),
        no_speech_verdict: Literal["human", "machine"] = "machine",
        beep_detector: BeepDetector | None = None,
    ) -> None:
        self.watch_beep = watch_beep
        self.beep_timeout_frames = beep_timeout_frames
        self.min_speech_frames = min_speech_frames
        self.machine_speech_frames = machine_speech_frames
        self.human_silence_frames = human_silence_frames
        self.start_timeout_frames = start_timeout_frames
        self.max_decision_frames = max_decision_frames
        self.no_speech_verdict: Literal["human", "machine"] = no_speech_verdict
        self.beep = beep_detector if beep_detector is not None else BeepDetector()
        self._index = 0
        self._speech_run = 0
        self._greeting_start: int | None = None
        self._greeting_speech = 0
        self._silence_run = 0
        self.verdict: Verdict | None = None
        self.beep_event: Beep | None = None

    @property
    def done(self) -> bool:
        """True when no further event can come."""
        if self.verdict is None:
            return False
        if self.verdict.verdict == "human" or not self.watch_beep:
            return True
        return self.beep_event is not None

    def push(self, frame: Int16Frame, is_speech: bool) -> list[AmdEvent]:
        """Feed the next frame and its speech flag; return the events it produced."""
        index = self._index
        self._index += 1
        if self.done:
            return []
        events: list[AmdEvent] = []
        beep_at = self.beep.push(frame)
        if self.verdict is None:
            verdict: Literal["human", "machine"] | None = (
                "machine" if beep_at is not None else self._decide(index, is_speech)
            )
            if verdict is not None:
                self.verdict = Verdict(verdict, index + 1)
                events.append(self.verdict)
        if self.verdict is not None and self.verdict.verdict == "machine" and self.watch_beep:
            if beep_at is not None:
                self.beep_event = Beep("beep_start", beep_at)
                events.append(self.beep_event)
            elif index + 1 >= self.beep_timeout_frames:
                self.beep_event = Beep("beep_timeout", index + 1)
                events.append(self.beep_event)
        return events

    def _decide(self, index: int, is_speech: bool) -> Literal["human", "machine"] | None:
        self._speech_run = self._speech_run + 1 if is_speech else 0
        if self._greeting_start is None:
            if self._speech_run >= self.min_speech_frames:
                self._greeting_start = index - self._speech_run + 1
                self._greeting_speech = self._speech_run
            elif index + 1 >= self.start_timeout_frames:
                return self.no_speech_verdict
        else:
            if is_speech:
                self._greeting_speech += 1
                self._silence_run = 0
            else:
                self._silence_run += 1
            if self._greeting_speech >= self.machine_speech_frames:
                return "machine"
            if self._silence_run >= self.human_silence_frames:
                return "human"
        if index + 1 >= self.max_decision_frames:
            half = self.machine_speech_frames / 2
            return "machine" if self._greeting_speech >= half else "human"
        return None
