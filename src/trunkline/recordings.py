"""Finished recordings become files: encode (WAV or MP3) and store, off the event loop.

:class:`FileRecordings` is the :class:`~trunkline.engine.ports.RecordingSink` drivers
hand a :class:`~trunkline.engine.ports.RecordedAudio` to when a ``record`` action
stops. It renders the audio (the driver's PCM, or for the simulator a seeded,
faint comfort noise of the recorded length), encodes it as spec/VOICE-API.md §2.4
describes (MP3 CBR 32 kbps, WAV 16-bit; 16 kHz unless asked otherwise; mono unless
split), stores it in a :class:`~trunkline.files.FileStore`, and reports the stored
file's size through the clock.

Encoding is CPU work: in serve mode it runs in an executor, in a task this object
owns (``aclose()`` waits for them), with the clock told of the outside work so a
virtual clock waits for it. ``inline=True`` does it all at once, for synchronous
unit tests on a virtual clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import wave
from collections.abc import Callable
from concurrent.futures import Executor

import lameenc  # type: ignore[import-not-found]  # no type hints shipped
import numpy as np

from trunkline.clock import Clock
from trunkline.engine.ports import RecordedAudio
from trunkline.files import CONTENT_TYPES, FileStore

log = logging.getLogger(__name__)

#: MP3 bit rate (kbit/s) per channel, as Vonage records (CBR 32 kbps mono).
MP3_KBPS = 32
#: Comfort-noise level: standard deviation in 16-bit steps (about -60 dBFS).
NOISE_SIGMA = 30.0
#: Samples rendered and encoded at a time (bounds the memory of a long MP3).
_BLOCK_SECONDS = 10
_RATES = (8000, 16000)


def comfort_noise(seconds: float, sample_rate: int, channels: int, seed: int) -> bytes:
    """``seconds`` of faint Gaussian noise, interleaved int16 LE, the same for one seed."""
    frames = max(0, round(seconds * sample_rate))
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, NOISE_SIGMA, size=frames * channels)
    return np.clip(np.rint(noise), -32768, 32767).astype("<i2").tobytes()


def seed_for(file_id: str) -> int:
    """A stable seed from a file id (the same recording renders the same noise)."""
    return int.from_bytes(hashlib.sha256(file_id.encode()).digest()[:8], "big")


def encode_wav(pcm: bytes, sample_rate: int, channels: int) -> bytes:
    """A RIFF/WAVE file of 16-bit PCM."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm)
    return out.getvalue()


def encode_mp3(pcm: bytes, sample_rate: int, channels: int, kbps: int = MP3_KBPS) -> bytes:
    """MPEG audio (lameenc), CBR ``kbps`` per channel; ``channels`` is 1 or 2."""
    if channels not in (1, 2):
        raise ValueError(f"MP3 carries 1 or 2 channels, not {channels}")
    enc = lameenc.Encoder()
    enc.set_bit_rate(kbps * channels)
    enc.set_in_sample_rate(sample_rate)
    enc.set_out_sample_rate(sample_rate)
    enc.set_channels(channels)
    enc.set_quality(7)  # fast; speech at 32 kbps gains nothing from more
    block = _BLOCK_SECONDS * sample_rate * channels * 2
    parts = [enc.encode(pcm[i : i + block]) for i in range(0, len(pcm), block)]
    parts.append(enc.flush())
    return b"".join(bytes(p) for p in parts)


def stored_format(audio: RecordedAudio) -> str:
    """The format the file is written in: MP3 for up to 2 channels when asked, else WAV.

    MP3 cannot carry more than 2 channels, and there is no OGG encoder here: both are
    written as WAV (the content type says so).
    """
    return "mp3" if audio.format in ("mp3", "ogg") and audio.channels <= 2 else "wav"


def encode_recording(audio: RecordedAudio) -> tuple[bytes, str]:
    """The file's bytes and content type (blocking CPU work: call it off the loop)."""
    rate = audio.sample_rate if audio.sample_rate in _RATES else 16000
    channels = max(1, audio.channels)
    if audio.pcm is not None:
        pcm = audio.pcm()
    else:
        pcm = comfort_noise(audio.seconds, rate, channels, seed_for(audio.file_id))
    fmt = stored_format(audio)
    if fmt == "mp3":
        return encode_mp3(pcm, rate, channels), CONTENT_TYPES["mp3"]
    return encode_wav(pcm, rate, channels), CONTENT_TYPES["wav"]


class FileRecordings:
    """A :class:`~trunkline.engine.ports.RecordingSink` that keeps recordings in ``files``."""

    def __init__(
        self,
        files: FileStore,
        clock: Clock,
        *,
        inline: bool = False,
        executor: Executor | None = None,
    ) -> None:
        self.files = files
        self.clock = clock
        self.inline = inline
        self._executor = executor
        self._tasks: set[asyncio.Task[None]] = set()

    def save(self, audio: RecordedAudio, done: Callable[[int], None]) -> None:
        if self.inline:
            size = self._save_now(audio)
            self.clock.call_soon(lambda: done(size))
            return
        self.clock.io_begin()
        task = asyncio.get_running_loop().create_task(self._save(audio, done))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _save_now(self, audio: RecordedAudio) -> int:
        try:
            data, content_type = encode_recording(audio)
            return self.files.put(
                audio.file_id,
                data,
                content_type=content_type,
                application_id=audio.application_id,
                call_uuid=audio.call_uuid,
                conversation_uuid=audio.conversation_uuid,
            ).size
        except Exception:
            log.exception("recording %s could not be stored", audio.file_id)
            return 0

    async def _save(self, audio: RecordedAudio, done: Callable[[int], None]) -> None:
        size = 0
        try:
            loop = asyncio.get_running_loop()
            data, content_type = await loop.run_in_executor(self._executor, encode_recording, audio)
            stored = await self.files.put_async(
                audio.file_id,
                data,
                content_type=content_type,
                application_id=audio.application_id,
                call_uuid=audio.call_uuid,
                conversation_uuid=audio.conversation_uuid,
            )
            size = stored.size
        except Exception:
            log.exception("recording %s could not be stored", audio.file_id)
        self.clock.call_soon(lambda: done(size))

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.clock.io_end()

    @property
    def pending(self) -> int:
        """Recordings being encoded or written now."""
        return len(self._tasks)

    async def aclose(self) -> None:
        """Wait for the recordings in progress to be stored (their ``done`` is scheduled)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


__all__ = [
    "FileRecordings",
    "comfort_noise",
    "encode_mp3",
    "encode_recording",
    "encode_wav",
    "stored_format",
]
