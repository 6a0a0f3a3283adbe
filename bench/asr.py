"""Speech input: recognition accuracy and real-time factor on synthetic telephone speech.

Utterances come from :mod:`trunkline.testing.voices` (espeak-ng, piper and, where the
Debian package is installed, flite voices; 8 kHz,
G.711 µ-law round trip, cached), each padded with 0.5 s before and 2.5 s after of line
noise, and fed 20 ms at a time to a :class:`~trunkline.media.asr.SpeechSession` with
``endOnSilence`` 1 s, as a live call would.

- grammar: menu words, yes/no and digit strings against ``speech.context`` hints; the
  figure is exact matches of the result text;
- free speech: sentences without hints (the bundled language model); figures are word
  recall (share of the reference words found) and word error rate;
- grammar confidences of right, wrong and out-of-grammar results (a grammar has no
  rejection: a garbage-word loop was tried and cost more accuracy than it bought).

Real-time factor (RTF) = decoding time / audio duration of the frames fed while speaking;
the number of concurrent speech inputs one core carries is 1 / RTF (pocketsphinx holds the
GIL, so a process per core is how to use more).
"""

from __future__ import annotations

import shutil
import statistics
import time
from dataclasses import dataclass

from trunkline.engine.ports import SpeechOptions
from trunkline.media.asr import PocketsphinxEngine, SpeechResult, SpeechSession
from trunkline.testing import voices as V

MENU = ("sales", "support", "billing", "technical support", "operator")
YES_NO = ("yes", "no")
DIGITS = ("0",)

#: (spoken text, context hints, expected result text)
GRAMMAR = [
    *((w, MENU, w) for w in MENU),
    ("yes", YES_NO, "yes"),
    ("no", YES_NO, "no"),
    ("one two three four", DIGITS, "1234"),
    ("five five nine", DIGITS, "559"),
    ("eight oh two", DIGITS, "802"),
]
#: said to the MENU grammar, which forces most of them onto a menu word; their confidence
#: is printed to show whether a threshold could reject them (measured: it cannot)
OUT_OF_GRAMMAR = ("banana", "the weather is nice today", "hello how are you")
FREE = [
    "please connect me to technical support",
    "my account number is one two three four five",
    "I would like to speak to sales",
    "I want to cancel my order",
    "can you tell me my balance",
    "I need help with my bill",
    "the package never arrived",
    "please call me back tomorrow morning",
]


@dataclass
class Outcome:
    text: str
    confidence: float
    expected: str
    seconds_fed: float
    decode_s: float
    frames: int


def run_one(
    engine: PocketsphinxEngine,
    audio: V.Samples,
    context: tuple[str, ...],
    expected: str,
) -> Outcome:
    session = SpeechSession(engine, SpeechOptions(context=context, end_on_silence=1.0))
    clip = V.line(V.silence(0.5), audio, V.silence(2.5), seed=len(expected))
    spent = 0.0
    fed = 0
    for frame in V.frames(clip):
        t0 = time.perf_counter()
        session.feed(frame)
        spent += time.perf_counter() - t0
        fed += 1
        if session.done:
            break
    result = session.result
    assert isinstance(result, SpeechResult)
    text, confidence = result.results[0] if result.results else ("", 0.0)
    return Outcome(text, confidence, expected, fed * 0.02, spent, fed)


def words_found(ref: str, hyp: str) -> tuple[int, int]:
    r = ref.lower().split()
    h = hyp.lower().split()
    return sum(1 for w in r if w in h), len(r)


def wer(ref: str, hyp: str) -> tuple[int, int]:
    r, h = ref.lower().split(), hyp.lower().split()
    d = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        prev, d[0] = d[0], i
        for j, hw in enumerate(h, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (rw != hw))
    return d[len(h)], len(r)


def all_voices() -> tuple[V.Voice, ...]:
    """espeak-ng and piper voices, and flite's when the Debian package is installed."""
    return V.ESPEAK + V.PIPER + (V.FLITE if shutil.which("flite") else ())


def free_speech_voices() -> tuple[V.Voice, ...]:
    flite = V.FLITE[:3] if shutil.which("flite") else ()
    return (*V.PIPER, *flite, V.ESPEAK[1])


def grammar_set(voices: tuple[V.Voice, ...]) -> list[tuple[V.Voice, str, tuple[str, ...], str]]:
    return [(v, said, ctx, exp) for v in voices for said, ctx, exp in GRAMMAR]


def evaluate(quick: bool = False) -> None:
    engine = PocketsphinxEngine()
    voices = (V.ESPEAK[0], V.PIPER[1]) if quick else all_voices()
    per_engine: dict[str, list[bool]] = {}
    confidences: dict[str, list[float]] = {"right": [], "wrong": [], "out of grammar": []}
    g_time = g_audio = 0.0
    for voice, said, ctx, exp in grammar_set(voices):
        out = run_one(engine, V.say(said, voice), ctx, exp)
        per_engine.setdefault(voice.engine, []).append(out.text == exp)
        confidences["right" if out.text == exp else "wrong"].append(out.confidence)
        g_time += out.decode_s
        g_audio += out.seconds_fed
    for voice in voices:
        for said in OUT_OF_GRAMMAR:
            confidences["out of grammar"].append(
                run_one(engine, V.say(said, voice), MENU, "").confidence
            )
    total = [ok for oks in per_engine.values() for ok in oks]
    print(
        f"grammar: {sum(total)}/{len(total)} exact "
        + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in per_engine.items())
        + f"; RTF {g_time / g_audio:.3f} -> ~{g_audio / g_time:.0f} concurrent inputs/core"
    )
    print(
        "  grammar confidence (median [min-max]): "
        + "; ".join(
            f"{k} {statistics.median(v):.2f} [{min(v):.2f}-{max(v):.2f}] (n={len(v)})"
            for k, v in confidences.items()
            if v
        )
    )
    free_voices = (V.PIPER[1],) if quick else free_speech_voices()
    sentences = FREE[:3] if quick else FREE
    f_time = f_audio = 0.0
    found: dict[str, list[int]] = {}
    errors: dict[str, list[int]] = {}
    for voice in free_voices:
        for sentence in sentences:
            out = run_one(engine, V.say(sentence, voice), (), sentence)
            hit, n = words_found(sentence, out.text)
            err, _ = wer(sentence, out.text)
            f = found.setdefault(voice.engine, [0, 0])
            f[0] += hit
            f[1] += n
            e = errors.setdefault(voice.engine, [0, 0])
            e[0] += err
            e[1] += n
            f_time += out.decode_s
            f_audio += out.seconds_fed
    print(
        "free speech: "
        + ", ".join(
            f"{k} word recall {found[k][0] / found[k][1]:.0%} WER {errors[k][0] / errors[k][1]:.0%}"
            for k in found
        )
        + f"; RTF {f_time / f_audio:.3f} -> ~{f_audio / f_time:.0f} concurrent inputs/core"
    )


def startup() -> float:
    t0 = time.perf_counter()
    PocketsphinxEngine()._acquire()
    return time.perf_counter() - t0


def main(quick: bool = False) -> None:
    n = (
        2 * len(GRAMMAR) + 3
        if quick
        else len(GRAMMAR) * len(all_voices()) + len(FREE) * len(free_speech_voices())
    )
    print(f"== Speech input (pocketsphinx, {n} utterances over G.711, 20 ms frames)")
    print(f"decoder start-up: {statistics.median(startup() for _ in range(3)) * 1000:.0f} ms")
    evaluate(quick)


if __name__ == "__main__":
    main()
