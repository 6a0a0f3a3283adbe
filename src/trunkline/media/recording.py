"""Recording: collect a leg's or a conversation's 20 ms frames, then make a WAV or MP3 file.

- :class:`RecordingWriter` keeps frames for 1–32 channels at 8 or 16 kHz. Per tick, either
  :meth:`~RecordingWriter.write` one frame per channel, or :meth:`~RecordingWriter.put`
  frames into channels as taps see them (several into one channel are mixed: Vonage puts
  participants beyond ``channels`` into the last one) and :meth:`~RecordingWriter.commit` the
  tick. :meth:`~RecordingWriter.pcm` gives interleaved 16-bit little-endian PCM at the file
  rate (16 kHz, as Vonage records, by default: resampled with
  :func:`trunkline.media.tts.resample`) — what :class:`trunkline.engine.ports.RecordedAudio`
  ``pcm`` wants; :meth:`~RecordingWriter.finish` encodes a WAV or MP3 file
  (:func:`trunkline.recordings.encode_wav` / ``encode_mp3``: lameenc, CBR 32 kbps a channel).
  Both are CPU work to run off the event loop: :meth:`~RecordingWriter.finish_async` runs
  :meth:`finish` in an executor. Memory: 16 kB per channel per second at 8 kHz, bounded by
  ``max_seconds`` (ticks beyond it are dropped and :attr:`RecordingWriter.full` is set).
- :func:`tap_leg` records one leg through the pump's taps: mono = what the caller says mixed
  with what they hear; ``split=True`` = stereo, the caller left and what they hear right.
- :class:`SilenceWatch` (pure) answers ``endOnSilence``: True once the caller has spoken and
  then stayed silent for N seconds — speech from frame energy, or from a VAD flag the caller
  passes (:class:`trunkline.media.amd.Vad`).
- :func:`beep` is the tone ``beepStart`` plays before recording starts.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from trunkline.errors import TrunklineError
from trunkline.media.tts import resample
from trunkline.recordings import encode_mp3, encode_wav

if TYPE_CHECKING:
    from trunkline.media.pump import LegMedia

Frame = npt.NDArray[np.int16]

RATES: Final = (8000, 16000)
MAX_CHANNELS: Final = 32
FRAME_MS: Final = 20


class RecordingError(TrunklineError):
    """A recording was set up or fed wrongly (channels, rate, format, frame shape)."""


class RecordingWriter:
    """Frames in, a WAV or MP3 file out; see the module docstring."""

    def __init__(
        self,
        channels: int = 1,
        sample_rate: int = 8000,
        *,
        file_rate: int = 16000,
        max_seconds: float = 7200.0,
    ) -> None:
        if not 1 <= channels <= MAX_CHANNELS:
            raise RecordingError(f"channels must be 1..{MAX_CHANNELS}, got {channels}")
        if sample_rate not in RATES or file_rate not in RATES:
            raise RecordingError(f"rates must be one of {RATES}: {sample_rate}, {file_rate}")
        self.channels = channels
        self.sample_rate = sample_rate
        self.file_rate = file_rate
        self.frame_samples = sample_rate * FRAME_MS // 1000
        self.max_ticks = math.ceil(max_seconds * 1000 / FRAME_MS)
        self.full = False
        self._ticks: list[Frame] = []  # one (channels, frame_samples) block per tick
        self._row: npt.NDArray[np.int32] | None = None

    @property
    def seconds(self) -> float:
        """Audio recorded so far."""
        return len(self._ticks) * FRAME_MS / 1000

    def _check(self, frame: Frame) -> None:
        if frame.dtype != np.int16 or frame.shape != (self.frame_samples,):
            raise RecordingError(
                f"a frame is int16 of shape ({self.frame_samples},), "
                f"got {frame.dtype} of shape {frame.shape}"
            )

    def _append(self, block: Frame) -> None:
        if len(self._ticks) >= self.max_ticks:
            self.full = True
            return
        self._ticks.append(block)

    def write(self, frames: Sequence[Frame | None]) -> None:
        """Record one tick: a frame per channel, in order (None or missing = silence)."""
        if len(frames) > self.channels:
            raise RecordingError(f"{len(frames)} frames for {self.channels} channels")
        block = np.zeros((self.channels, self.frame_samples), dtype=np.int16)
        for channel, frame in enumerate(frames):
            if frame is not None:
                self._check(frame)
                block[channel] = frame
        self._append(block)

    def put(self, channel: int, frame: Frame) -> None:
        """Add ``frame`` to ``channel`` of the tick in progress (a channel beyond the last
        goes into the last; frames put into one channel are mixed)."""
        self._check(frame)
        if self._row is None:
            self._row = np.zeros((self.channels, self.frame_samples), dtype=np.int32)
        self._row[min(max(channel, 0), self.channels - 1)] += frame

    def commit(self) -> None:
        """End the tick in progress (silence on channels nobody put a frame into)."""
        row = self._row
        self._row = None
        if row is None:
            self._append(np.zeros((self.channels, self.frame_samples), dtype=np.int16))
            return
        np.clip(row, -32768, 32767, out=row)
        self._append(row.astype(np.int16))

    def samples(self) -> npt.NDArray[np.int16]:
        """Everything recorded, shape (channels, samples), at the file rate."""
        if not self._ticks:
            return np.zeros((self.channels, 0), dtype=np.int16)
        audio = np.concatenate(self._ticks, axis=1)
        if self.file_rate == self.sample_rate:
            return audio
        return np.stack([resample(ch, self.sample_rate, self.file_rate) for ch in audio])

    def pcm(self) -> bytes:
        """Interleaved signed 16-bit little-endian PCM at the file rate (CPU work)."""
        return self.samples().T.astype("<i2").tobytes()

    def finish(self, format: str = "mp3") -> bytes:
        """The file: ``"wav"`` (any channel count) or ``"mp3"`` (1 or 2 channels). CPU work:
        from the event loop use :meth:`finish_async`."""
        if format == "wav":
            return encode_wav(self.pcm(), self.file_rate, self.channels)
        if format == "mp3":
            if self.channels > 2:
                raise RecordingError(f"MP3 carries 1 or 2 channels, not {self.channels}")
            return encode_mp3(self.pcm(), self.file_rate, self.channels)
        raise RecordingError(f"recording format must be 'wav' or 'mp3', got {format!r}")

    async def finish_async(self, format: str = "mp3", *, executor: Executor | None = None) -> bytes:
        """:meth:`finish` in ``executor`` (the loop's default if None). Stop writing first."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, functools.partial(self.finish, format))


def tap_leg(lm: LegMedia, writer: RecordingWriter, *, split: bool = False) -> Callable[[], None]:
    """Record leg ``lm`` from the next tick: mono (the caller and what they hear, mixed) or,
    with ``split``, the caller on channel 0 and what they hear on channel 1. The writer must
    be at the pump's rate (8 kHz). Returns a function that stops the recording's taps."""
    if writer.sample_rate != 8000:
        raise RecordingError("a leg tap records the pump's 8 kHz frames")
    if split and writer.channels < 2:
        raise RecordingError("a split recording needs 2 channels")
    inbound: list[Frame] = []

    def heard_from_caller(frame: Frame) -> None:
        inbound[:] = [frame]

    def sent_to_caller(frame: Frame) -> None:
        said = inbound[0] if inbound else None
        inbound.clear()
        if split:
            writer.write([said, frame])
            return
        if said is None:
            writer.write([frame])
            return
        mixed = said.astype(np.int32) + frame
        np.clip(mixed, -32768, 32767, out=mixed)
        writer.write([mixed.astype(np.int16)])

    remove_in = lm.add_tap(heard_from_caller)
    remove_out = lm.add_out_tap(sent_to_caller)

    def stop() -> None:
        remove_in()
        remove_out()

    return stop


class SilenceWatch:
    """``endOnSilence``: feed every frame; :meth:`push` returns True (once) when the caller
    has spoken and then been silent for ``silence_seconds``.

    Speech is a frame whose RMS reaches ``threshold`` (int16 units; 300 ≈ −40 dBFS) or, when
    the caller passes ``is_speech``, that flag (a VAD's). ``min_speech_frames`` consecutive
    speech frames count as having spoken (a click does not). Time is the frame count.
    """

    def __init__(
        self,
        silence_seconds: float,
        *,
        threshold: float = 300.0,
        min_speech_frames: int = 3,
        frame_ms: int = FRAME_MS,
    ) -> None:
        if silence_seconds <= 0:
            raise RecordingError(f"silence must last > 0 s, got {silence_seconds}")
        self.silence_frames = max(1, math.ceil(silence_seconds * 1000 / frame_ms))
        self.threshold = threshold
        self.min_speech_frames = max(1, min_speech_frames)
        self.spoke = False
        self.done = False
        self.frames = 0  # frames pushed
        self._speech_run = 0
        self._silence_run = 0

    def is_speech(self, frame: Frame) -> bool:
        """The energy test: RMS at or above the threshold."""
        samples = frame.astype(np.float64)
        return bool(np.sqrt(np.mean(samples * samples)) >= self.threshold) if frame.size else False

    def push(self, frame: Frame, is_speech: bool | None = None) -> bool:
        """Take one frame; True exactly once, at the frame that completes the silence."""
        self.frames += 1
        if self.done:
            return False
        speech = self.is_speech(frame) if is_speech is None else is_speech
        if speech:
            self._speech_run += 1
            self._silence_run = 0
            if self._speech_run >= self.min_speech_frames:
                self.spoke = True
            return False
        self._speech_run = 0
        if not self.spoke:
            return False
        self._silence_run += 1
        if self._silence_run >= self.silence_frames:
            self.done = True
            return True
        return False


def beep(
    sample_rate: int = 8000,
    *,
    frequency: float = 1000.0,
    seconds: float = 0.4,
    amplitude: float = 0.5,
) -> npt.NDArray[np.int16]:
    """The ``beepStart`` tone: a sine at ``frequency`` (``amplitude`` of full scale) with
    5 ms raised-cosine ramps, so it starts and ends without a click."""
    if sample_rate not in RATES:
        raise RecordingError(f"sample rate must be one of {RATES}, got {sample_rate}")
    n = round(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    wave = amplitude * 32767.0 * np.sin(2 * np.pi * frequency * t)
    ramp = min(n // 2, round(0.005 * sample_rate))
    if ramp:
        edge = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        wave[:ramp] *= edge
        wave[n - ramp :] *= edge[::-1]
    return np.rint(wave).astype(np.int16)
