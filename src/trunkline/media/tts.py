"""Text-to-speech for ``talk``: a small engine interface, espeak-ng by default, a cache, async.

- :class:`TtsEngine` — the interface: ``synthesize(text, language=, style=, ssml=, sample_rate=)``
  returns 16-bit mono samples at ``sample_rate`` (8000 or 16000 Hz).
- :class:`EspeakEngine` — runs ``espeak-ng`` (Debian package ``espeak-ng``) as a subprocess,
  text on stdin, WAV on stdout; ``-m`` (SSML mode) when the text starts with ``<speak``.
- :class:`TtsCache` — bounded LRU keyed by (engine, text, language, style, sample_rate) with a
  byte budget.
- :class:`AsyncTts` — ``await tts.render(...)``: cache hits return at once; misses synthesise in
  an executor (off the event loop); concurrent identical misses share one synthesis.
- :class:`~trunkline.media.piper.PiperEngine` (in ``media/piper.py``) — the optional neural
  engine, piper-tts in a warm worker process; applications choose it with ``tts = "piper"``.
- :func:`apply_level` — the Vonage ``level`` (−1…1) as a linear gain ``1 + level``: 0 leaves the
  audio as is, 1 doubles it (saturating at the int16 limits), −1 is silence.

Languages: the Vonage list (VOICE-API §10.1) maps to espeak-ng voices in :data:`ESPEAK_VOICES`
(matched case-insensitively). Regional variants espeak-ng lacks use the nearest voice it has
(en-AU/en-IN/en-ZA → British English, es-MX/es-US → Latin-American Spanish, fr-CA → French,
cmn-TW → Mandarin, no-NO → Bokmål). A language outside that table (for example ``fil-PH``, which
espeak-ng cannot speak) raises :class:`TtsError` naming it: there is no silent fallback to
English, so a wrong language shows up in the call's error rather than as the wrong accent.

Style: ``style`` selects an espeak-ng voice variant, ``STYLE_VARIANTS[style % len]`` (0 = the
voice's own default, then female/male variants). Vonage styles are per-language voice choices
with no espeak counterpart, so any ``style >= 0`` is accepted and gives a stable, distinct voice.

Resampling: espeak-ng renders at 22 050 Hz; :func:`resample` converts with a Kaiser-windowed
sinc (β = 8.6, 16 zero crossings each side, cutoff 0.95 × the output Nyquist) as a polyphase
filter bank. Measured at 22 050 → 8000 Hz: flat (< 0.1 dB) to 3 kHz, −1.7 dB at 3.6 kHz, −6 dB at
3.8 kHz; a tone at 4.2 kHz aliases at −31 dB, anything from 4.5 kHz up at −84 dB or lower — well
under G.711's own noise. A 3.5 s prompt resamples in about 3.5 ms (8 kHz) / 5 ms (16 kHz).
"""

from __future__ import annotations

import asyncio
import functools
import io
import math
import subprocess
import wave
from collections import OrderedDict
from concurrent.futures import Executor
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from trunkline.errors import TrunklineError

Samples = npt.NDArray[np.int16]

SAMPLE_RATES: Final = (8000, 16000)

ESPEAK_VOICES: Final[dict[str, str]] = {
    "ar": "ar",
    "bn-in": "bn",
    "ca-es": "ca",
    "cmn-cn": "cmn",
    "cmn-tw": "cmn",
    "cs-cz": "cs",
    "cy-gb": "cy",
    "da-dk": "da",
    "de-de": "de",
    "el-gr": "el",
    "en-au": "en-gb",
    "en-gb": "en-gb",
    "en-gb-wls": "en-gb-x-gbcwmd",
    "en-in": "en-gb",
    "en-us": "en-us",
    "en-za": "en-gb",
    "es-es": "es",
    "es-mx": "es-419",
    "es-us": "es-419",
    "eu-es": "eu",
    "fi-fi": "fi",
    "fr-ca": "fr-fr",
    "fr-fr": "fr-fr",
    "he-il": "he",
    "hi-in": "hi",
    "hu-hu": "hu",
    "id-id": "id",
    "is-is": "is",
    "it-it": "it",
    "ja-jp": "ja",
    "ko-kr": "ko",
    "ml-in": "ml",
    "nb-no": "nb",
    "nl-nl": "nl",
    "no-no": "nb",
    "pl-pl": "pl",
    "pt-br": "pt-br",
    "pt-pt": "pt",
    "ro-ro": "ro",
    "ru-ru": "ru",
    "sk-sk": "sk",
    "sv-se": "sv",
    "ta-in": "ta",
    "te-in": "te",
    "th-th": "th",
    "tr-tr": "tr",
    "uk-ua": "uk",
    "vi-vn": "vi",
    "yue-cn": "yue",
}

