"""The media pump under load: N G.711 legs over loopback against a far end in another process.

trunkline's side (this process): N :class:`~trunkline.media.rtpleg.RtpLeg` (one socket each,
RTCP on port+1) driven by one :class:`~trunkline.media.pump.MediaPump`; every leg plays a
prompt (µ-law encode each tick) and its inbound audio goes through the jitter buffer and the
decoder each tick (an IVR call: the caller hears a prompt while we listen). ``--bridge``
pairs the legs instead (each hears its partner: relayed calls).

The far end (``python -m bench.media_pump --far``, a child process on the other core): one
UDP socket sends every leg a µ-law packet each 20 ms and receives what the pump sends. It
counts, per leg, packets received and how late each one is: its lateness is
``arrival − RTP timestamp / 8000`` minus the smallest value seen on that leg, so a packet is
*late* when it arrives more than 60 ms behind its slot — it would miss a 3-frame jitter
buffer. It reads its socket every 4 ms rather than sleeping in ``select`` (so arrival times
are known to ±4 ms): a blocked receiver makes every loopback ``sendto`` of the pump pay the
kernel's wake-up, a cost no phone across a network imposes. *Lost* is a packet that never
arrived, from the RTP sequence of what did (RFC 3550 A.3 style: expected − received), both
ways.

Figures per run (~5 s of traffic after a 1 s warm-up): late and lost % both ways, pump tick
duration p50/p99, late and skipped ticks, CPU of this process (user+sys) per leg, on uvloop
and on the plain asyncio loop. The far end's own CPU is reported too: it is on the same two
cores, so at high N it competes with the pump.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import resource
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trunkline.tuning import tune_gc

ROOT = Path(__file__).resolve().parents[1]
LATE_S = 0.060
DRAIN_S = 0.004  # the far end reads its socket this often (arrival times are ±4 ms)
PORT_RANGE = (30000, 60999)
WARMUP_S = 1.0


# ------------------------------------------------------------------ the far end (child)


def far_end() -> None:
    """Child: read {"ports": [...], "seconds": S} on stdin, print our port, wait for "go",
    send/receive for S seconds, print the result as JSON."""
    from trunkline.media.g711 import ulaw_encode

    spec = json.loads(sys.stdin.readline())
    ports: list[int] = spec["ports"]
    seconds: float = spec["seconds"]
    warmup: float = spec["warmup"]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    print(sock.getsockname()[1], flush=True)
    sys.stdin.readline()  # "go"

    t = np.arange(160) / 8000.0
    payload = ulaw_encode(np.rint(4000 * np.sin(2 * np.pi * 500 * t)).astype(np.int16))
    header = struct.Struct("!BBHII")
    index = {port: i for i, port in enumerate(ports)}
    n = len(ports)
    ssrcs = [random.getrandbits(32) for _ in range(n)]
    received = [0] * n
    late = [0] * n
    base = [float("inf")] * n  # smallest arrival − timestamp seen: the leg's "on time"
    first_ts: list[int | None] = [None] * n
    span = [0] * n  # timestamp units from the first counted packet to the newest
    lateness: list[float] = []
    rtcp = 0
    sent = 0
    unsent = 0
    start = time.monotonic()
    counting = start + warmup
    stop_sending = counting + seconds
    stop = stop_sending + 0.3  # what is in flight still counts
    usage0: Any = None
    tick = 0
    unpack = header.unpack_from
    while True:
        now = time.monotonic()
        if now >= stop:
            break
        if usage0 is None and now >= counting:
            usage0 = resource.getrusage(resource.RUSAGE_SELF)
        deadline = start + tick * 0.02
        if deadline <= now < stop_sending:
            seq, ts = tick & 0xFFFF, (tick * 160) & 0xFFFFFFFF
            for i, port in enumerate(ports):
                try:
                    sock.sendto(
                        header.pack(0x80, 0, seq, ts, ssrcs[i]) + payload, ("127.0.0.1", port)
                    )
                    sent += 1
                except BlockingIOError:
                    unsent += 1  # the far end's own socket buffer is full: not sent at all
            tick += 1
            continue
        # Poll every DRAIN_S instead of sleeping on the socket: a receiver blocked in
        # select() makes each of the pump's sendto() pay for waking it up (several µs of
        # kernel time on loopback), which a phone across a network never costs.
        time.sleep(max(0.0, min(DRAIN_S, (deadline if now < stop_sending else stop) - now)))
        while True:
            try:
                data, addr = sock.recvfrom(2048)
            except BlockingIOError:
                break
            arrival = time.monotonic()
            i = index.get(addr[1], -1)
            if i < 0 or 192 <= data[1] <= 223:
                rtcp += 1
                continue
            ts = unpack(data)[3]
            delay = arrival - ts / 8000.0
            if delay < base[i]:
                base[i] = delay
            if arrival < counting:
                continue
            first = first_ts[i]
            if first is None:
                first_ts[i] = first = ts
            span[i] = max(span[i], (ts - first) & 0xFFFFFFFF)
            received[i] += 1
            behind = delay - base[i]
            lateness.append(behind)
            if behind > LATE_S:
                late[i] += 1
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = 0.0
    if usage0 is not None:
        cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    lateness.sort()
    p99 = lateness[int(0.99 * (len(lateness) - 1))] if lateness else 0.0
    expected = sum(sp // 160 + 1 for sp, f in zip(span, first_ts, strict=True) if f is not None)
    result = {
        "received": sum(received),
        "expected": expected,
        "silent_legs": sum(1 for f in first_ts if f is None),
        "late": sum(late),
        "unsent": unsent,
        "lateness_p99_ms": p99 * 1000,
        "rtcp": rtcp,
        "cpu_s": cpu,
        "counted_s": seconds + 0.3,
    }
    print(json.dumps(result), flush=True)


# ------------------------------------------------------------------ trunkline's side


@dataclass
class RunResult:
    legs: int
    loop: str
    processes: int
    out_sent: int
    out_lost: int
    out_late: int
    out_p99_ms: float
    in_expected: int
    in_lost: int
    in_late: int
    ticks: int
    late_ticks: int
    skipped_ticks: int
    tick_p50_ms: float
    tick_p99_ms: float
    tick_cpu_s: float
    cpu_s: float
    far_cpu_s: float
    wall_s: float

    def _per_leg_tick(self, cpu_s: float) -> float:
        """CPU µs per leg per tick run (skipped ticks cost nothing, so they are left out);
        ``cpu_s`` and ``ticks`` are totals over the pump processes (each ticks for its legs)."""
        return 1e6 * cpu_s * self.processes / max(self.ticks, 1) / self.legs

    def line(self) -> str:
        out_pct = 100.0 * (self.out_lost + self.out_late) / max(self.out_sent, 1)
        in_pct = 100.0 * (self.in_lost + self.in_late) / max(self.in_expected, 1)
        core = self.cpu_s / self.wall_s  # all pump processes together
        where = f"{self.loop}×{self.processes}" if self.processes > 1 else self.loop
        return (
            f"{where:>9} N={self.legs:>5}: out late+lost {out_pct:6.3f}% "
            f"(lost {self.out_lost}, late {self.out_late}, p99 {self.out_p99_ms:5.1f} ms) · "
            f"in late+lost {in_pct:6.3f}% · tick p50 {self.tick_p50_ms:5.2f} ms "
            f"p99 {self.tick_p99_ms:5.2f} ms, late ticks {self.late_ticks}/{self.ticks}, "
            f"skipped {self.skipped_ticks} · CPU {core:6.1%} of a core, "
            f"{self._per_leg_tick(self.cpu_s):5.1f} µs/leg-tick "
            f"(in ticks {self._per_leg_tick(self.tick_cpu_s):4.1f}) "
            f"(far end {self.far_cpu_s / self.wall_s:5.1%})"
        )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class PumpSide:
    """trunkline's side of a run: ``n`` legs and one pump, in this process."""

    def __init__(self, n: int, bridge: bool, first: int = 0) -> None:
        from trunkline.media.pump import MediaPump

        self.n, self.bridge, self.first = n, bridge, first
        self.pump = MediaPump()
        self.legs: list[Any] = []
        self.runner: asyncio.Task[None] | None = None

    async def open(self) -> list[int]:
        from trunkline.media.rtpleg import RtpLeg

        rng = random.Random(self.first + self.n)
        for i in range(self.n):
            leg = await RtpLeg.open(f"leg-{self.first + i}", port_range=PORT_RANGE, rng=rng)
            self.legs.append(leg)
        return [leg.local_port for leg in self.legs]

    async def start(self, far_port: int) -> None:
        from trunkline.media.rtpleg import PCMU

        t = np.arange(8000) / 8000.0
        prompt = np.rint(6000 * np.sin(2 * np.pi * 700 * t)).astype(np.int16)
        for i, leg in enumerate(self.legs):
            leg.set_remote("127.0.0.1", far_port, PCMU, 101)
            lm = self.pump.add(leg)
            partner = i ^ 1
            if self.bridge and partner < self.n:
                self.pump.set_hearing(leg.uuid, [self.legs[partner].uuid])
            else:
                lm.play(prompt, loop=0)
        ready = asyncio.Event()
        self.runner = asyncio.create_task(self.pump.run(ready))
        await ready.wait()

    def mark(self) -> None:
        """Start of the measured window."""
        stats = self.pump.stats
        self.recv0 = [
            (leg.stats.lost, leg.stats.late, leg.stats.packets_received) for leg in self.legs
        ]
        self.ticks0 = (stats.ticks, stats.late_ticks, stats.skipped_ticks, stats.tick_cpu)
        stats.durations.clear()
        self.cpu0 = _cpu()

    async def finish(self) -> dict[str, Any]:
        cpu = _cpu() - self.cpu0
        stats = self.pump.stats
        if self.runner is not None:
            self.runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.runner
        legs = [leg.stats for leg in self.legs]
        for leg in self.legs:
            leg.close()
        pairs = list(zip(legs, self.recv0, strict=True))
        return {
            "in_lost": sum(s.lost - r[0] for s, r in pairs),
            "in_late": sum(s.late - r[1] for s, r in pairs),
            "in_expected": sum(s.packets_received - r[2] + s.lost - r[0] for s, r in pairs),
            "ticks": stats.ticks - self.ticks0[0],
            "late_ticks": stats.late_ticks - self.ticks0[1],
            "skipped_ticks": stats.skipped_ticks - self.ticks0[2],
            "tick_cpu_s": stats.tick_cpu - self.ticks0[3],
            "durations": list(stats.durations),
            "cpu_s": cpu,
        }


