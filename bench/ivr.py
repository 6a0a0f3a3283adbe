"""Simulated IVR calls per second: answer -> talk -> input -> connect -> completed.

Each call: a sim caller dials the app's number; the answer NCCO says a menu with
bargeIn and collects one digit; the caller presses 1 on hearing the menu; the
input reply NCCO connects an agent, who answers after 1 s of ringing and hangs
up 5 s later; the caller's NCCO runs out and the call completes.

Three runs in one process: the engine on the virtual clock with the app in-process
(MemoryStore, then SQLite), and the same flow with real HTTP webhooks on loopback.
In the HTTP run all calls start at the same virtual instant: virtual time waits for
every request in flight, so calls spread over time would measure round trips, not
throughput.
Figures: calls/s (wall clock), and the engine's time per action start and per
engine step (each clock callback), p50/p99.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.child import ChildServer
from trunkline.call.platform import Platform
from trunkline.call.webhooks import HttpWebhooks, InProcessWebhooks
from trunkline.clock import VirtualClock, _VirtualTimer
from trunkline.domain import Application, answer_webhook, event_webhook
from trunkline.engine.actions import REGISTRY
from trunkline.engine.hooks import Hook
from trunkline.ids import SeededIds
from trunkline.sim import Step
from trunkline.store import open_store
from trunkline.store.base import Store
from trunkline.store.memory import MemoryStore

NUMBER = "447700900000"
AGENT = "447700900001"
MENU = "Press 1 for sales"


def answer_ncco(base: str) -> list[dict[str, Any]]:
    return [
        {"action": "talk", "text": MENU, "bargeIn": True},
        {
            "action": "input",
            "type": ["dtmf"],
            "dtmf": {"maxDigits": 1},
            "eventUrl": [f"{base}/input"],
        },
    ]


def input_ncco() -> list[dict[str, Any]]:
    return [{"action": "connect", "from": NUMBER, "endpoint": [{"type": "phone", "number": AGENT}]}]


class TimedClock(VirtualClock):
    """A virtual clock that measures the wall time of each callback (an engine step)."""

    def __init__(self) -> None:
        super().__init__()
        self.step_times: list[float] = []

    def _run(self, timer: _VirtualTimer) -> None:
        t0 = time.perf_counter()
        super()._run(timer)
        self.step_times.append(time.perf_counter() - t0)


class ActionTimer:
    """Wraps every action runner's start() to time it (bench only)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._saved: dict[str, Callable[..., None]] = {}

    def __enter__(self) -> ActionTimer:
        for name, cls in REGISTRY.items():
            original = cls.start
            self._saved[name] = original

            def timed(runner: Any, _orig: Callable[..., None] = original) -> None:
                t0 = time.perf_counter()
                _orig(runner)
                self.times.append(time.perf_counter() - t0)

            cls.start = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        for name, original in self._saved.items():
            REGISTRY[name].start = original  # type: ignore[method-assign]


def _platform(clock: VirtualClock, store: Store, webhooks: Any) -> Platform:
    platform = Platform(clock=clock, store=store, webhooks=webhooks, ids=SeededIds(1))
    return platform


def _setup(platform: Platform, store: Store, base: str, calls: int) -> None:
    app = Application(
        id="b0000000-0000-4000-8000-000000000000",
        name="bench",
        answer_url=answer_webhook(f"{base}/answer"),
        event_url=event_webhook(f"{base}/event"),
    )
    store.put_application(app)
    store.link_number(NUMBER, app.id)
    sim = platform.sim
    sim.add_phone(AGENT, ring=1, script=[Step(at=5, hangup=True)], keep_log=False)
    for i in range(calls):
        sim.add_phone(
            f"4477009{i:05d}",
            script=[Step(at=0.2, press="1", when_heard="Press 1")],
            keep_log=False,
        )


def _place_calls(
    platform: Platform, clock: VirtualClock, calls: int, per_second: float | None
) -> None:
    """Calls arrive ``per_second`` (virtual time), or all at once when None."""
    for i in range(calls):
        at = clock.now() + (i / per_second if per_second else 0.0)
        clock.call_at(at, lambda n=i: platform.sim.call(f"4477009{n:05d}", NUMBER))


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _completed(store: Store) -> int:
    from trunkline.store.base import CallFilter

    count, _ = store.list_calls(CallFilter(status="completed", page_size=1))
    return count


