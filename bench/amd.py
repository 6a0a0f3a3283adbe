"""Answering-machine detection on synthetic greetings over G.711.

The corpus is :func:`trunkline.testing.voices.greetings`: 10 short human answers ("Hello?",
"Hi, this is Sam.") followed by silence, and 10 voicemail greetings of 3–10 s, every other
one followed by a beep (440–1400 Hz, 0.5 s), spoken by espeak-ng and piper voices, 8 kHz
µ-law with line noise. Each is fed 20 ms at a time to webrtcvad (mode 2) and a
:class:`~trunkline.media.amd.MachineDetector` watching for the beep, as on a live call.

Figures: verdict accuracy (by truth), time to decision from the answer (p50/p99, audio
time), the beep's detected start against the true one, and the CPU cost per frame; then
the hard cases apart (:func:`~trunkline.testing.voices.long_human_greetings`: people who
talk for 3–5 s after answering, whom a greeting-length detector takes for machines).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from trunkline.media.amd import FRAME_MS, Beep, MachineDetector, Vad, Verdict
from trunkline.testing import voices as V


@dataclass
class AmdOutcome:
    greeting: V.Greeting
    verdict: str | None
    decided_s: float | None
    beep_s: float | None
    sub_state: str | None
    cpu_s: float
    frames: int


def detect(greeting: V.Greeting, **detector: int) -> AmdOutcome:
    """Run one greeting through webrtcvad and the detector (beep watched)."""
    vad = Vad(2)
    det = MachineDetector(watch_beep=True, **detector)
    verdict: Verdict | None = None
    beep: Beep | None = None
    spent = 0.0
    n = 0
    for frame in V.frames(greeting.audio):
        t0 = time.perf_counter()
        events = det.push(frame, vad.is_speech(frame))
        spent += time.perf_counter() - t0
        n += 1
        for event in events:
            if isinstance(event, Verdict):
                verdict = event
            else:
                beep = event
        if det.done:
            break
    return AmdOutcome(
        greeting,
        verdict.verdict if verdict else None,
        verdict.at_frame * FRAME_MS / 1000 if verdict else None,
        beep.at_frame * FRAME_MS / 1000 if beep and beep.sub_state == "beep_start" else None,
        beep.sub_state if beep else None,
        spent,
        n,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(quick: bool = False) -> None:
    corpus = V.greetings()
    if quick:
        corpus = corpus[:4] + corpus[10:14]
    outcomes = [detect(g) for g in corpus]
    print(f"== Answering-machine detection: {len(corpus)} synthetic greetings over G.711")
    for kind in ("human", "machine"):
        mine = [o for o in outcomes if o.greeting.kind == kind]
        right = sum(o.verdict == kind for o in mine)
        times = [o.decided_s for o in mine if o.decided_s is not None]
        print(
            f"{kind:>7}: {right}/{len(mine)} right; decided after "
            f"p50 {statistics.median(times):.2f} s, p99 {percentile(times, 0.99):.2f} s"
        )
        for o in mine:
            if o.verdict != kind:
                g = o.greeting
                print(f"         wrong: {g.voice.label} {g.text[:40]!r} -> {o.verdict}")
    times = [o.decided_s for o in outcomes if o.decided_s is not None]
    print(
        f"    all: {sum(o.verdict == o.greeting.kind for o in outcomes)}/{len(outcomes)} right; "
        f"decision p50 {statistics.median(times):.2f} s, p99 {percentile(times, 0.99):.2f} s"
    )
    beeped = [o for o in outcomes if o.greeting.beep_at is not None]
    errors = [
        abs(o.beep_s - o.greeting.beep_at)
        for o in beeped
        if o.beep_s is not None and o.greeting.beep_at is not None
    ]
    false_beeps = sum(o.beep_s is not None for o in outcomes if o.greeting.beep_at is None)
    if beeped:
        worst = f", worst {max(errors) * 1000:.0f} ms" if errors else ""
        print(
            f"   beep: found {len(errors)}/{len(beeped)}, start error "
            f"median {statistics.median(errors) * 1000 if errors else float('nan'):.0f} ms"
            f"{worst}; false beeps on the others: {false_beeps}"
        )
    hard = [detect(g) for g in V.long_human_greetings()]
    print(
        f"   long human answers (3-5 s of talk, a known AMD limit): "
        f"{sum(o.verdict == 'human' for o in hard)}/{len(hard)} called human"
    )
    frames = sum(o.frames for o in outcomes)
    cpu = sum(o.cpu_s for o in outcomes)
    print(f"   cost: {cpu / frames * 1e6:.1f} µs per 20 ms frame (VAD + detector + beep watch)")


if __name__ == "__main__":
    main()
