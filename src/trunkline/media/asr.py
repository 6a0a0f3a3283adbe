"""Speech recognition for ``input`` with ``type: ["speech"]``: a small engine interface,
pocketsphinx by default, and a frame-driven session that turns 8 kHz audio into events.

- :class:`SpeechEngine` — the interface: ``recognizer(language, context)`` gives a
  :class:`Recognizer` for one utterance (16-bit mono at ``engine.sample_rate``).
- :class:`PocketsphinxEngine` — CMU pocketsphinx with the English model its PyPI wheel
  ships (``pocketsphinx.get_model_path()``). With ``speech.context`` hints it decodes
  against a JSGF grammar made of the hints (menu words, yes/no, digit strings: fast and
  accurate); without hints, free speech with the bundled trigram language model.
- :class:`SpeechSession` — pure and clock-free: fed one 20 ms frame (160 int16 samples at
  8 kHz) at a time, it finds the utterance with webrtcvad, feeds it (upsampled to 16 kHz)
  to the recogniser and returns events as data: :class:`SpeechStarted`,
  :class:`SpeechPartial` (beyond Vonage: interim hypotheses), then one
  :class:`SpeechResult` whose ``timeout_reason`` is ``end_on_silence_timeout``,
  ``max_duration`` or ``start_timeout`` (spec §2.3, §3.6). All times are counted in frames.
- :class:`SpeechListener` — the thin asyncio shell a media pump's per-leg tap feeds.

Languages: the model is US English. ``en-US`` and the other English variants of the
Vonage ASR list (the same words, other accents: measured on British espeak-ng voices) use
it; any other language raises :class:`UnsupportedLanguage` naming it, so the driver
reports an error instead of recognising nothing.

Grammar mode: each hint is one alternative (lower-cased, punctuation dropped, digits
spoken as words); the result text is the hint as written. A hint made only of digits
(``"0"``, ``"1234"``) enables digit strings of any length, reported as numerals
(``"559"``). Words missing from the pronouncing dictionary drop their hint; when no hint
is left the session falls back to free speech. A grammar always produces one of its
phrases: out-of-grammar speech is forced onto the nearest (low confidence, no rejection).

Telephone audio: the model was trained on 16 kHz speech. 8 kHz frames are upsampled
(:class:`Upsampler2x`); every utterance starts from :data:`TELEPHONE_CMN`, a cepstral mean
measured on G.711 speech, instead of the model's wideband one (short utterances decode far
better from it, and a pooled decoder's result does not depend on its previous calls).
Filling the empty 4–8 kHz band with faint noise was tried and made results worse.

Measured with ``bench/asr.py`` (186 utterances, 20 ms frames, G.711 with line noise):
grammar inputs 30/30 exact on piper's neural voice, 49/50 on flite voices, 37/50 on
espeak-ng's robotic ones; free speech 15 % word error rate on piper, 7 % on flite, over
80 % on espeak-ng (the model hardly understands it). A grammar has no rejection: speech
outside it mostly comes back as one of its phrases, with a confidence no higher or lower
than right answers (so no threshold separates them).

Decoding costs a real-time factor of about 0.02 for grammars (≈ 0.4 ms per 20 ms frame while
the caller speaks: ~50 concurrent inputs per core) and 0.2–0.3 for free speech (4–6 ms a
frame: 3–5 per core); waiting for speech costs only webrtcvad (µs a frame).
A decoder takes 0.3 s to load, so decoders are pooled (:meth:`PocketsphinxEngine.warm`
loads them ahead). pocketsphinx holds the GIL while decoding, so threads add no cores:
grammar sessions can run on the event loop (:class:`SpeechListener` without an executor);
free-speech sessions belong in an executor (a thread keeps the loop responsive between
frames; a process per core is how to scale past 3–5 per core).
"""

from __future__ import annotations

import asyncio
import re
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol, cast

import numpy as np
import numpy.typing as npt

from trunkline.engine.ports import SpeechOptions
from trunkline.errors import TrunklineError
from trunkline.media.amd import FRAME_MS, FRAME_SAMPLES, Vad

Samples = npt.NDArray[np.int16]

