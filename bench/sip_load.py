"""SIP load: sipp drives calls into trunkline over loopback (issue 5's bench).

trunkline runs in this process as ``trunkline serve`` runs it (a :class:`Runtime` with
``[sip]`` on, uvloop, the real clock, an in-memory store); the voice app runs in its own
process (uvicorn on 127.0.0.1); sipp is the caller. Two runs:

* **set-ups**: calls at a fixed rate whose NCCO is one short talk; trunkline answers,
  plays it and hangs up. Printed: the rate held with 0 failures, and the post-dial
  delay (INVITE sent → 200 OK received, sipp's response time: it includes the answer
  webhook) p50/p99.
* **concurrency**: N calls held up at once, RTP both ways (sipp streams G.711 into each
  call, trunkline plays a looping prompt back). Over a steady window: packets received
  by trunkline against those expected, late and lost packets, the pump's late ticks and
  tick time, and trunkline's CPU per leg.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.child import ChildServer
from trunkline.call.runtime import Runtime
from trunkline.config import parse_config
from trunkline.media.g711 import ulaw_encode
from trunkline.media.pump import install_uvloop
from trunkline.media.tts import EspeakEngine

DATA = Path(__file__).parent / "data"
SETUP_NUMBER = "447700900001"
HOLD_NUMBER = "447700900002"


# -- the voice app (its own process) --------------------------------------------------------
def http_app() -> Starlette:
    async def setup(request: Request) -> Response:
        return JSONResponse([{"action": "talk", "text": "Thanks."}])

    async def hold(request: Request) -> Response:
        return JSONResponse([{"action": "talk", "text": "Please hold.", "loop": 0}])

    async def event(request: Request) -> Response:
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/setup", setup, methods=["GET"]),
            Route("/hold", hold, methods=["GET"]),
            Route("/event", event, methods=["POST"]),
        ]
    )


class AppProcess(ChildServer):
    def __init__(self) -> None:
        super().__init__(
            lambda port: [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.sip_load:http_app",
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


def ulaw_wav(path: Path, seconds: float) -> None:
    """A G.711 µ-law WAV (format 7) of speech, as sipp's rtp_stream plays it."""
    said = EspeakEngine().synthesize(
        "This is a caller talking to trunkline.",
        language="en-US",
        style=0,
        ssml=False,
        sample_rate=8000,
    )
    reps = int(seconds * 8000 / len(said)) + 1
    import numpy as np

    data = ulaw_encode(np.tile(said, reps)[: int(seconds * 8000)])
    fmt = struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    riff += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)


def sipp(
    scenario: str, port: int, number: str, *extra: str, cwd: Path, deadline: float
) -> tuple[int, str]:
    exe = shutil.which("sipp")
    if exe is None:
        raise RuntimeError("sipp is missing (make test installs sip-tester)")
    proc = subprocess.run(
        [
            exe,
            "-sf",
            str(DATA / scenario),
            "-s",
            number,
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-nostdin",
            "-trace_rtt",
            "-rtt_freq",
            "1",
            *extra,
            f"127.0.0.1:{port}",
        ],
        cwd=cwd,
        capture_output=True,
        timeout=deadline,
        check=False,
    )
    return proc.returncode, proc.stdout.decode(errors="replace")


def counts(output: str) -> tuple[int, int]:
    """(successful, failed) calls from sipp's final statistics screen."""
    ok = failed = 0
    for line in output.splitlines():
        if line.strip().startswith("Successful call"):
            ok = int(line.split("|")[2].split()[0])
        elif line.strip().startswith("Failed call"):
            failed = int(line.split("|")[2].split()[0])
    return ok, failed


def response_times(cwd: Path) -> list[float]:
    times: list[float] = []
    for path in cwd.glob("*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 2:
                times.append(float(parts[1]))
        path.unlink()
    return times


def pct(values: list[float], q: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, round(q / 100 * (len(data) - 1)))] if data else 0.0


