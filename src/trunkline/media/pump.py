"""The media pump: one per process, driving every leg's audio on one 20 ms clock.

Each tick (:meth:`MediaPump.tick`), for every leg in the order they were added:

1. take the far end's frame (``port.receive()``) and show it to the leg's taps (a silent
   frame when nothing arrived);
2. compute what the leg hears: the conversation mix of the legs it hears
   (:meth:`MediaPump.set_hearing`; muted legs contribute nothing, an earmuffed leg hears no
   one) — a leg that hears exactly one other leg gets that leg's frame as is, larger sets go
   through one :meth:`~trunkline.media.mixer.Mixer.mix` call for the whole tick (shared sums,
   N-1) — plus the prompts playing to it (each with its level), summed and clipped;
3. ``port.send(frame)`` (the shared :data:`~trunkline.media.port.SILENCE` when it hears
   nothing) and show the frame to the leg's out-taps (recordings).

Prompt callbacks (``on_done``) run after every leg has been sent its frame, so a callback
that starts the next prompt or removes a leg never disturbs the tick in progress. A port, tap
or callback that raises is logged and the tick goes on.

:meth:`MediaPump.run` keeps the ticks on drift-free deadlines (``start + k × ptime`` from
``loop.time()``): a tick that starts more than ``late_after`` past its deadline is counted
late; when the loop stalls, missed ticks run back to back, at most ``max_burst`` of them (so
no leg gets a burst of more than that many packets), and older ones are skipped (counted;
a port with a ``skip_ticks(count)`` method, such as an RTP leg, is told so that its media
clock stays on real time).

Run the process on uvloop: :func:`install_uvloop` (measured here, plain asyncio UDP tops out
near 33k packets/s a core, uvloop near 150k).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from trunkline.errors import TrunklineError
from trunkline.media.mixer import Mixer
from trunkline.media.port import FRAME_SAMPLES, SILENCE, Frame, MediaPort
from trunkline.media.tts import apply_level

log = logging.getLogger(__name__)

Tap = Callable[[Frame], None]
_FRAME_SHAPE = (FRAME_SAMPLES,)
T = TypeVar("T")


class PumpError(TrunklineError):
    """The pump was asked something impossible (a leg added twice, a bad prompt)."""


def install_uvloop() -> bool:
    """Make uvloop the event loop policy (call before the loop starts, as ``trunkline
    serve`` does). Returns False, changing nothing, where uvloop is not installed."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def _adder(items: list[T], item: T) -> Callable[[], None]:
    """Append ``item``; return a function that removes it again (harmless twice)."""
    items.append(item)

    def remove() -> None:
        if item in items:
            items.remove(item)

    return remove


def ticks_to_skip(now: float, deadline: float, period: float, max_burst: int) -> int:
    """How many overdue ticks to drop so that at most ``max_burst`` run back to back: at
    ``now``, the ticks due at ``deadline``, ``deadline + period``, … have all passed."""
    overdue = int((now - deadline) / period) + 1 if now >= deadline else 0
    return max(0, overdue - max_burst)


class _Play:
    """A prompt playing to one leg: contiguous loops of ``samples``, one frame a tick."""

    __slots__ = ("done", "loop", "on_done", "position", "samples")

    def __init__(self, samples: Frame, loop: int, on_done: Callable[[], None] | None) -> None:
        self.samples = samples
        self.loop = loop  # 0 = until stopped
        self.on_done = on_done
        self.position = 0
        self.done = 0  # loops completed

    def next_frame(self) -> tuple[Frame, bool]:
        """The next 20 ms (zero-padded after the last loop) and whether the play ended."""
        samples, size, position = self.samples, self.samples.size, self.position
        if size == 0:
            return SILENCE, True
        end = position + FRAME_SAMPLES
        if end < size:
            self.position = end
            return samples[position:end], False
        if end == size:
            self.position = 0
            self.done += 1
            return samples[position:end], self.loop != 0 and self.done >= self.loop
        frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < FRAME_SAMPLES:
            take = min(size - position, FRAME_SAMPLES - filled)
            frame[filled : filled + take] = samples[position : position + take]
            filled += take
            position += take
            if position == size:
                position = 0
                self.done += 1
                if self.loop != 0 and self.done >= self.loop:
                    self.position = 0
                    return frame, True
        self.position = position
        return frame, False


