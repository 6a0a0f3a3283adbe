"""Decode audio files (``stream`` URLs, ``musicOnHoldUrl``) to mono 16-bit PCM for the pump.

:func:`decode_audio` takes the fetched bytes — WAV (PCM, float, µ-law/A-law), MP3, FLAC or
Ogg Vorbis, told apart by their content, not a file name — and returns int16 samples at 8 or
16 kHz. Decoding is miniaudio's (dr_wav, dr_mp3, dr_flac, stb_vorbis: self-contained wheels,
no ffmpeg): it decodes at the file's own rate and mixes the channels down to mono; the rate
conversion is :func:`trunkline.media.tts.resample` (the Kaiser-windowed sinc the TTS path
uses: flat to 3 kHz at 8 kHz out, aliasing at −84 dB or lower).

Failures raise :class:`AudioDecodeError` saying what was wrong (empty, unknown format,
corrupt, too long). Decoding a long file takes CPU (about 10 ms per minute of MP3 here):
call :func:`decode_audio_async` from the event loop, which runs it in an executor.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, Final

import miniaudio  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt

from trunkline.errors import TrunklineError
from trunkline.media.tts import resample

Samples = npt.NDArray[np.int16]

SAMPLE_RATES: Final = (8000, 16000)
MAX_SECONDS: Final = 3600.0

_INFO: Final[dict[str, Callable[[bytes], Any]]] = {
    "WAV": miniaudio.wav_get_info,
    "FLAC": miniaudio.flac_get_info,
    "Ogg Vorbis": miniaudio.vorbis_get_info,
    "MP3": miniaudio.mp3_get_info,
}


class AudioDecodeError(TrunklineError):
    """Audio bytes could not be decoded: empty, not WAV/MP3/FLAC/Ogg Vorbis, corrupt, too long."""


def sniff_format(data: bytes) -> str | None:
    """The container the bytes start like: ``"WAV"``, ``"FLAC"``, ``"Ogg Vorbis"``, ``"MP3"``
    (an ID3 tag or an MPEG audio frame sync), or None."""
    head = data[:12]
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] == b"OggS":
        return "Ogg Vorbis"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "MP3"
    return None


def decode_audio(data: bytes, rate: int = 8000, *, max_seconds: float = MAX_SECONDS) -> Samples:
    """Decode WAV/MP3/FLAC/Ogg Vorbis bytes to mono int16 samples at ``rate`` (8000 or 16000).

    Raises :class:`AudioDecodeError` naming the problem; ``max_seconds`` bounds the decoded
    length (checked from the header, before decoding)."""
    if rate not in SAMPLE_RATES:
        raise AudioDecodeError(f"sample rate must be one of {SAMPLE_RATES}, got {rate}")
    if not data:
        raise AudioDecodeError("the audio is empty (0 bytes)")
    kind = sniff_format(data)
    if kind is None:
        raise AudioDecodeError(
            f"unrecognised audio format (starts {bytes(data[:8])!r}); "
            "expected WAV, MP3, FLAC or Ogg Vorbis"
        )
    try:
        info = _INFO[kind](data)
    except (miniaudio.MiniaudioError, ValueError) as exc:
        raise AudioDecodeError(f"corrupt or unsupported {kind} audio: {exc}") from exc
    source_rate = int(info.sample_rate)
    if source_rate <= 0 or int(info.nchannels) <= 0:
        raise AudioDecodeError(
            f"{kind} audio declares {info.nchannels} channels at {source_rate} Hz"
        )
    seconds = int(info.num_frames) / source_rate
    if seconds > max_seconds:
        raise AudioDecodeError(
            f"{kind} audio lasts {seconds:.0f} s, over the {max_seconds:.0f} s limit"
        )
    try:
        decoded = miniaudio.decode(
            data,
            output_format=miniaudio.SampleFormat.SIGNED16,
            nchannels=1,
            sample_rate=source_rate,
        )
    except (miniaudio.MiniaudioError, ValueError) as exc:
        raise AudioDecodeError(f"corrupt {kind} audio: {exc}") from exc
    samples = np.frombuffer(decoded.samples, dtype=np.int16)
    if samples.size == 0:
        raise AudioDecodeError(f"the {kind} audio holds no samples")
    return resample(samples, source_rate, rate)


async def decode_audio_async(
    data: bytes,
    rate: int = 8000,
    *,
    max_seconds: float = MAX_SECONDS,
    executor: Executor | None = None,
) -> Samples:
    """:func:`decode_audio` in ``executor`` (the loop's default one if None), off the loop."""
    loop = asyncio.get_running_loop()
    job = functools.partial(decode_audio, data, rate, max_seconds=max_seconds)
    return await loop.run_in_executor(executor, job)