_KAISER_BETA: Final = 8.6

STYLE_VARIANTS: Final = ("", "f3", "m3", "f2", "m2", "f4", "m4", "f1", "m1")


class TtsError(TrunklineError):
    """Speech could not be synthesised: unknown language, bad argument, or the engine failed."""


class TtsEngine(Protocol):
    """Turns text into 16-bit mono samples at ``sample_rate``."""

    @property
    def name(self) -> str:
        """Identifies the engine (and its voice set) in cache keys."""
        ...

    def synthesize(
        self, text: str, *, language: str, style: int, ssml: bool, sample_rate: int
    ) -> Samples: ...


def is_ssml(text: str) -> bool:
    """True when ``text`` is an SSML document (``<speak>…</speak>``)."""
    return text.lstrip().startswith("<speak")


def espeak_voice(language: str, style: int = 0) -> str:
    """The espeak-ng ``-v`` argument for a Vonage language and style; TtsError if unknown."""
    base = ESPEAK_VOICES.get(language.strip().lower())
    if base is None:
        raise TtsError(f"TTS language {language!r} is not supported by espeak-ng")
    if style < 0:
        raise TtsError(f"TTS style must be >= 0, got {style}")
    variant = STYLE_VARIANTS[style % len(STYLE_VARIANTS)]
    return f"{base}+{variant}" if variant else base


def _check_rate(sample_rate: int) -> None:
    if sample_rate not in SAMPLE_RATES:
        raise TtsError(f"TTS sample rate must be one of {SAMPLE_RATES}, got {sample_rate}")


@functools.lru_cache(maxsize=8)
def _filter_bank(src_rate: int, dst_rate: int) -> tuple[npt.NDArray[np.float64], int, int, int]:
    """Polyphase taps for ``src_rate → dst_rate``: (bank[phase, tap], up, down, half width)."""
    g = math.gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    cutoff = 0.95 * min(1.0, up / down)  # as a fraction of the input Nyquist
    half = math.ceil(16 / cutoff)  # 16 zero crossings each side, in input samples
    offsets = np.arange(-half + 1, half + 1)
    frac = (np.arange(up) * down % up) / up  # fractional input position of each phase
    dist = frac[:, None] - offsets[None, :]
    bank = cutoff * np.sinc(cutoff * dist)
    bank *= np.i0(_KAISER_BETA * np.sqrt(np.clip(1.0 - (dist / half) ** 2, 0.0, 1.0)))
    bank /= np.i0(_KAISER_BETA)
    return bank, up, down, half


def resample(samples: Samples, src_rate: int, dst_rate: int) -> Samples:
    """Resample 16-bit mono audio with a Kaiser-windowed sinc (see module docstring)."""
    if src_rate == dst_rate or samples.size == 0:
        return samples.astype(np.int16, copy=True)
    bank, up, down, half = _filter_bank(src_rate, dst_rate)
    n_out = samples.size * up // down
    padded = np.concatenate(
        [np.zeros(half, dtype=np.float64), samples.astype(np.float64), np.zeros(half + 1)]
    )
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half)
    out = np.empty(n_out, dtype=np.float64)
    for phase in range(min(up, n_out)):
        # Outputs phase, phase + up, … start at input (phase * down) // up and step by down.
        count = (n_out - phase + up - 1) // up
        first = (phase * down) // up + 1  # +1: window k covers offsets -half+1 … half
        rows = windows[first : first + count * down : down]
        out[phase::up] = rows @ bank[phase]
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