def run_inprocess(calls: int, store: Store, label: str) -> dict[str, float]:
    clock = TimedClock()
    base = "http://app.bench"

    def app(hook: Hook) -> Any:
        if hook.url.endswith("/answer"):
            return answer_ncco(base)
        if hook.url.endswith("/input"):
            return input_ncco()
        return None

    webhooks = InProcessWebhooks(clock, app, store)
    webhooks.record = False
    platform = _platform(clock, store, webhooks)
    _setup(platform, store, base, calls)
    _place_calls(platform, clock, calls, per_second=200)
    with ActionTimer() as actions:
        t0 = time.perf_counter()
        clock.run()
        wall = time.perf_counter() - t0
    done = _completed(store)
    expected = calls * 2  # caller + agent legs
    assert done == expected, f"{label}: {done} legs completed, expected {expected}"
    return {
        "calls": calls,
        "wall_s": wall,
        "calls_per_s": calls / wall,
        "actions": len(actions.times),
        "action_p50_us": _pct(actions.times, 0.5) * 1e6,
        "action_p99_us": _pct(actions.times, 0.99) * 1e6,
        "step_p50_us": _pct(clock.step_times, 0.5) * 1e6,
        "step_p99_us": _pct(clock.step_times, 0.99) * 1e6,
        "steps_per_call": len(clock.step_times) / calls,
    }


def http_app() -> Starlette:
    async def answer(request: Request) -> Response:
        return JSONResponse(answer_ncco(str(request.base_url).rstrip("/")))

    async def on_input(request: Request) -> Response:
        return JSONResponse(input_ncco())

    async def event(request: Request) -> Response:
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/answer", answer, methods=["GET"]),
            Route("/input", on_input, methods=["POST"]),
            Route("/event", event, methods=["POST"]),
        ]
    )


class AppProcess(ChildServer):
    """The voice app in its own process (as a customer's app would be), on 127.0.0.1."""

    def __init__(self) -> None:
        super().__init__(
            lambda port: [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.ivr:http_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            "the bench app",
        )

    def __enter__(self) -> AppProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def run_http(calls: int) -> dict[str, float]:
    clock = VirtualClock()
    store = MemoryStore()
    webhooks = HttpWebhooks(clock, store)
    try:
        with AppProcess() as served:
            platform = _platform(clock, store, webhooks)
            _setup(platform, store, served.url, calls)
            _place_calls(platform, clock, calls, per_second=None)
            t0 = time.perf_counter()
            await clock.run_async()
            wall = time.perf_counter() - t0
    finally:
        await webhooks.aclose()
    done = _completed(store)
    assert done == calls * 2, f"http: {done} legs completed, expected {calls * 2}"
    requests = sum(1 for _ in store.pending_events(10**9))  # should be none pending
    latencies = [e.data.get("latency_ms", 0.0) for e in store.timeline() if e.kind == "webhook"]
    return {
        "calls": calls,
        "wall_s": wall,
        "calls_per_s": calls / wall,
        "webhooks": len(latencies),
        "pending": requests,
        "webhook_p50_ms": statistics.median(latencies) if latencies else 0.0,
        "webhook_p99_ms": _pct(latencies, 0.99),
    }


def main(*, quick: bool = False) -> None:
    n = 500 if quick else 5000
    runs = 1 if quick else 3
    print("== IVR calls on the virtual clock (answer -> talk -> input -> connect -> completed)")
    mem = [run_inprocess(n, MemoryStore(), "memory") for _ in range(runs)]
    best = sorted(mem, key=lambda r: r["calls_per_s"])[len(mem) // 2]
    print(
        f"in-process app, MemoryStore: {n} calls, median of {runs}: "
        f"{best['calls_per_s']:,.0f} calls/s ({best['wall_s']:.2f} s wall)"
    )
    print(
        f"  engine time per action start: p50 {best['action_p50_us']:.1f} us, "
        f"p99 {best['action_p99_us']:.1f} us "
        f"({best['actions'] / n:.1f} actions/call)"
    )
    print(
        f"  engine time per step (clock callback): p50 {best['step_p50_us']:.1f} us, "
        f"p99 {best['step_p99_us']:.1f} us ({best['steps_per_call']:.1f} steps/call)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        sq = run_inprocess(n // 5, store, "sqlite")
        store.close()
    print(
        f"in-process app, SQLite file store: {sq['calls']} calls: "
        f"{sq['calls_per_s']:,.0f} calls/s "
        f"({sq['calls_per_s'] / best['calls_per_s']:.2f}x the MemoryStore run)"
    )
    h = asyncio.run(run_http(100 if quick else 400))
    print(
        "real HTTP webhooks to an app process on 127.0.0.1 (uvicorn, aiohttp): "
        f"{h['calls']} calls: "
        f"{h['calls_per_s']:,.0f} calls/s "
        f"({h['calls_per_s'] / best['calls_per_s']:.3f}x in-process); {h['webhooks']} requests, "
        f"latency p50 {h['webhook_p50_ms']:.2f} ms, p99 {h['webhook_p99_ms']:.2f} ms"
    )
    goal = 5000
    verdict = "meets" if best["calls_per_s"] >= goal else "is below"
    print(f"goal >= {goal:,} calls/s on the virtual clock, one core: {verdict} it")
