"""A conversation through the real media pump: one 20 ms tick for N participants.

N in-memory ports (:class:`trunkline.media.port.FakePort`: no sockets, no codec) in one
:class:`trunkline.media.pump.MediaPump`, all in one conversation (everyone hears everyone
else, as ``conversation`` sets it up), each sending a frame of random 8 kHz audio every
tick. Three runs per N, in the same process:

- mixer: the bare :meth:`trunkline.media.mixer.Mixer.mix` of those frames (the baseline);
- pump: a whole :meth:`MediaPump.tick` (receive, taps, mix, send);
- pump+record: the same with the conversation recorded (``record: true``:
  :class:`trunkline.media.conference.ConferenceRecorder`, a tap per member and one mixed
  row a tick).

Figures: median µs per tick, µs per participant, the share of the 20 ms budget, and the
ratios pump/mixer and pump+record/pump.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from trunkline.clock import VirtualClock
from trunkline.engine.ports import RecordedAudio, RecordingOptions
from trunkline.media.conference import ConferenceRecorder
from trunkline.media.mixer import Mixer
from trunkline.media.port import FRAME_SAMPLES
from trunkline.media.pump import MediaPump

SIZES = (3, 10, 50, 100)
BUDGET_US = 20_000.0


class _LoopPort:
    """Sends the same random frame every tick; drops what it is sent."""

    def __init__(self, uuid: str, frame: npt.NDArray[np.int16]) -> None:
        self._uuid = uuid
        self.frame = frame

    @property
    def uuid(self) -> str:
        return self._uuid

    def receive(self) -> npt.NDArray[np.int16]:
        return self.frame

    def send(self, frame: npt.NDArray[np.int16]) -> None:
        """The bench's far end discards what it hears (only the pump's work is timed)."""


class _Discard:
    def save(self, audio: RecordedAudio, done: Callable[[int], None]) -> None:
        done(0)


def _median_us(step: Callable[[], object], ticks: int) -> float:
    for _ in range(min(ticks, 50)):  # warm-up
        step()
    samples = []
    for _ in range(ticks):
        t0 = time.perf_counter()
        step()
        samples.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(samples)


def _pump(n: int, *, record: bool) -> tuple[MediaPump, dict[str, npt.NDArray[np.int16]]]:
    rng = np.random.default_rng(n)
    frames = {f"p{i}": rng.integers(-8000, 8000, FRAME_SAMPLES, dtype=np.int16) for i in range(n)}
    pump = MediaPump()
    for uuid, frame in frames.items():
        pump.add(_LoopPort(uuid, frame))
    for uuid in frames:
        pump.set_hearing(uuid, frames)
    if record:
        recorder = ConferenceRecorder(pump, _Discard(), VirtualClock())
        recorder.start("CON-bench", "rec", RecordingOptions(sample_rate=8000))
        recorder.set_members("rec", list(frames))
    return pump, frames


def main(quick: bool = False) -> None:
    ticks = 200 if quick else 2000
    print("== Conversation through the media pump: one 20 ms tick, everyone hears everyone")
    for n in SIZES:
        pump, frames = _pump(n, record=False)
        names = list(frames)
        hears = {u: [x for x in names if x != u] for u in names}
        mixer = Mixer(8000)
        spoken: dict[str, npt.NDArray[np.int16] | None] = dict(frames)
        mix_us = _median_us(functools.partial(mixer.mix, spoken, hears), ticks)
        pump_us = _median_us(pump.tick, ticks)
        recorded, _ = _pump(n, record=True)
        rec_us = _median_us(recorded.tick, ticks)
        for label, us in (("mixer", mix_us), ("pump", pump_us), ("pump+record", rec_us)):
            print(
                f"N={n:>3} {label:>11}: {us:8.1f} µs/tick, {us / n:6.2f} µs/participant, "
                f"{us / BUDGET_US:6.2%} of the 20 ms budget"
            )
        print(
            f"N={n:>3} ratios: pump/mixer {pump_us / mix_us:5.2f}×, "
            f"pump+record/pump {rec_us / pump_us:5.2f}×"
        )


if __name__ == "__main__":
    main()