class LegMedia:
    """The pump's handle on one leg: prompts, mute/earmuff, taps. Made by :meth:`MediaPump.add`."""

    def __init__(self, pump: MediaPump, port: MediaPort) -> None:
        self._pump = pump
        self.port = port
        self.uuid = port.uuid  # fixed for the leg's life (read several times a tick)
        self.muted = False
        self.earmuffed = False
        self._plays: dict[int, _Play] = {}
        self._taps: list[Tap] = []
        self._out_taps: list[Tap] = []

    @property
    def playing(self) -> bool:
        """True while at least one prompt plays to this leg."""
        return bool(self._plays)

    def play(
        self,
        samples: npt.ArrayLike,
        *,
        loop: int = 1,
        level: float = 0.0,
        on_done: Callable[[], None] | None = None,
    ) -> int:
        """Play 8 kHz int16 mono ``samples`` to this leg, ``loop`` times back to back (0 =
        until stopped), at the Vonage ``level`` (−1…1, gain ``1 + level`` as talk does);
        ``on_done`` runs after the tick that sends the last sample. Returns a handle for
        :meth:`stop_play`. Several prompts at once are mixed."""
        array = np.asarray(samples)
        if array.dtype != np.int16 or array.ndim != 1:
            raise PumpError(f"a prompt is 1-D int16 samples, got {array.dtype} {array.shape}")
        if loop < 0:
            raise PumpError(f"loop must be >= 0, got {loop}")
        if not -1.0 <= level <= 1.0:
            raise PumpError(f"level must be between -1 and 1, got {level}")
        handle = next(self._pump._handles)
        self._plays[handle] = _Play(apply_level(array, level), loop, on_done)
        return handle

    def stop_play(self, handle: int) -> None:
        """Stop a prompt; its ``on_done`` is not called. Unknown handles are ignored."""
        self._plays.pop(handle, None)

    def stop_all(self) -> None:
        """Stop every prompt playing to this leg (no ``on_done`` calls)."""
        self._plays.clear()

    def add_tap(self, fn: Tap) -> Callable[[], None]:
        """Call ``fn(frame)`` every tick with the leg's inbound frame (silence when nothing
        arrived; muted or not). Returns a function that removes the tap."""
        return _adder(self._taps, fn)

    def add_out_tap(self, fn: Tap) -> Callable[[], None]:
        """Call ``fn(frame)`` every tick with the frame the leg is sent. Returns a remover."""
        return _adder(self._out_taps, fn)


@dataclass(slots=True)
class PumpStats:
    """Tick counters; ``durations``/``lateness`` keep the last ``history`` ticks (seconds)."""

    ticks: int = 0
    late_ticks: int = 0
    skipped_ticks: int = 0
    errors: int = 0
    tick_cpu: float = 0.0  # CPU seconds (this thread) spent inside ticks run by run()
    history: int = 3000
    durations: deque[float] = field(default_factory=deque)
    lateness: deque[float] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.durations = deque(maxlen=self.history)
        self.lateness = deque(maxlen=self.history)

    @staticmethod
    def percentile(values: Iterable[float], q: float) -> float:
        """The ``q``-th percentile (0–100) of ``values`` (0.0 when empty)."""
        data = sorted(values)
        if not data:
            return 0.0
        return data[min(len(data) - 1, round(q / 100.0 * (len(data) - 1)))]


