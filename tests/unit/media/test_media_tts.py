"""TTS: real espeak-ng audio, resampling, level, the cache and the async front."""

from __future__ import annotations

import asyncio
import shutil
import threading

import numpy as np
import pytest

from trunkline.errors import TrunklineError
from trunkline.media.tts import (
    ESPEAK_VOICES,
    AsyncTts,
    EspeakEngine,
    Samples,
    TtsCache,
    TtsError,
    apply_level,
    espeak_voice,
    is_ssml,
    resample,
)

SENTENCE = "Thank you for calling, please hold while we connect your call."


@pytest.fixture(scope="module")
def espeak() -> EspeakEngine:
    assert shutil.which("espeak-ng"), "espeak-ng must be installed (Debian package espeak-ng)"
    return EspeakEngine()


def _rms(samples: Samples) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def _say(engine: EspeakEngine, text: str, *, rate: int = 8000, language: str = "en-US") -> Samples:
    return engine.synthesize(text, language=language, style=0, ssml=is_ssml(text), sample_rate=rate)


class CountingEngine:
    """Wraps a real engine and counts synthesize calls; optionally blocks until released."""

    def __init__(self, inner: EspeakEngine, gate: threading.Event | None = None) -> None:
        self.inner = inner
        self.calls = 0
        self.gate = gate

    @property
    def name(self) -> str:
        return self.inner.name

    def synthesize(
        self, text: str, *, language: str, style: int, ssml: bool, sample_rate: int
    ) -> Samples:
        self.calls += 1
        if self.gate is not None:
            assert self.gate.wait(10)
        return self.inner.synthesize(
            text, language=language, style=style, ssml=ssml, sample_rate=sample_rate
        )


@pytest.mark.parametrize("rate", [8000, 16000])
def test_sentence_is_audible_and_plausibly_long(espeak: EspeakEngine, rate: int) -> None:
    audio = _say(espeak, SENTENCE, rate=rate)
    assert audio.dtype == np.int16
    assert 1.0 < audio.size / rate < 6.0
    assert _rms(audio) > 500


def test_both_rates_give_the_same_duration(espeak: EspeakEngine) -> None:
    narrow = _say(espeak, SENTENCE, rate=8000)
    wide = _say(espeak, SENTENCE, rate=16000)
    assert abs(narrow.size / 8000 - wide.size / 16000) < 0.01


def test_ssml_break_makes_it_longer(espeak: EspeakEngine) -> None:
    plain = _say(espeak, "<speak>Hello there goodbye now</speak>")
    paused = _say(espeak, '<speak>Hello there <break time="1s"/> goodbye now</speak>')
    longer = _say(espeak, '<speak>Hello there <break time="2s"/> goodbye now</speak>')
    assert 0.8 * 8000 < paused.size - plain.size < 1.3 * 8000
    assert 0.9 * 8000 < longer.size - paused.size < 1.1 * 8000


def test_ssml_tags_are_not_spoken(espeak: EspeakEngine) -> None:
    tagged = _say(espeak, "<speak><p>Hello</p></speak>")
    plain = _say(espeak, "Hello")
    assert abs(tagged.size - plain.size) < 0.4 * 8000


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en-GB", "Good morning"),
        ("de-DE", "Guten Morgen"),
        ("fr-FR", "Bonjour à tous"),
        ("es-ES", "Buenos días"),
        ("it-IT", "Buongiorno"),
        ("pt-BR", "Bom dia"),
        ("nl-NL", "Goedemorgen"),
        ("ja-JP", "こんにちは"),
    ],
)
def test_languages_speak(espeak: EspeakEngine, language: str, text: str) -> None:
    audio = _say(espeak, text, language=language)
    assert audio.size > 0.3 * 8000
    assert _rms(audio) > 300


def test_every_mapped_voice_exists_in_espeak(espeak: EspeakEngine) -> None:
    for language in sorted(ESPEAK_VOICES):
        assert _say(espeak, "1", language=language).size > 0, language


