"""Conference mixing cost: one 20 ms tick of :class:`trunkline.media.mixer.Mixer`.

For N participants each sending a frame of random 16-bit audio at 8 kHz, one tick is one
``Mixer.mix`` call giving every participant their N-1 mix. Two hearing layouts:

- all-hear: everyone hears everyone else (the shared sum, ``total - own``);
- custom: coaching groups (:func:`custom`: a third of the participants are coaches heard
  only by their agent), so most listeners take the per-listener path (the sum of the heard,
  or the total minus the unheard). With N=2 the one coach's agent is the only other party,
  so that layout is all-hear.

Figures: median µs per tick over many ticks, µs per participant, and the share of the
20 ms frame budget one mixing thread spends on it.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import numpy.typing as npt

from trunkline.media.mixer import Mixer

SIZES = (2, 3, 5, 10, 50, 100)
BUDGET_US = 20_000.0


def _frames(n: int, rng: np.random.Generator) -> dict[str, npt.NDArray[np.int16] | None]:
    return {f"p{i}": rng.integers(-8000, 8000, 160, dtype=np.int16) for i in range(n)}


def all_hear(names: list[str]) -> dict[str, list[str]]:
    return {listener: [n for n in names if n != listener] for listener in names}


def custom(names: list[str]) -> dict[str, list[str]]:
    """Coaching groups: every participant at ``i % 3 == 1`` coaches the one before it.

    A coach hears only their agent (canHear) and only their agent hears them (canSpeak);
    everyone else hears everyone but the other groups' coaches.
    """
    coaches = {names[i]: names[i - 1] for i in range(1, len(names), 3)}
    hears: dict[str, list[str]] = {}
    for listener in names:
        if listener in coaches:
            hears[listener] = [coaches[listener]]
        else:
            hears[listener] = [
                n for n in names if n != listener and coaches.get(n, listener) == listener
            ]
    return hears


def tick_us(n: int, layout: str, ticks: int) -> float:
    """Median wall-clock µs of one mix tick for ``n`` participants."""
    rng = np.random.default_rng(n)
    frames = _frames(n, rng)
    names = list(frames)
    hears = all_hear(names) if layout == "all-hear" else custom(names)
    mixer = Mixer(8000)
    for _ in range(min(ticks, 50)):  # warm-up
        mixer.mix(frames, hears)
    samples = []
    for _ in range(ticks):
        t0 = time.perf_counter()
        mixer.mix(frames, hears)
        samples.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(samples)


def main(quick: bool = False) -> None:
    ticks = 200 if quick else 3000
    print("== Conference mixer: one 20 ms tick at 8 kHz (N-1 mix for every participant)")
    for layout in ("all-hear", "custom"):
        for n in SIZES:
            us = tick_us(n, layout, ticks)
            print(
                f"{layout:>8} N={n:>3}: {us:8.1f} µs/tick, {us / n:6.2f} µs/participant, "
                f"{us / BUDGET_US:6.2%} of the 20 ms budget"
            )


if __name__ == "__main__":
    main()