class MediaPump:
    """Drives every added :class:`MediaPort` once per ``ptime``; see the module docstring."""

    def __init__(
        self,
        ptime: float = 0.02,
        *,
        max_burst: int = 3,
        late_after: float | None = None,
        history: int = 3000,
        mixer: Mixer | None = None,
    ) -> None:
        if ptime != 0.02:
            raise PumpError("the pump runs 20 ms frames of 160 samples (ptime=0.02)")
        self.ptime = ptime
        self.max_burst = max(1, max_burst)
        self.late_after = ptime / 2 if late_after is None else late_after
        self.mixer = mixer or Mixer(8000)
        self.stats = PumpStats(history=history)
        self._legs: dict[str, LegMedia] = {}
        self._hearing: dict[str, frozenset[str]] = {}
        self._handles = itertools.count(1)
        self._tick_listeners: list[Callable[[], None]] = []

    # ----------------------------------------------------------------- legs

    def add(self, port: MediaPort) -> LegMedia:
        """Start driving ``port`` from the next tick."""
        if port.uuid in self._legs:
            raise PumpError(f"leg {port.uuid} is already in the pump")
        lm = LegMedia(self, port)
        self._legs[port.uuid] = lm
        return lm

    def remove(self, uuid: str) -> None:
        """Stop driving a leg (its prompts stop without ``on_done``). Unknown uuids are ignored."""
        lm = self._legs.pop(uuid, None)
        self._hearing.pop(uuid, None)
        self.mixer.forget(uuid)
        if lm is not None:
            lm.stop_all()

    def get(self, uuid: str) -> LegMedia | None:
        return self._legs.get(uuid)

    def __contains__(self, uuid: object) -> bool:
        return uuid in self._legs

    def __len__(self) -> int:
        return len(self._legs)

    def set_hearing(self, uuid: str, heard: Iterable[str]) -> None:
        """Whom ``uuid`` hears (leg uuids; its own is ignored); empty = nobody."""
        hears = frozenset(heard) - {uuid}
        if hears:
            self._hearing[uuid] = hears
        else:
            self._hearing.pop(uuid, None)

    def hearing(self, uuid: str) -> frozenset[str]:
        return self._hearing.get(uuid, frozenset())

    def add_tick_listener(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call ``fn()`` at the end of every tick, after every leg was sent its frame and
        before prompts' ``on_done`` (a conversation recording commits its row of frames
        there). Returns a function that removes it."""
        return _adder(self._tick_listeners, fn)

    # ----------------------------------------------------------------- one tick

    def tick(self) -> None:
        """Run one 20 ms tick for every leg (see the module docstring)."""
        legs = list(self._legs.values())
        spoken: dict[str, Frame] = {}
        for lm in legs:
            try:
                frame = lm.port.receive()
            except Exception:
                self._error("receive from", lm)
                frame = None
            if frame is not None and (frame.shape != _FRAME_SHAPE or frame.dtype != np.int16):
                self.stats.errors += 1
                log.error("media pump: leg %s gave a bad frame %s", lm.uuid, frame.shape)
                frame = None
            if lm._taps:
                self._run_taps(lm, lm._taps, frame if frame is not None else SILENCE)
            if frame is not None and not lm.muted:
                spoken[lm.uuid] = frame

        heard = self._conversations(legs, spoken) if self._hearing and spoken else None

        finished: list[Callable[[], None]] = []
        for lm in legs:
            frame = heard.get(lm.uuid) if heard else None
            if lm._plays:
                frame = self._with_prompts(lm, frame, finished)
            if frame is None:
                frame = SILENCE
            try:
                lm.port.send(frame)
            except Exception:
                self._error("send to", lm)
            if lm._out_taps:
                self._run_taps(lm, lm._out_taps, frame)
        self.stats.ticks += 1
        for listener in list(self._tick_listeners):
            try:
                listener()
            except Exception:
                self.stats.errors += 1
                log.exception("a tick listener failed")
        for callback in finished:
            try:
                callback()
            except Exception:
                self.stats.errors += 1
                log.exception("a prompt's on_done callback failed")

    def _conversations(self, legs: list[LegMedia], spoken: dict[str, Frame]) -> dict[str, Frame]:
        out: dict[str, Frame] = {}
        mixed: dict[str, list[str]] = {}
        gains = self.mixer.level_gain
        for lm in legs:
            hears = self._hearing.get(lm.uuid)
            if hears is None or lm.earmuffed:
                continue
            present = [uuid for uuid in hears if uuid in spoken]
            if len(present) == 1 and gains(present[0]) == 1.0:
                out[lm.uuid] = spoken[present[0]]
            elif present:
                mixed[lm.uuid] = present
        if mixed:
            try:
                out.update(self.mixer.mix(spoken, mixed))
            except Exception:
                self.stats.errors += 1
                log.exception("media pump: the conversation mix failed")
        return out

    def _with_prompts(
        self, lm: LegMedia, frame: Frame | None, finished: list[Callable[[], None]]
    ) -> Frame:
        plays = lm._plays
        if frame is None and len(plays) == 1:
            handle, play = next(iter(plays.items()))
            out, ended = play.next_frame()
            if ended:
                del plays[handle]
                if play.on_done is not None:
                    finished.append(play.on_done)
            return out
        total = np.zeros(FRAME_SAMPLES, dtype=np.int32)
        if frame is not None:
            total += frame
        for handle, play in list(plays.items()):
            out, ended = play.next_frame()
            total += out
            if ended:
                del plays[handle]
                if play.on_done is not None:
                    finished.append(play.on_done)
        np.clip(total, -32768, 32767, out=total)
        return total.astype(np.int16)

    def _run_taps(self, lm: LegMedia, taps: list[Tap], frame: Frame) -> None:
        for tap in list(taps):
            try:
                tap(frame)
            except Exception:
                self._error("a tap of", lm)

    def _error(self, what: str, lm: LegMedia) -> None:
        self.stats.errors += 1
        log.exception("media pump: %s leg %s failed", what, lm.uuid)

    def _skipped(self, count: int) -> None:
        """Tell the ports that have a media clock of their own (``skip_ticks``)."""
        for lm in list(self._legs.values()):
            skip = getattr(lm.port, "skip_ticks", None)
            if skip is not None:
                try:
                    skip(count)
                except Exception:
                    self._error("skip_ticks of", lm)

    # ----------------------------------------------------------------- the clock

    async def run(self, ready: asyncio.Event) -> None:
        """Tick every ``ptime`` until cancelled; ``ready`` is set before the first tick."""
        loop = asyncio.get_running_loop()
        period = self.ptime
        stats = self.stats
        start = loop.time()
        done = 0  # ticks run or skipped: the next deadline is start + done * period
        ready.set()
        while True:
            deadline = start + done * period
            now = loop.time()
            if now < deadline:
                await asyncio.sleep(deadline - now)
                now = loop.time()
            else:
                await asyncio.sleep(0)  # let datagrams in between catch-up ticks
            skip = ticks_to_skip(now, deadline, period, self.max_burst)
            if skip:
                stats.skipped_ticks += skip
                done += skip
                deadline += skip * period
                self._skipped(skip)
            lateness = now - deadline
            stats.lateness.append(lateness)
            if lateness > self.late_after:
                stats.late_ticks += 1
            began, cpu = time.perf_counter(), time.thread_time()
            self.tick()
            stats.durations.append(time.perf_counter() - began)
            stats.tick_cpu += time.thread_time() - cpu
            done += 1
