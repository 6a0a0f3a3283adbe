"""Text-to-speech cost per sentence: espeak-ng against piper (neural), uncached, 8 kHz.

Each engine speaks the same IVR sentences (9–14 words) straight through
``engine.synthesize`` (no cache), output resampled to 8 kHz as a call hears it. Figures:
median milliseconds per sentence, real-time factor (synthesis time / audio time), and the
ratio piper / espeak-ng measured in this process. piper runs in a warm worker process
(:class:`~trunkline.media.piper.PiperEngine`); its cold start (process start + voice load +
first sentence) is printed apart: it is what a process per prompt would pay every time.
Finally the cost of a cache hit through :class:`~trunkline.media.tts.AsyncTts`.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from trunkline.media.piper import PiperEngine
from trunkline.media.tts import AsyncTts, EspeakEngine, TtsEngine

SENTENCES = (
    "Thank you for calling, please hold while we connect your call.",
    "Press one for sales, two for support, or stay on the line.",
    "Your account balance is forty two pounds and seventeen pence.",
    "We are sorry, all of our agents are busy at the moment.",
    "Please say or enter your eight digit customer number now.",
    "Your call may be recorded for training and quality purposes.",
    "The office is closed today, please call again on Monday morning.",
    "To hear these options again, press the star key at any time.",
)


def per_sentence(engine: TtsEngine, sentences: tuple[str, ...]) -> tuple[list[float], float]:
    """Seconds per sentence, and the total seconds of audio produced."""
    took: list[float] = []
    audio = 0.0
    for text in sentences:
        t0 = time.perf_counter()
        samples = engine.synthesize(text, language="en-US", style=0, ssml=False, sample_rate=8000)
        took.append(time.perf_counter() - t0)
        audio += samples.size / 8000
    return took, audio


def cold_start() -> float:
    """A fresh piper engine: start the process, load the voice, speak one sentence."""
    engine = PiperEngine()
    try:
        t0 = time.perf_counter()
        engine.synthesize(SENTENCES[0], language="en-US", style=0, ssml=False, sample_rate=8000)
        return time.perf_counter() - t0
    finally:
        engine.close()


async def cache_hit_us(engine: TtsEngine, n: int) -> float:
    tts = AsyncTts(engine)
    await tts.render(SENTENCES[0])
    t0 = time.perf_counter()
    for _ in range(n):
        await tts.render(SENTENCES[0])
    return (time.perf_counter() - t0) / n * 1e6


def main(quick: bool = False) -> None:
    sentences = SENTENCES[:3] if quick else SENTENCES
    print(f"== TTS: {len(sentences)} IVR sentences, uncached, 8 kHz (median per sentence)")
    espeak = EspeakEngine()
    piper = PiperEngine()
    try:
        piper.warm()
        rounds = 1 if quick else 3
        rows: dict[str, tuple[float, float]] = {}
        for name, engine in (("espeak-ng", espeak), ("piper", piper)):
            took: list[float] = []
            audio = 0.0
            for _ in range(rounds):
                t, a = per_sentence(engine, sentences)
                took += t
                audio += a
            rows[name] = (statistics.median(took), sum(took) / audio)
            print(
                f"{name:>10}: {rows[name][0] * 1000:7.1f} ms per sentence, "
                f"RTF {rows[name][1]:.3f} ({audio / len(took):.2f} s of audio each)"
            )
        ratio = rows["piper"][0] / rows["espeak-ng"][0]
        print(f"     ratio: piper takes {ratio:.1f}x espeak-ng's time per sentence")
        colds = [cold_start() for _ in range(1 if quick else 3)]
        print(
            f"piper cold start (process + voice + 1st sentence): "
            f"{statistics.median(colds) * 1000:.0f} ms, "
            f"{statistics.median(colds) / rows['piper'][0]:.1f}x a warm sentence"
        )
        hit = asyncio.run(cache_hit_us(piper, 200 if quick else 2000))
        print(f" cache hit: {hit:.1f} µs per render (AsyncTts, either engine)")
    finally:
        piper.close()


if __name__ == "__main__":
    main()