def test_style_picks_a_voice_variant(espeak: EspeakEngine) -> None:
    assert espeak_voice("en-US", 0) == "en-us"
    assert espeak_voice("EN-us", 1) == "en-us+f3"
    default = espeak.synthesize("Hello", language="en-US", style=0, ssml=False, sample_rate=8000)
    female = espeak.synthesize("Hello", language="en-US", style=1, ssml=False, sample_rate=8000)
    assert default.size != female.size or not np.array_equal(default, female)


def test_unknown_language_is_an_error_naming_it(espeak: EspeakEngine) -> None:
    with pytest.raises(TtsError, match="fil-PH") as info:
        _say(espeak, "Hello", language="fil-PH")
    assert isinstance(info.value, TrunklineError)
    with pytest.raises(TtsError, match="xx-YY"):
        espeak_voice("xx-YY")


def test_bad_rate_and_style_are_errors(espeak: EspeakEngine) -> None:
    with pytest.raises(TtsError, match="sample rate"):
        _say(espeak, "Hello", rate=44100)
    with pytest.raises(TtsError, match="style"):
        espeak_voice("en-US", -1)


def test_text_starting_with_a_dash_is_spoken_not_parsed_as_an_option(espeak: EspeakEngine) -> None:
    assert _rms(_say(espeak, "-v is not an option here")) > 300


def test_missing_executable_is_a_tts_error() -> None:
    engine = EspeakEngine("/nonexistent/espeak-ng")
    with pytest.raises(TtsError, match="not installed"):
        engine.synthesize("Hi", language="en-US", style=0, ssml=False, sample_rate=8000)