async def run(quick: bool) -> None:
    rates = [50] if quick else [100, 200, 300]
    seconds = 2 if quick else 5
    sizes = [50] if quick else [100, 250, 500, 1000]
    with AppProcess() as app, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ulaw_wav(work / "caller.ulaw.wav", 10)
        cfg = parse_config(
            {
                "server": {"port": 0, "database": "memory:", "log_level": "warning"},
                "sip": {
                    "enabled": True,
                    "port": 0,
                    "rtp_ports": [20000, 40000],
                    "trunks": [{"name": "sipp", "sources": ["127.0.0.1"]}],
                },
                "applications": [
                    {
                        "name": "setup",
                        "answer_url": f"{app.url}/setup",
                        "event_url": f"{app.url}/event",
                        "numbers": [SETUP_NUMBER],
                    },
                    {
                        "name": "hold",
                        "answer_url": f"{app.url}/hold",
                        "event_url": f"{app.url}/event",
                        "numbers": [HOLD_NUMBER],
                    },
                ],
            }
        )
        async with Runtime(cfg) as rt:
            address = rt.doors.sip_address
            door = rt.doors.sip
            assert address is not None and door is not None
            port = address[1]
            loop = asyncio.get_running_loop()
            print("== SIP load: sipp → trunkline (in this process, uvloop) → app process")
            print(f"   loop: {type(loop).__module__}")
            for rate in rates:
                calls = rate * seconds
                cpu0 = time.process_time()
                _code, out = await asyncio.to_thread(
                    sipp,
                    "caller_listens.xml",
                    port,
                    SETUP_NUMBER,
                    "-r",
                    str(rate),
                    "-m",
                    str(calls),
                    "-l",
                    str(rate * 4),
                    "-timeout",
                    str(seconds * 6 + 30),
                    "-p",
                    "0",
                    cwd=work,
                    deadline=seconds * 6 + 60,
                )
                cpu = time.process_time() - cpu0
                ok, failed = counts(out)
                times = response_times(work)
                print(
                    f"   set-ups at {rate} cps: {ok}/{calls} ok, {failed} failed; "
                    f"post-dial delay p50 {pct(times, 50):.1f} ms, p99 {pct(times, 99):.1f} ms; "
                    f"trunkline CPU {cpu / max(ok, 1) * 1000:.2f} ms per call"
                )
            for n in sizes:
                await hold_run(rt, port, n, work)


async def hold_run(rt: Runtime, port: int, n: int, work: Path) -> None:
    door = rt.doors.sip
    pump = rt.doors.pump
    assert door is not None
    rate = min(n, 200)
    task = asyncio.create_task(
        asyncio.to_thread(
            sipp,
            "caller_streams.xml",
            port,
            HOLD_NUMBER,
            "-r",
            str(rate),
            "-m",
            str(n),
            "-l",
            str(n),
            "-timeout",
            "90",
            "-p",
            "0",
            "-mp",
            "40000",
            cwd=work,
            deadline=120,
        )
    )
    async with asyncio.timeout(60):
        while sum(1 for c in door.channels.values() if c.state == "answered") < n:
            if task.done():
                break
            await asyncio.sleep(0.1)  # calls are still being set up
    await asyncio.sleep(1.0)  # let the last calls' media settle before the window

    def snapshot() -> tuple[int, int, int, int, int]:
        received = lost = late = 0
        for channel in door.channels.values():
            if channel.rtp is not None:
                s = channel.rtp.stats
                received += s.packets_received
                lost += s.lost
                late += s.late
        return received, lost, late, pump.stats.ticks, pump.stats.late_ticks

    legs = sum(1 for c in door.channels.values() if c.state == "answered")
    window = 5.0
    before = snapshot()
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(window)  # the measured window: media flows on its own
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    after = snapshot()
    durations = list(pump.stats.durations)[-int(wall / 0.02) :]
    _code, out = await task
    ok, failed = counts(out)
    received = after[0] - before[0]
    expected = legs * wall / 0.02
    late_ticks = after[4] - before[4]
    ticks = max(after[3] - before[3], 1)
    print(
        f"   {n} calls held ({legs} legs up): received {received / max(expected, 1) * 100:.1f}% "
        f"of expected packets, lost {after[1] - before[1]}, late {after[2] - before[2]} "
        f"({(after[1] - before[1] + after[2] - before[2]) / max(received, 1) * 100:.2f}%); "
        f"pump late ticks {late_ticks / ticks * 100:.1f}%, tick p50 "
        f"{statistics.median(durations) * 1000 if durations else 0:.2f} ms p99 "
        f"{pct(durations, 99) * 1000:.2f} ms; CPU {cpu / wall * 100:.0f}% of a core, "
        f"{cpu / wall / max(legs, 1) * 100:.3f}% per leg; sipp {ok} ok {failed} failed"
    )


def main(quick: bool = False) -> None:
    install_uvloop()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(run(quick))


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
