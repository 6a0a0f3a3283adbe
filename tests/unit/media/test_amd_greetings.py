"""Machine detection on synthetic greetings (espeak-ng and piper voices over G.711)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from trunkline.media.amd import FRAME_MS, Beep, MachineDetector, Vad, Verdict
from trunkline.testing import voices as V

CORPUS = V.greetings()


@dataclass
class Outcome:
    verdict: str | None
    decided_s: float | None
    sub_state: str | None
    beep_s: float | None


def detect(greeting: V.Greeting) -> Outcome:
    """webrtcvad and the detector fed 20 ms frames, as on a call (see bench/amd.py)."""
    vad = Vad(2)
    det = MachineDetector(watch_beep=True)
    verdict: Verdict | None = None
    beep: Beep | None = None
    for frame in V.frames(greeting.audio):
        for event in det.push(frame, vad.is_speech(frame)):
            if isinstance(event, Verdict):
                verdict = event
            else:
                beep = event
        if det.done:
            break
    return Outcome(
        verdict.verdict if verdict else None,
        verdict.at_frame * FRAME_MS / 1000 if verdict else None,
        beep.sub_state if beep else None,
        beep.at_frame * FRAME_MS / 1000 if beep and beep.sub_state == "beep_start" else None,
    )


def test_accuracy_over_the_corpus() -> None:
    right = sum(detect(g).verdict == g.kind for g in CORPUS)
    assert right >= 19  # measured 19/20; every person is called a person
    assert all(detect(g).verdict == "human" for g in CORPUS if g.kind == "human")


def test_the_corpus_is_what_the_benchmark_says() -> None:
    humans = [g for g in CORPUS if g.kind == "human"]
    machines = [g for g in CORPUS if g.kind == "machine"]
    assert len(humans) == len(machines) == 10
    spoken = [(g.audio.size / V.RATE) - 2.0 - (0.5 if g.beep_at else 0.0) for g in machines]
    assert min(spoken) >= 3.0
    assert sum(g.beep_at is not None for g in machines) == 5
    assert len({g.voice.engine for g in CORPUS}) == 2


#: Where the detector is wrong, on purpose pinned: a short voicemail greeting whose first
#: sentence is followed by a pause as long as a person's wait (0.8 s) looks like a person
#: who said "Sorry we missed your call." and waits. bench/amd.py counts it as an error.
KNOWN_LIMITS = {
    ("espeak-ng:en-gb@175", "Sorry we missed your call. Please leave a message."): "human"
}


@pytest.mark.parametrize("greeting", CORPUS, ids=lambda g: f"{g.kind}-{g.text[:20]}")
def test_verdict(greeting: V.Greeting) -> None:
    outcome = detect(greeting)
    expected = KNOWN_LIMITS.get((greeting.voice.label, greeting.text), greeting.kind)
    assert outcome.verdict == expected
    assert outcome.decided_s is not None and outcome.decided_s <= 5.0
    if greeting.beep_at is not None:
        assert outcome.sub_state == "beep_start"
        assert outcome.beep_s is not None
        assert abs(outcome.beep_s - greeting.beep_at) <= 0.04
    elif greeting.kind == "machine":
        assert outcome.sub_state is None or outcome.sub_state == "beep_timeout"
        assert outcome.beep_s is None


def test_greeting_audio_is_deterministic() -> None:
    again = V.greetings()
    assert all((a.audio == b.audio).all() for a, b in zip(CORPUS, again, strict=True))