def test_resample_keeps_a_tone_and_removes_what_the_new_rate_cannot_carry() -> None:
    t = np.arange(22050) / 22050
    tone = (10000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    out = resample(tone, 22050, 8000)
    assert out.size == 8000
    spectrum = np.abs(np.fft.rfft(out[1000:7000].astype(np.float64) * np.hanning(6000)))
    assert abs(np.argmax(spectrum) * 8000 / 6000 - 1000) < 2
    assert 6500 < _rms(out[100:-100]) < 7600  # 10000 / sqrt(2)
    high = (10000 * np.sin(2 * np.pi * 6000 * t)).astype(np.int16)  # above the 4 kHz Nyquist
    assert _rms(resample(high, 22050, 8000)[100:-100]) < 10


@pytest.mark.parametrize("size", [0, 1, 2, 441, 1000, 22051])
def test_resample_length_is_the_exact_ratio(size: int) -> None:
    audio = np.ones(size, dtype=np.int16)
    assert resample(audio, 22050, 8000).size == size * 160 // 441
    assert resample(audio, 22050, 16000).size == size * 320 // 441
    assert resample(audio, 8000, 8000).size == size


def test_resample_to_16k_keeps_a_3k_tone() -> None:
    t = np.arange(22050) / 22050
    tone = (8000 * np.sin(2 * np.pi * 3000 * t)).astype(np.int16)
    out = resample(tone, 22050, 16000)
    expected = 8000 * np.sin(2 * np.pi * 3000 * np.arange(16000) / 16000)
    assert np.abs(out[200:-200] - expected[200:-200]).max() < 120


def test_level_gain_and_clipping() -> None:
    audio = np.array([0, 1000, -1000, 20000, -20000, 32767, -32768], dtype=np.int16)
    assert apply_level(audio, 0.0) is audio
    assert apply_level(audio, -1.0).tolist() == [0] * 7
    assert apply_level(audio, -0.5).tolist() == [0, 500, -500, 10000, -10000, 16384, -16384]
    loud = apply_level(audio, 1.0)
    assert loud.dtype == np.int16
    assert loud.tolist() == [0, 2000, -2000, 32767, -32768, 32767, -32768]
    with pytest.raises(TtsError, match="level"):
        apply_level(audio, 1.5)


def test_cache_lru_and_byte_budget() -> None:
    cache = TtsCache(max_bytes=3000)
    one = np.zeros(500, dtype=np.int16)  # 1000 bytes each
    keys = [TtsCache.key("e", f"t{i}", "en-US", 0, 8000) for i in range(4)]
    for key in keys[:3]:
        cache.put(key, one)
    assert cache.size_bytes == 3000
    assert cache.get(keys[0]) is not None  # now most recent
    cache.put(keys[3], one)
    assert cache.get(keys[1]) is None  # least recent evicted
    assert cache.get(keys[0]) is not None and len(cache) == 3
    big = cache.put(TtsCache.key("e", "big", "en-US", 0, 8000), np.zeros(2000, dtype=np.int16))
    assert big.size == 2000 and len(cache) == 3  # over the whole budget: returned, not kept
    stored = cache.get(keys[0])
    assert stored is not None
    with pytest.raises(ValueError, match="read-only"):
        stored[0] = 1


def test_cache_key_separates_voice_and_rate() -> None:
    base = TtsCache.key("espeak-ng", "Hi", "en-US", 0, 8000)
    assert base == TtsCache.key("espeak-ng", "Hi", "EN-us", 0, 8000)
    assert base != TtsCache.key("espeak-ng", "Hi", "en-GB", 0, 8000)
    assert base != TtsCache.key("espeak-ng", "Hi", "en-US", 1, 8000)
    assert base != TtsCache.key("espeak-ng", "Hi", "en-US", 0, 16000)
    assert base != TtsCache.key("piper", "Hi", "en-US", 0, 8000)


def test_async_render_caches_and_hits_skip_the_engine(espeak: EspeakEngine) -> None:
    engine = CountingEngine(espeak)
    tts = AsyncTts(engine)

    async def scenario() -> None:
        first = await tts.render("Press one for sales.", level=0.0)
        assert engine.calls == 1 and _rms(first) > 500
        again = await tts.render("Press one for sales.", level=-0.5)
        assert engine.calls == 1
        assert np.abs(again.astype(np.int32) - first.astype(np.int32) // 2).max() <= 1
        await tts.render("Press one for sales.", sample_rate=16000)
        await tts.render("Press one for sales.", language="en-GB")
        assert engine.calls == 3

    asyncio.run(scenario())
    assert tts.cache.hits == 1


def test_async_render_runs_off_the_loop_and_coalesces(espeak: EspeakEngine) -> None:
    gate = threading.Event()
    engine = CountingEngine(espeak, gate)
    tts = AsyncTts(engine)

    async def scenario() -> None:
        tasks = [asyncio.create_task(tts.render("Please hold.")) for _ in range(5)]
        other = asyncio.create_task(tts.render("Goodbye."))
        # The loop stays free while synthesis is blocked in the executor.
        for _ in range(20):
            await asyncio.sleep(0.005)
        assert not any(t.done() for t in tasks)
        assert engine.calls == 2
        gate.set()
        results = await asyncio.gather(*tasks)
        await other
        assert engine.calls == 2
        assert all(np.array_equal(r, results[0]) for r in results)

    asyncio.run(scenario())


def test_a_cancelled_waiter_does_not_cancel_the_shared_synthesis(espeak: EspeakEngine) -> None:
    gate = threading.Event()
    engine = CountingEngine(espeak, gate)
    tts = AsyncTts(engine)

    async def scenario() -> None:
        quitter = asyncio.create_task(tts.render("One moment."))
        stayer = asyncio.create_task(tts.render("One moment."))
        await asyncio.sleep(0.01)
        quitter.cancel()
        gate.set()
        assert _rms(await stayer) > 300
        assert quitter.cancelled()
        assert engine.calls == 1

    asyncio.run(scenario())


def test_async_errors_reach_every_waiter_and_are_not_cached(espeak: EspeakEngine) -> None:
    engine = CountingEngine(espeak)
    tts = AsyncTts(engine)

    async def scenario() -> None:
        results = await asyncio.gather(
            tts.render("Hello", language="fil-PH"),
            tts.render("Hello", language="fil-PH"),
            return_exceptions=True,
        )
        assert all(isinstance(r, TtsError) for r in results)
        assert engine.calls == 1
        with pytest.raises(TtsError, match="fil-PH"):
            await tts.render("Hello", language="fil-PH")
        assert engine.calls == 2
        with pytest.raises(TtsError, match="level"):
            await tts.render("Hello", level=2.0)

    asyncio.run(scenario())
    assert len(tts.cache) == 0
