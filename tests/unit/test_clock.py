"""The virtual clock: order, cancellation, running under asyncio with outside work."""

from __future__ import annotations

import asyncio

import pytest

from trunkline.clock import VIRTUAL_EPOCH, VirtualClock, iso


def test_callbacks_run_in_time_then_schedule_order() -> None:
    clock = VirtualClock()
    seen: list[str] = []
    clock.call_later(2, lambda: seen.append("b"))
    clock.call_later(1, lambda: seen.append("a"))
    clock.call_later(2, lambda: seen.append("c"))
    clock.call_soon(lambda: seen.append("now"))
    clock.run()
    assert seen == ["now", "a", "b", "c"]
    assert clock.now() == VIRTUAL_EPOCH + 2


def test_cancelled_timers_do_not_run_and_advance_stops_at_the_deadline() -> None:
    clock = VirtualClock()
    seen: list[int] = []
    handle = clock.call_later(5, lambda: seen.append(5))
    clock.call_later(10, lambda: seen.append(10))
    handle.cancel()
    clock.advance(7)
    assert seen == [] and clock.now() == VIRTUAL_EPOCH + 7
    clock.advance(3)
    assert seen == [10]


def test_a_timer_in_the_past_runs_now() -> None:
    clock = VirtualClock()
    clock.advance(10)
    seen: list[float] = []
    clock.call_at(VIRTUAL_EPOCH, lambda: seen.append(clock.now()))
    clock.run()
    assert seen == [VIRTUAL_EPOCH + 10]


def test_strict_clock_raises_and_keeps_the_error() -> None:
    clock = VirtualClock()

    def boom() -> None:
        raise ValueError("bug")

    clock.call_soon(boom)
    with pytest.raises(ValueError):
        clock.run()
    assert len(clock.errors) == 1


def test_lenient_clock_goes_on_after_an_error() -> None:
    clock = VirtualClock(strict=False)
    seen: list[int] = []

    def boom() -> None:
        raise ValueError("bug")

    clock.call_soon(boom)
    clock.call_later(1, lambda: seen.append(1))
    clock.run()
    assert seen == [1] and len(clock.errors) == 1


def test_run_bounded_by_max_time() -> None:
    clock = VirtualClock()
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(clock.now())
        clock.call_later(60, tick)

    clock.call_soon(tick)
    clock.run(max_time=3600)
    assert len(ticks) == 61


async def test_run_async_waits_for_outside_work_before_moving_time() -> None:
    clock = VirtualClock()
    seen: list[tuple[str, float]] = []

    async def outside() -> None:
        await asyncio.sleep(0.01)  # real work, e.g. an HTTP request
        clock.call_soon(lambda: seen.append(("reply", clock.now())))
        clock.io_end()

    def start() -> None:
        clock.io_begin()
        asyncio.get_running_loop().create_task(outside())

    clock.call_soon(start)
    clock.call_later(5, lambda: seen.append(("timer", clock.now())))
    await clock.run_async()
    assert seen == [("reply", VIRTUAL_EPOCH), ("timer", VIRTUAL_EPOCH + 5)]


async def test_advance_async_moves_to_the_deadline() -> None:
    clock = VirtualClock()
    await clock.advance_async(30)
    assert clock.now() == VIRTUAL_EPOCH + 30


def test_iso_has_milliseconds_and_z() -> None:
    assert iso(VIRTUAL_EPOCH + 1.2345) == "2026-01-01T00:00:01.234Z"


async def test_run_async_until_finishes_the_instant_before_returning() -> None:
    clock = VirtualClock()
    seen: list[str] = []

    async def delivery() -> None:
        await asyncio.sleep(0.01)  # an event still on its way to the app
        seen.append("delivered")
        clock.io_end()

    def complete() -> None:
        seen.append("completed")
        clock.io_begin()
        asyncio.get_running_loop().create_task(delivery())

    clock.call_later(3, complete)
    clock.call_later(10, lambda: seen.append("later"))
    await clock.run_async(until=lambda: "completed" in seen)
    assert seen == ["completed", "delivered"]
    assert clock.now() == VIRTUAL_EPOCH + 3