def apply_level(samples: Samples, level: float) -> Samples:
    """Scale by the Vonage ``level`` (−1…1) as gain ``1 + level``, saturating at int16 limits."""
    if not -1.0 <= level <= 1.0:
        raise TtsError(f"TTS level must be between -1 and 1, got {level}")
    if level == 0.0:
        return samples
    scaled = np.rint(samples.astype(np.float64) * (1.0 + level))
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def decode_wav(data: bytes) -> tuple[Samples, int]:
    """Decode 16-bit mono PCM WAV bytes (a streamed header's bogus length is tolerated)."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            if w.getsampwidth() != 2 or w.getnchannels() != 1:
                raise TtsError("TTS engine produced WAV that is not 16-bit mono")
            rate = w.getframerate()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise TtsError(f"TTS engine produced unreadable WAV: {exc}") from exc
    frames = frames[: len(frames) // 2 * 2]
    return np.frombuffer(frames, dtype="<i2").astype(np.int16), rate


class EspeakEngine:
    """espeak-ng as a subprocess: text on stdin, WAV on stdout, resampled to ``sample_rate``."""

    def __init__(self, executable: str = "espeak-ng", *, timeout: float = 30.0) -> None:
        self._executable = executable
        self._timeout = timeout

    @property
    def name(self) -> str:
        return "espeak-ng"

    def command(self, *, language: str, style: int, ssml: bool) -> list[str]:
        """The argument vector for one synthesis (text goes on stdin, UTF-8)."""
        cmd = [self._executable, "--stdout", "-b", "1", "-v", espeak_voice(language, style)]
        if ssml:
            cmd.append("-m")
        return cmd

    def synthesize(
        self, text: str, *, language: str, style: int, ssml: bool, sample_rate: int
    ) -> Samples:
        _check_rate(sample_rate)
        cmd = self.command(language=language, style=style, ssml=ssml)
        try:
            proc = subprocess.run(
                cmd,
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=self._timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise TtsError(f"{self._executable} is not installed (Debian: espeak-ng)") from exc
        except subprocess.TimeoutExpired as exc:
            raise TtsError(f"espeak-ng took longer than {self._timeout} s") from exc
        if proc.returncode != 0:
            detail = proc.stderr.decode("utf-8", "replace").strip()
            raise TtsError(f"espeak-ng failed ({proc.returncode}): {detail}")
        samples, rate = decode_wav(proc.stdout)
        return resample(samples, rate, sample_rate)


CacheKey = tuple[str, str, str, int, int]


class TtsCache:
    """LRU of rendered prompts under a byte budget; cached arrays are read-only."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[CacheKey, Samples] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(engine: str, text: str, language: str, style: int, sample_rate: int) -> CacheKey:
        return (engine, text, language.strip().lower(), style, sample_rate)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: CacheKey) -> Samples | None:
        samples = self._items.get(key)
        if samples is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return samples

    def put(self, key: CacheKey, samples: Samples) -> Samples:
        """Store (read-only) and return ``samples``; an item over the whole budget is not kept."""
        frozen = samples.copy()
        frozen.setflags(write=False)
        if frozen.nbytes > self.max_bytes:
            return frozen
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes
        self._items[key] = frozen
        self._bytes += frozen.nbytes
        while self._bytes > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self._bytes -= evicted.nbytes
        return frozen


class AsyncTts:
    """Cached, coalesced, off-loop synthesis for the event loop."""

    def __init__(
        self,
        engine: TtsEngine | None = None,
        *,
        cache: TtsCache | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.engine: TtsEngine = engine if engine is not None else EspeakEngine()
        self.cache = cache if cache is not None else TtsCache()
        self._executor = executor
        self._inflight: dict[CacheKey, asyncio.Future[Samples]] = {}

    async def render(
        self,
        text: str,
        *,
        language: str = "en-US",
        style: int = 0,
        level: float = 0.0,
        sample_rate: int = 8000,
    ) -> Samples:
        """Samples for ``text`` at ``sample_rate`` with ``level`` applied; TtsError on failure."""
        _check_rate(sample_rate)
        if not -1.0 <= level <= 1.0:
            raise TtsError(f"TTS level must be between -1 and 1, got {level}")
        key = TtsCache.key(self.engine.name, text, language, style, sample_rate)
        cached = self.cache.get(key)
        if cached is None:
            future = self._inflight.get(key)
            if future is None:
                future = self._start(key, text, language, style, sample_rate)
            cached = await asyncio.shield(future)
        return apply_level(cached, level)

    async def aclose(self) -> None:
        """Release the engine (an engine with a ``close()``, such as piper's worker process)."""
        close = getattr(self.engine, "close", None)
        if callable(close):
            await asyncio.get_running_loop().run_in_executor(self._executor, close)

    def _start(
        self, key: CacheKey, text: str, language: str, style: int, sample_rate: int
    ) -> asyncio.Future[Samples]:
        loop = asyncio.get_running_loop()

        def job() -> Samples:
            return self.engine.synthesize(
                text, language=language, style=style, ssml=is_ssml(text), sample_rate=sample_rate
            )

        raw = loop.run_in_executor(self._executor, job)
        future: asyncio.Future[Samples] = loop.create_future()
        self._inflight[key] = future

        def done(result: asyncio.Future[Samples]) -> None:
            self._inflight.pop(key, None)
            if result.cancelled():
                future.cancel()
                return
            exc = result.exception()
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(self.cache.put(key, result.result()))

        raw.add_done_callback(done)
        # Mark a failure as retrieved even if every waiter was cancelled meanwhile.
        future.add_done_callback(lambda f: None if f.cancelled() else f.exception())
        return future