#: Languages the bundled US English model serves (lower-case BCP-47 tags).
ENGLISH: Final = frozenset(
    {"en-us", "en-gb", "en-au", "en-ca", "en-ie", "en-in", "en-nz", "en-za", "en-gb-wls"}
)

DIGIT_WORDS: Final = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
)
_SPOKEN_DIGIT: Final = {w: str(i) for i, w in enumerate(DIGIT_WORDS)} | {"oh": "0"}
_FILLERS: Final = frozenset({"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "[BREATH]"})

#: Initial cepstral mean for utterances: the mean pocketsphinx's live CMN reached on 20
#: G.711 utterances (espeak-ng and flite voices, sentences outside the tests and benchmark)
#: upsampled to 16 kHz. The model's own start (40,3,-1,0,…) suits wideband audio; from it
#: short telephone utterances decode far worse (the mean has no time to adapt).
TELEPHONE_CMN: Final = (
    "41.08,19.19,-33.38,44.01,-32.95,14.01,-2.35,-15.27,12.13,-18.76,13.04,-7.13,1.01"
)

TimeoutReason = Literal["end_on_silence_timeout", "max_duration", "start_timeout"]


class SpeechError(TrunklineError):
    """Speech recognition could not run; ``str(exc)`` is the reason to report."""


class UnsupportedLanguage(SpeechError):
    """No recognition model for the requested language."""


# -- events ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller started to speak, ``at_frame`` frames after the session started."""

    at_frame: int


@dataclass(frozen=True, slots=True)
class SpeechPartial:
    """An interim hypothesis while the caller speaks (it changed since the last one)."""

    text: str
    at_frame: int


@dataclass(frozen=True, slots=True)
class SpeechResult:
    """The session's one final result: alternatives ``(text, confidence)``, best first."""

    results: tuple[tuple[str, float], ...]
    timeout_reason: TimeoutReason
    at_frame: int
    #: the utterance at 8 kHz (from a little before speech started) when ``save_audio``
    audio: Samples | None = field(default=None, compare=False)


SpeechEvent = SpeechStarted | SpeechPartial | SpeechResult


# -- the engine interface ----------------------------------------------------------------------
class Recognizer(Protocol):
    """Decodes one utterance fed in pieces of 16-bit mono at the engine's sample rate."""

    def feed(self, pcm: Samples) -> None: ...

    def partial(self) -> str:
        """The best hypothesis so far ("" if none)."""
        ...

    def finish(self) -> list[tuple[str, float]]:
        """End the utterance; alternatives best first (empty: nothing recognised)."""
        ...

    def close(self) -> None:
        """Release the decoder (after :meth:`finish`, or to abandon the utterance)."""
        ...


class SpeechEngine(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def sample_rate(self) -> int: ...

    def recognizer(self, language: str, context: Sequence[str]) -> Recognizer:
        """A recogniser for one utterance; :class:`UnsupportedLanguage` if it cannot."""
        ...


def check_language(language: str) -> str:
    """The normalised language if the bundled English model serves it, else raise."""
    key = language.strip().lower()
    if key not in ENGLISH:
        raise UnsupportedLanguage(
            f"speech recognition language {language!r} is not supported "
            f"(available: English: {', '.join(sorted(ENGLISH))})"
        )
    return key


# -- grammars from hints -----------------------------------------------------------------------
def hint_words(hint: str) -> list[str]:
    """A hint as the words a grammar expects: lower case, no punctuation, digits spoken."""
    words: list[str] = []
    for token in re.findall(r"[a-z']+|\d", hint.lower()):
        words.append(DIGIT_WORDS[int(token)] if token.isdigit() else token.strip("'"))
    return [w for w in words if w]


@dataclass(frozen=True)
class Grammar:
    """A JSGF grammar built from hints, and how to turn a decoded word string back."""

    name: str
    jsgf: str
    phrases: dict[str, str]  # decoded words (space-joined) → the hint as written
    digits: bool


def build_grammar(context: Sequence[str], known: Callable[[str], bool]) -> Grammar | None:
    """The grammar for ``context`` hints (words ``known`` to the dictionary), or None."""
    phrases: dict[str, str] = {}
    digits = False
    for hint in context:
        stripped = hint.strip()
        if stripped.isdigit():
            digits = True
            continue
        words = hint_words(stripped)
        if words and all(known(w) for w in words):
            phrases.setdefault(" ".join(words), stripped)
    if not phrases and not digits:
        return None
    choices = sorted(phrases) + (["<digit>+"] if digits else [])
    body = "\n".join(
        [
            "#JSGF V1.0;",
            "grammar hints;",
            "<digit> = " + " | ".join((*DIGIT_WORDS, "oh")) + ";",
            "public <utt> = " + " | ".join(f"( {c} )" for c in choices) + ";",
            "",
        ]
    )
    name = f"g{zlib.crc32(body.encode()):08x}"
    return Grammar(name, body, phrases, digits)


def grammar_text(grammar: Grammar, hyp: str) -> str:
    """The reported text for a grammar decode: the hint as written, or the digits."""
    if hyp in grammar.phrases:
        return grammar.phrases[hyp]
    words = hyp.split()
    if grammar.digits and words and all(w in _SPOKEN_DIGIT for w in words):
        return "".join(_SPOKEN_DIGIT[w] for w in words)
    return hyp


# -- pocketsphinx ------------------------------------------------------------------------------
class PocketsphinxEngine:
    """pocketsphinx with its bundled US English model; decoders are pooled and reused."""

    def __init__(self, *, max_alternatives: int = 3, pool_size: int = 8) -> None:
        import pocketsphinx  # type: ignore[import-untyped]

        self._ps = pocketsphinx
        self.max_alternatives = max_alternatives
        self._pool_size = pool_size
        self._free: list[_PsDecoder] = []
        self._lock = threading.Lock()  # sessions finish (and release) in executor threads
        self.decoders_made = 0

    @property
    def name(self) -> str:
        return "pocketsphinx"

    @property
    def sample_rate(self) -> int:
        return 16000

    def _acquire(self) -> _PsDecoder:
        with self._lock:
            if self._free:
                return self._free.pop()
            self.decoders_made += 1
        return _PsDecoder(self._ps.Decoder(loglevel="FATAL"))

    def _release(self, decoder: _PsDecoder) -> None:
        with self._lock:
            if len(self._free) < self._pool_size:
                self._free.append(decoder)

    def warm(self, count: int = 1) -> None:
        """Load ``count`` decoders into the pool now (0.3 s each: call it off the event loop
        at start-up, so the first speech input does not stall the loop while one loads)."""
        made = [self._acquire() for _ in range(min(count, self._pool_size))]
        for decoder in made:
            self._release(decoder)

    def recognizer(self, language: str, context: Sequence[str]) -> Recognizer:
        check_language(language)
        decoder = self._acquire()
        grammar = build_grammar(context, lambda w: decoder.raw.lookup_word(w) is not None)
        try:
            decoder.use(grammar)
        except RuntimeError as exc:
            self._release(decoder)
            raise SpeechError(f"pocketsphinx refused the grammar: {exc}") from exc
        return PocketsphinxRecognizer(self, decoder, grammar)


class _PsDecoder:
    """One ``pocketsphinx.Decoder`` and the grammar searches already loaded into it."""

    def __init__(self, raw: object) -> None:
        self.raw = cast(_RawDecoder, raw)
        self.searches: set[str] = set()
        #: every utterance starts from this cepstral mean, so a pooled decoder's result does
        #: not depend on what it decoded before
        self.cmn0 = TELEPHONE_CMN

    def use(self, grammar: Grammar | None) -> None:
        if grammar is None:
            self.raw.activate_search("_default")
            return
        if grammar.name not in self.searches:
            self.raw.add_jsgf_string(grammar.name, grammar.jsgf)
            self.searches.add(grammar.name)
        self.raw.activate_search(grammar.name)


class _Hyp(Protocol):
    hypstr: str


class _Seg(Protocol):
    word: str
    prob: float


class _NBest(Protocol):
    hypstr: str
    score: float


class _RawDecoder(Protocol):
    """The part of ``pocketsphinx.Decoder`` used here (the module has no type hints)."""

    def lookup_word(self, word: str) -> str | None: ...
    def get_cmn(self) -> str: ...
    def set_cmn(self, cmn: str) -> None: ...
    def activate_search(self, name: str) -> None: ...
    def add_jsgf_string(self, name: str, jsgf: str) -> None: ...
    def start_utt(self) -> None: ...
    def process_raw(self, data: bytes, no_search: bool, full_utt: bool) -> int: ...
    def end_utt(self) -> None: ...
    def hyp(self) -> _Hyp | None: ...
    def get_prob(self) -> float: ...
    def seg(self) -> Iterable[_Seg]: ...
    def nbest(self) -> Iterable[_NBest]: ...


class PocketsphinxRecognizer:
    """One utterance on a pooled decoder."""

    def __init__(
        self, engine: PocketsphinxEngine, decoder: _PsDecoder, grammar: Grammar | None
    ) -> None:
        self._engine = engine
        self._decoder: _PsDecoder | None = decoder
        self.grammar = grammar
        decoder.raw.set_cmn(decoder.cmn0)
        decoder.raw.start_utt()
        self._in_utt = True

    @property
    def _raw(self) -> _RawDecoder:
        if self._decoder is None:
            raise SpeechError("recogniser already closed")
        return self._decoder.raw

    def feed(self, pcm: Samples) -> None:
        self._raw.process_raw(pcm.astype("<i2", copy=False).tobytes(), False, False)

    def partial(self) -> str:
        hyp = self._raw.hyp()
        return self._text(hyp.hypstr) if hyp is not None and hyp.hypstr else ""

    def _text(self, hyp: str) -> str:
        return grammar_text(self.grammar, hyp) if self.grammar is not None else hyp

    def finish(self) -> list[tuple[str, float]]:
        raw = self._raw
        raw.end_utt()
        self._in_utt = False
        hyp = raw.hyp()
        if hyp is None or not hyp.hypstr.strip():
            return []
        best = hyp.hypstr.strip()
        results = [(self._text(best), self._confidence(raw))]
        if self.grammar is None and self._engine.max_alternatives > 1:
            results += self._alternatives(raw, best, results[0][1])
        return results

    @staticmethod
    def _confidence(raw: _RawDecoder) -> float:
        """Mean posterior probability of the words (lattice posteriors), 0…1."""
        probs = [min(1.0, max(0.0, float(s.prob))) for s in raw.seg() if s.word not in _FILLERS]
        if not probs:
            return min(1.0, max(0.0, float(raw.get_prob())))
        return float(sum(probs) / len(probs))

    def _alternatives(
        self, raw: _RawDecoder, best: str, best_conf: float
    ) -> list[tuple[str, float]]:
        """Other distinct N-best strings; confidence scaled by their score against the best."""
        seen = {best}
        out: list[tuple[str, float]] = []
        top: float | None = None
        for i, nb in enumerate(raw.nbest()):
            if i >= 20 or len(out) >= self._engine.max_alternatives - 1:
                break
            text = " ".join(nb.hypstr.split())
            if top is None:
                top = float(nb.score) or 1.0
            if not text or text in seen:
                continue
            seen.add(text)
            ratio = min(1.0, max(0.0, float(nb.score) / top))
            out.append((text, round(best_conf * ratio * 0.9, 7)))
        return sorted(out, key=lambda alt: -alt[1])

    def close(self) -> None:
        decoder, self._decoder = self._decoder, None
        if decoder is None:
            return
        if self._in_utt:
            decoder.raw.end_utt()
            self._in_utt = False
        self._engine._release(decoder)


# -- 8 → 16 kHz, streaming ---------------------------------------------------------------------
class Upsampler2x:
    """Doubles the sample rate frame by frame with a Kaiser-windowed sinc (β = 8).

    The interpolation filter ``h[n] = sinc(n/2)·w[n]`` is zero at even ``n ≠ 0``, so even
    outputs are the input samples and odd outputs are a ``2·half_taps``-tap FIR of them.
    The input history carries across calls (no clicks at frame edges); the output lags the
    input by ``half_taps`` input samples (2 ms at the default 16).
    """

    def __init__(self, half_taps: int = 16) -> None:
        self.half = half_taps
        n_all = np.arange(-2 * half_taps + 1, 2 * half_taps)
        window = np.kaiser(n_all.size, 8.0)
        odd = n_all % 2 == 1
        self._taps = np.sinc(n_all[odd] / 2.0) * window[odd]  # n = -(2H-1), …, 2H-1
        self._hist = np.zeros(2 * half_taps - 1)

    def __call__(self, frame: Samples) -> Samples:
        x = np.concatenate([self._hist, frame.astype(np.float64)])
        self._hist = x[x.size - self._hist.size :]
        odd = np.convolve(x, self._taps, mode="valid")
        even = x[self.half - 1 : x.size - self.half]
        out = np.empty(2 * frame.size)
        out[0::2] = even
        out[1::2] = odd
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


# -- the session -------------------------------------------------------------------------------
def frames_for(seconds: float) -> int:
    return max(1, round(seconds * 1000 / FRAME_MS))


def vad_mode(sensitivity: int) -> int:
    """Vonage ``sensitivity`` (0…100, higher hears quieter speech) as a webrtcvad mode 3…0."""
    return 3 - min(3, max(0, sensitivity) * 4 // 101)


class SpeechSession:
    """One speech ``input``: 20 ms 8 kHz frames in, :data:`SpeechEvent` values out.

    Waiting: frames go to webrtcvad only (µs each) and to a short pre-roll ring; the
    utterance starts at ``min_speech_frames`` consecutive speech frames (the pre-roll is
    decoded too, so the first syllable is not lost). ``start_timeout`` without speech gives
    ``SpeechResult((), "start_timeout")``. Speaking: frames are decoded; the utterance ends
    after ``end_on_silence`` of non-speech (``end_on_silence_timeout``) or ``max_duration``
    from its start (``max_duration``). A partial hypothesis is checked every
    ``partial_every`` frames and reported when it changed.
    """

    def __init__(
        self,
        engine: SpeechEngine,
        options: SpeechOptions,
        *,
        min_speech_frames: int = 4,
        preroll_frames: int = 15,
        partial_every: int = 10,
    ) -> None:
        self.options = options
        if engine.sample_rate not in (8000, 16000):
            raise SpeechError(f"unsupported engine sample rate {engine.sample_rate}")
        self._up = Upsampler2x() if engine.sample_rate == 16000 else None
        self._vad = Vad(vad_mode(options.sensitivity))
        self.recognizer = engine.recognizer(options.language, options.context)
        self.min_speech_frames = min_speech_frames
        self.partial_every = partial_every
        self.start_timeout_frames = frames_for(options.start_timeout)
        self.silence_frames = frames_for(options.end_on_silence)
        self.max_frames = frames_for(options.max_duration)
        self._preroll: deque[Samples] = deque(maxlen=preroll_frames)
        self._index = 0
        self._run = 0
        self._silence = 0
        self._utt_frames = 0
        self._started_at: int | None = None
        self._last_partial = ""
        self._audio: list[Samples] = []
        self.result: SpeechResult | None = None

    @property
    def done(self) -> bool:
        return self.result is not None

    @property
    def speaking(self) -> bool:
        return self._started_at is not None and self.result is None

    def feed(self, frame: Samples) -> list[SpeechEvent]:
        """Feed the next 20 ms frame (160 int16 samples at 8 kHz); return its events."""
        if frame.shape != (FRAME_SAMPLES,):
            raise ValueError(f"expected {FRAME_SAMPLES} samples, got shape {frame.shape}")
        index = self._index
        self._index += 1
        if self.result is not None:
            return []
        speech = self._vad.is_speech(frame)
        if self._started_at is None:
            return self._waiting(index, frame, speech)
        return self._speaking(index, frame, speech)

    def _waiting(self, index: int, frame: Samples, speech: bool) -> list[SpeechEvent]:
        self._preroll.append(frame.copy())  # the pump may reuse its frame buffers
        self._run = self._run + 1 if speech else 0
        if self._run >= self.min_speech_frames:
            self._started_at = index - self._run + 1
            events: list[SpeechEvent] = [SpeechStarted(self._started_at)]
            for buffered in self._preroll:
                self._decode(buffered)
            self._utt_frames = self._run
            self._preroll.clear()
            return events
        if index + 1 >= self.start_timeout_frames:
            return [self._finish(index, "start_timeout", decode=False)]
        return []

    def _speaking(self, index: int, frame: Samples, speech: bool) -> list[SpeechEvent]:
        self._decode(frame)
        self._utt_frames += 1
        self._silence = 0 if speech else self._silence + 1
        if self._silence >= self.silence_frames:
            return [self._finish(index, "end_on_silence_timeout")]
        if self._utt_frames >= self.max_frames:
            return [self._finish(index, "max_duration")]
        if self._utt_frames % self.partial_every == 0:
            text = self.recognizer.partial()
            if text and text != self._last_partial:
                self._last_partial = text
                return [SpeechPartial(text, index + 1)]
        return []

    def _decode(self, frame: Samples) -> None:
        if self.options.save_audio:
            self._audio.append(frame.copy())
        self.recognizer.feed(self._up(frame) if self._up is not None else frame)

    def _finish(self, index: int, reason: TimeoutReason, *, decode: bool = True) -> SpeechResult:
        results = self.recognizer.finish() if decode else []
        self.recognizer.close()
        audio = None
        if self.options.save_audio:
            audio = np.concatenate(self._audio) if self._audio else np.zeros(0, np.int16)
        self.result = SpeechResult(tuple(results), reason, index + 1, audio)
        return self.result

    def close(self) -> None:
        """Abandon the session (the input ended another way); releases the decoder."""
        if self.result is None:
            self.recognizer.close()


# -- the asyncio shell -------------------------------------------------------------------------
class SpeechListener:
    """Feeds a :class:`SpeechSession` from a media tap and delivers its events on the loop.

    ``feed(frame)`` is called from the event loop (the media pump's per-leg tap); frames
    are queued and decoded in order, on the loop when ``executor`` is None (fine for
    grammar inputs), else in ``executor`` one batch at a time. ``on_event`` is called on
    the loop for each event; after the :class:`SpeechResult` nothing more comes. Creating
    the listener raises :class:`SpeechError` (e.g. :class:`UnsupportedLanguage`) at once.
    """

    def __init__(
        self,
        engine: SpeechEngine,
        options: SpeechOptions,
        on_event: Callable[[SpeechEvent], None],
        *,
        on_error: Callable[[Exception], None] | None = None,
        executor: Executor | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.session = SpeechSession(engine, options)
        self._on_event = on_event
        self._on_error = on_error
        self._executor = executor
        self._loop = loop
        self._queue: list[Samples] = []
        self._busy = False
        self.closed = False

    def feed(self, frame: Samples) -> None:
        if self.closed or self.session.done:
            return
        if self._executor is None:
            try:
                events = self.session.feed(frame)
            except Exception as exc:  # a decoder failure ends the listener, reported once
                self._fail(exc)
                return
            self._deliver(events)
            return
        self._queue.append(frame.copy())
        if not self._busy:
            self._run_batch()

    def _run_batch(self) -> None:
        batch, self._queue = self._queue, []
        self._busy = True
        loop = self._loop or asyncio.get_running_loop()
        session = self.session

        def job() -> list[SpeechEvent]:
            events: list[SpeechEvent] = []
            for f in batch:
                events += session.feed(f)
            return events

        future = loop.run_in_executor(self._executor, job)

        def done(fut: asyncio.Future[list[SpeechEvent]]) -> None:
            self._busy = False
            if fut.cancelled():
                self.close()
                return
            exc = fut.exception()
            if isinstance(exc, Exception):
                self._fail(exc)
                return
            self._deliver(fut.result())
            if self.closed:
                self.session.close()
            elif self._queue and not self.session.done:
                self._run_batch()

        future.add_done_callback(done)

    def _fail(self, exc: Exception) -> None:
        self.close()
        if self._on_error is None:
            raise exc
        self._on_error(exc)

    def _deliver(self, events: list[SpeechEvent]) -> None:
        for event in events:
            if self.closed:
                return
            self._on_event(event)

    def close(self) -> None:
        """Stop: no more events; the decoder goes back to the pool once idle."""
        if self.closed:
            return
        self.closed = True
        self._queue.clear()
        if not self._busy:
            self.session.close()
