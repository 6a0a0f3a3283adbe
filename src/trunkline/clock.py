"""Time as a port.

The engine never reads the wall clock: it asks a :class:`Clock` for the time and
for timers. :class:`VirtualClock` runs time as fast as the work allows (tests, the
sim network, benchmarks); :class:`AsyncioClock` runs on the real clock under an
asyncio loop (``trunkline serve``).
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

log = logging.getLogger(__name__)

Callback = Callable[[], None]

#: 2026-01-01T00:00:00Z — where virtual time starts unless told otherwise.
VIRTUAL_EPOCH = 1767225600.0


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the engine may know about time."""

    def now(self) -> float:
        """Seconds since the POSIX epoch (virtual or real)."""
        ...

    def call_at(self, when: float, callback: Callback) -> TimerHandle:
        """Run ``callback`` once at time ``when`` (or at once if it has passed)."""
        ...

    def call_later(self, delay: float, callback: Callback) -> TimerHandle: ...

    def call_soon(self, callback: Callback) -> TimerHandle: ...

    def io_begin(self) -> None:
        """Outside work has started whose result will arrive through ``call_soon``."""
        ...

    def io_end(self) -> None:
        """That outside work has finished."""
        ...


def iso(ts: float) -> str:
    """Vonage's timestamp format: ISO-8601 UTC with milliseconds (``…T12:00:00.000Z``)."""
    whole = math.floor(ts)
    millis = min(999, round((ts - whole) * 1000))
    return f"{_iso_second(whole)}.{millis:03d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_second(whole: int) -> str:
    # the date part changes once a second; events of a call share a handful of seconds
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")


class _VirtualTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callback) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A clock whose time moves only when :meth:`advance` or :meth:`run` moves it.

    Callbacks run in time order, then in the order they were scheduled. An
    exception in a callback is kept in :attr:`errors` and, when ``strict``,
    raised from the running method so that a test sees it.
    """

    def __init__(self, start: float = VIRTUAL_EPOCH, *, strict: bool = True) -> None:
        self._now = start
        self._heap: list[tuple[float, int, _VirtualTimer]] = []
        self._seq = itertools.count()
        self.strict = strict
        self.errors: list[BaseException] = []
        self.io_pending = 0
        self._io_done: asyncio.Event | None = None

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callback) -> _VirtualTimer:
        timer = _VirtualTimer(max(when, self._now), callback)
        heapq.heappush(self._heap, (timer.when, next(self._seq), timer))
        return timer

    def call_later(self, delay: float, callback: Callback) -> _VirtualTimer:
        return self.call_at(self._now + max(delay, 0.0), callback)

    def call_soon(self, callback: Callback) -> _VirtualTimer:
        return self.call_at(self._now, callback)

    def io_begin(self) -> None:
        self.io_pending += 1

    def io_end(self) -> None:
        self.io_pending -= 1
        if self._io_done is not None:
            self._io_done.set()

    def next_deadline(self) -> float | None:
        """Time of the earliest live timer, or None."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _run(self, timer: _VirtualTimer) -> None:
        try:
            timer.callback()
        except Exception as exc:  # one call's bug must not stop the others
            log.exception("callback failed at virtual t=%s", self._now)
            self.errors.append(exc)
            if self.strict:
                raise

    def run_due(self) -> int:
        """Run every callback due now (including ones they schedule for now)."""
        n = 0
        heap = self._heap
        while heap and heap[0][0] <= self._now:
            _, _, timer = heapq.heappop(heap)
            if not timer.cancelled:
                n += 1
                self._run(timer)
        return n

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, running what falls due on the way."""
        self.run_until(self._now + seconds)

    def run_until(self, deadline: float) -> None:
        while True:
            self.run_due()
            nxt = self.next_deadline()
            if nxt is None or nxt > deadline:
                break
            self._now = nxt
        self._now = max(self._now, deadline)

    def run(self, *, max_time: float = 86400.0) -> None:
        """Run until nothing is scheduled (or ``max_time`` virtual seconds pass)."""
        limit = self._now + max_time
        while True:
            self.run_due()
            nxt = self.next_deadline()
            if nxt is None or nxt > limit:
                return
            self._now = nxt

    async def run_async(
        self,
        *,
        until: Callable[[], bool] | None = None,
        max_time: float = 86400.0,
        io_timeout: float = 30.0,
    ) -> None:
        """Run virtual time under asyncio, waiting for real I/O (HTTP webhooks).

        Time jumps to the next timer only when no outside work is in flight, so a
        webhook answered over real HTTP arrives at the virtual instant it was asked
        for. Stops when ``until()`` is true (once the work of that instant, I/O
        included, is done — time does not move further), when nothing is left to do,
        or after ``max_time`` virtual seconds.
        """
        limit = self._now + max_time
        self._io_done = asyncio.Event()
        while True:
            self.run_due()
            if until is not None and until():
                await self._settle(io_timeout)
                return
            if self.io_pending > 0:
                await self._wait_io(io_timeout)
                continue
            # let finished I/O tasks hand their results over before jumping
            await asyncio.sleep(0)
            if self.run_due():
                continue
            nxt = self.next_deadline()
            if nxt is None or nxt > limit:
                return
            self._now = nxt

    async def _wait_io(self, io_timeout: float) -> None:
        done = self._io_done
        if done is None:
            return
        done.clear()
        try:
            await asyncio.wait_for(done.wait(), io_timeout)
        except TimeoutError:
            raise TimeoutError(
                f"outside work still pending after {io_timeout}s of real time"
            ) from None

    async def _settle(self, io_timeout: float) -> None:
        """Finish the current instant: what is due now, and the I/O in flight (a webhook
        that was sent at this instant reaches the app before the caller looks at it)."""
        while True:
            if self.io_pending > 0:
                await self._wait_io(io_timeout)
            await asyncio.sleep(0)
            if not self.run_due() and self.io_pending == 0:
                return

    async def advance_async(self, seconds: float, *, io_timeout: float = 30.0) -> None:
        """Move virtual time forward by ``seconds`` under asyncio (see :meth:`run_async`)."""
        deadline = self._now + max(seconds, 0.0)
        await self.run_async(max_time=max(seconds, 0.0), io_timeout=io_timeout)
        self._now = max(self._now, deadline)
        self.run_due()


class AsyncioClock:
    """The real clock, with timers on the running asyncio loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_event_loop()

    def now(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Callback) -> TimerHandle:
        return self._loop.call_later(max(0.0, when - time.time()), _guard(callback))

    def call_later(self, delay: float, callback: Callback) -> TimerHandle:
        return self._loop.call_later(max(0.0, delay), _guard(callback))

    def call_soon(self, callback: Callback) -> TimerHandle:
        return self._loop.call_soon(_guard(callback))

    def io_begin(self) -> None:
        """Real time does not wait for outside work: nothing to track."""

    def io_end(self) -> None:
        """Real time does not wait for outside work: nothing to track."""


def _guard(callback: Callback) -> Callback:
    def run() -> None:
        try:
            callback()
        except Exception:
            log.exception("callback failed")

    return run
