"""Concurrent WebSocket legs held against an echo app in its own process.

N :class:`~trunkline.wsdoor.leg.WebSocketLeg` s (``audio/l16;rate=16000``: each frame is
resampled 8k -> 16k on the way out and 16k -> 8k on the way back; then ``rate=8000``, no
resampling, for comparison) are driven by one
:class:`~trunkline.media.pump.MediaPump` on the real clock; each leg is played a looping
tone, so every tick sends N real frames; the app (``python -m bench.websocket --serve``,
a ``websockets`` echo server) sends every frame straight back, and the leg queues it and
plays it back into the pump. After a short warm-up the legs are held for ``seconds``:

* ``late %`` — echoed frames that arrived more than 40 ms after the previous one on the
  same leg (a gap of two frames or more: the audio would stall at the far end);
* ``lost %`` — over the whole run, frames the pump handed to a leg that never came back
  (dropped from a full send backlog, or lost on the way), once the echoes in flight land;
* pump ``late ticks`` and tick duration p50/p99;
* CPU per leg (trunkline's process, then the echo app's) in % of one core, and its
  ratio to the smallest N (the baseline of the same run).

16 kHz runs once on uvloop (as ``trunkline serve``) and once on plain asyncio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np

from bench.child import ChildServer
from trunkline.media.pump import MediaPump
from trunkline.wsdoor.leg import WebSocketLeg, guarded_session

RATE_16K = "audio/l16;rate=16000"
RATE_8K = "audio/l16;rate=8000"
LATE_GAP = 0.040  # seconds between two echoed frames of one leg that count as late
WARMUP = 1.0


def _child_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a child process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _tone() -> np.ndarray:
    t = np.arange(8000) / 8000
    return (6000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


async def hold(
    url: str, n: int, seconds: float, child_pid: int, content_type: str
) -> dict[str, float]:
    pump = MediaPump()
    arrivals: list[list[float]] = [[] for _ in range(n)]
    loop = asyncio.get_running_loop()
    async with guarded_session(None) as session:
        legs = [
            WebSocketLeg(f"bench-{i}", url, session=session, content_type=content_type)
            for i in range(n)
        ]
        for start in range(0, n, 50):  # handshakes in batches
            await asyncio.gather(*(leg.connect() for leg in legs[start : start + 50]))
        tone = _tone()
        measuring = False
        for i, leg in enumerate(legs):
            pump.add(leg).play(tone, loop=0)
            times = arrivals[i]

            def arrived(times: list[float] = times) -> None:
                if measuring:
                    times.append(loop.time())

            leg.on_input = arrived
        async with asyncio.TaskGroup() as tg:
            runs = [tg.create_task(leg.run()) for leg in legs]
            ready = asyncio.Event()
            pumping = tg.create_task(pump.run(ready))
            await ready.wait()
            await asyncio.sleep(WARMUP)  # bench: let the stream settle
            sent0 = sum(leg.send_stats.frames_sent for leg in legs)
            ticks0, late0 = pump.stats.ticks, pump.stats.late_ticks
            pump.stats.durations.clear()
            cpu0, child0, wall0 = time.process_time(), _child_cpu(child_pid), time.perf_counter()
            measuring = True
            await asyncio.sleep(seconds)  # bench: hold the legs for the window
            measuring = False
            wall = time.perf_counter() - wall0
            cpu, child = time.process_time() - cpu0, _child_cpu(child_pid) - child0
            ticks, late = pump.stats.ticks - ticks0, pump.stats.late_ticks - late0
            durations = list(pump.stats.durations)
            sent = sum(leg.send_stats.frames_sent for leg in legs) - sent0
            pumping.cancel()
            # every frame written should come back: wait (bounded) for the echoes in flight
            deadline = time.perf_counter() + 3.0
            while time.perf_counter() < deadline:
                await asyncio.sleep(0.02)  # bench: polling the counters while echoes land
                back = sum(leg.stats.frames_in + leg.stats.overflow for leg in legs)
                if back >= sum(leg.send_stats.frames_sent for leg in legs):
                    break
            total_sent = sum(leg.send_stats.frames_sent for leg in legs)
            total_dropped = sum(leg.send_stats.frames_dropped for leg in legs)
            total_back = sum(leg.stats.frames_in + leg.stats.overflow for leg in legs)
            for leg in legs:
                leg.close()
            async with asyncio.timeout(30):
                await asyncio.gather(*runs)
    received = sum(len(t) for t in arrivals)
    late_frames = sum(int(np.count_nonzero(np.diff(t) > LATE_GAP)) for t in arrivals if t)
    return {
        "n": n,
        "ticks": ticks,
        "late_ticks_pct": 100 * late / max(1, ticks),
        "tick_p50_ms": 1000 * statistics.median(durations) if durations else 0.0,
        "tick_p99_ms": 1000 * _p99(durations),
        "late_pct": 100 * late_frames / max(1, received),
        "lost_pct": 100
        * (total_sent + total_dropped - total_back)
        / max(1, total_sent + total_dropped),
        "sent": sent,
        "received": received,
        "cpu_per_leg_pct": 100 * cpu / wall / n,
        "app_cpu_per_leg_pct": 100 * child / wall / n,
    }


def _p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def _run(coro: Coroutine[Any, Any, dict[str, float]], uvloop: bool) -> dict[str, float]:
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if uvloop:
        import uvloop as uv

        factory = uv.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def main(*, quick: bool = False) -> None:
    sizes = (20, 50) if quick else (50, 200, 500)
    seconds = 2.0 if quick else 5.0
    # (uvloop?, content type): serve's setup first; then plain asyncio; then no resampling
    runs = [(True, RATE_16K)] if quick else [(True, RATE_16K), (False, RATE_16K), (True, RATE_8K)]
    print(
        f"== WebSocket legs held {seconds:g} s against an echo app process "
        "(one pump, a looping tone each way)"
    )
    app = ChildServer(
        lambda port: [sys.executable, "-m", "bench.websocket", "--serve", str(port)],
        "websocket echo app",
    )
    app.start()
    try:
        assert app.proc is not None
        url = f"ws://127.0.0.1:{app.port}/media"
        for uvloop, content_type in runs:
            base: float | None = None
            loop_name = "uvloop " if uvloop else "asyncio"
            rate = content_type.rsplit("=", 1)[1][:-3] + "k"
            for n in sizes:
                r = _run(hold(url, n, seconds, app.proc.pid, content_type), uvloop)
                base = base or r["cpu_per_leg_pct"]
                print(
                    f"{loop_name} {rate:>3} N={n:4d}: late {r['late_pct']:.2f} % "
                    f"lost {r['lost_pct']:.2f} % | pump late ticks {r['late_ticks_pct']:.1f} %, "
                    f"tick p50 {r['tick_p50_ms']:.2f} ms p99 {r['tick_p99_ms']:.2f} ms | "
                    f"CPU/leg {r['cpu_per_leg_pct']:.3f} % of a core "
                    f"(x{r['cpu_per_leg_pct'] / base:.2f} vs N={sizes[0]}), "
                    f"echo app {r['app_cpu_per_leg_pct']:.3f} %"
                )
    finally:
        app.stop()


async def _serve(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def echo(conn: ServerConnection) -> None:
        async for message in conn:
            if isinstance(message, bytes):
                await conn.send(message)

    async with serve(echo, "127.0.0.1", port, compression=None, max_queue=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.websocket")
    parser.add_argument("--serve", type=int, help="run the echo app on this port")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.serve:
        try:
            import uvloop

            uvloop.run(_serve(args.serve))
        except ImportError:
            asyncio.run(_serve(args.serve))
    else:
        main(quick=args.quick)