class WorkerSide:
    """A PumpSide in a worker process (``--worker``), driven over its stdin/stdout."""

    def __init__(self, n: int, bridge: bool, first: int) -> None:
        self.args = [str(n), str(first)] + (["--bridge"] if bridge else [])
        self.proc: asyncio.subprocess.Process | None = None

    async def _say(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def _hear(self) -> Any:
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(60):
            return json.loads(await self.proc.stdout.readline())

    async def open(self) -> list[int]:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.media_pump",
            "--worker",
            *self.args,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        ports: list[int] = await self._hear()
        return ports

    async def start(self, far_port: int) -> None:
        await self._say(str(far_port))
        await self._hear()

    def mark(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"mark\n")

    async def finish(self) -> dict[str, Any]:
        await self._say("finish")
        result: dict[str, Any] = await self._hear()
        assert self.proc is not None
        await self.proc.wait()
        return result


def worker(n: int, first: int, bridge: bool) -> None:
    """Worker process: one PumpSide on uvloop, commands on stdin (see WorkerSide)."""
    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def line() -> str:
            return str(await loop.run_in_executor(None, sys.stdin.readline)).strip()

        side = PumpSide(n, bridge, first)
        print(json.dumps(await side.open()), flush=True)
        await side.start(int(await line()))
        print("true", flush=True)
        assert await line() == "mark"
        side.mark()
        assert await line() == "finish"
        print(json.dumps(await side.finish()), flush=True)

    uvloop.run(main())


async def _run(n: int, seconds: float, bridge: bool, loop_name: str, processes: int) -> RunResult:
    if processes == 1:
        sides: list[PumpSide | WorkerSide] = [PumpSide(n, bridge)]
    else:
        share = -(-n // processes)
        sides = [WorkerSide(min(share, n - first), bridge, first) for first in range(0, n, share)]
    far = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.media_pump",
        "--far",
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert far.stdin is not None and far.stdout is not None
    try:
        ports = [port for side in sides for port in await side.open()]
        spec = {"ports": ports, "seconds": seconds, "warmup": WARMUP_S}
        far.stdin.write(json.dumps(spec).encode() + b"\n")
        await far.stdin.drain()
        async with asyncio.timeout(30):
            far_port = int(await far.stdout.readline())
        for side in sides:
            await side.start(far_port)
        far.stdin.write(b"go\n")
        await far.stdin.drain()
        await asyncio.sleep(WARMUP_S)  # the bench's own pacing: let the streams start
        for side in sides:
            side.mark()
        wall0 = time.monotonic()
        async with asyncio.timeout(seconds + 30):
            far_result = json.loads(await far.stdout.readline())
        wall = time.monotonic() - wall0
        parts = [await side.finish() for side in sides]
    finally:
        for side in sides:
            if isinstance(side, WorkerSide) and side.proc and side.proc.returncode is None:
                side.proc.kill()
                await side.proc.wait()
        if far.returncode is None:
            far.kill()
        await far.wait()
    silent = far_result["silent_legs"] * round(seconds * 50)  # legs the far end never heard
    durations = sorted(d for part in parts for d in part["durations"])

    def pick(q: float) -> float:
        return 1000 * durations[int(q * (len(durations) - 1))] if durations else 0.0

    def total(key: str) -> Any:
        return sum(part[key] for part in parts)

    return RunResult(
        legs=n,
        loop=loop_name if processes == 1 else "uvloop",
        processes=processes,
        out_sent=far_result["expected"] + silent,
        out_lost=max(0, far_result["expected"] - far_result["received"]) + silent,
        out_late=far_result["late"],
        out_p99_ms=far_result["lateness_p99_ms"],
        in_expected=total("in_expected"),
        in_lost=total("in_lost"),
        in_late=total("in_late"),
        ticks=total("ticks"),
        late_ticks=total("late_ticks"),
        skipped_ticks=total("skipped_ticks"),
        tick_p50_ms=pick(0.5),
        tick_p99_ms=pick(0.99),
        tick_cpu_s=total("tick_cpu_s"),
        cpu_s=total("cpu_s"),
        far_cpu_s=far_result["cpu_s"],
        wall_s=wall,
    )


def run(
    n: int, seconds: float, loop_name: str, bridge: bool = False, processes: int = 1
) -> RunResult:
    """One measurement in a fresh event loop of the given kind."""
    factory: Callable[[], asyncio.AbstractEventLoop]
    if loop_name == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_run(n, seconds, bridge, loop_name, processes))


def main(
    quick: bool = False,
    sizes: list[int] | None = None,
    seconds: float | None = None,
    loops: tuple[str, ...] = ("uvloop", "asyncio"),
    bridge: bool = False,
    processes: int = 2,
) -> None:
    """Each size on each loop in one pump process; sizes of 500 and up (the largest one with
    ``--quick``) also split over ``processes`` pump processes on uvloop (one per core)."""
    sizes = sizes or ([20, 100] if quick else [100, 500, 1000])
    seconds = seconds or (2.0 if quick else 5.0)
    kind = "bridged pairs" if bridge else "IVR legs (prompt out, caller in)"
    print(f"== Media pump: G.711 20 ms legs over loopback, {kind}, {seconds:.0f} s per run")
    print("   goal: >= 1,000 legs with < 0.5 % late or lost; late = > 60 ms behind its slot")
    for n in sizes:
        for loop_name in loops:
            print("  " + run(n, seconds, loop_name, bridge).line(), flush=True)
        if processes > 1 and (n >= 500 or (quick and n == max(sizes))):
            print("  " + run(n, seconds, "uvloop", bridge, processes).line(), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.media_pump")
    parser.add_argument("--far", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--legs", help="comma-separated leg counts, e.g. 100,500,1000")
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--loop", choices=["uvloop", "asyncio", "both"], default="both")
    parser.add_argument("--bridge", action="store_true", help="pair the legs (relayed calls)")
    parser.add_argument(
        "--processes", type=int, default=2, help="pump processes for the split runs (1: none)"
    )
    args = parser.parse_args()
    tune_gc()  # as `trunkline serve` does (and python -m bench)
    if args.far:
        far_end()
    elif args.worker:
        worker(args.worker[0], args.worker[1], args.bridge)
    else:
        main(
            quick=args.quick,
            sizes=[int(x) for x in args.legs.split(",")] if args.legs else None,
            seconds=args.seconds,
            loops=("uvloop", "asyncio") if args.loop == "both" else (args.loop,),
            bridge=args.bridge,
            processes=args.processes,
        )
