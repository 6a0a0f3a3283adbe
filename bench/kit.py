"""The testing kit's speed: a 10-step IVR test on virtual time, and a suite of 100.

The test an app developer would write: a caller dials a FastAPI (or Flask) IVR that
asks ten questions in turn, each a talk and a one-digit input; the caller's script
answers each on hearing it; the test waits for the call to complete and checks the
ten answers and the goodbye. About 45 s of call on the virtual clock.

Figures (wall clock):
- cold: in a fresh interpreter, the time to import trunkline and the web framework,
  then to build the network and run one test (the goal: under 1 s), and the whole
  process;
- warm: one test in a process that has run one before (median);
- a suite of 100 such tests, in one process, each on a fresh network;
- the same 100 tests as a pytest suite using the ``voice`` fixture (plugin loaded
  through its entry point), whole ``pytest`` run.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from flask import Flask, jsonify

from trunkline.testing import VoiceNetwork, press

STEPS = 10
ROOT = Path(__file__).resolve().parents[1]


def _step(n: int, base: str) -> list[dict[str, Any]]:
    return [
        {"action": "talk", "text": f"Step {n}. Press {n % 10}.", "bargeIn": True},
        {
            "action": "input",
            "type": ["dtmf"],
            "dtmf": {"maxDigits": 1, "timeOut": 5},
            "eventUrl": [f"{base}/step/{n}"],
        },
    ]


def _next(n: int, digits: str, base: str) -> list[dict[str, Any]]:
    if digits != str(n % 10):
        return [{"action": "talk", "text": "Wrong key. Goodbye."}]
    if n < STEPS:
        return _step(n + 1, base)
    return [{"action": "talk", "text": "All done. Goodbye."}]


def fastapi_ivr() -> FastAPI:
    app = FastAPI()

    @app.get("/answer")
    async def answer(request: Request) -> list[dict[str, Any]]:
        return _step(1, str(request.base_url).rstrip("/"))

    @app.post("/step/{n}")
    async def step(n: int, request: Request) -> list[dict[str, Any]]:
        body = await request.json()
        return _next(n, body["dtmf"]["digits"] or "", str(request.base_url).rstrip("/"))

    @app.post("/event", status_code=204)
    async def event() -> None:
        return None

    return app


def flask_ivr() -> Flask:
    from flask import request

    app = Flask(__name__)

    @app.get("/answer")
    def answer() -> Any:
        return jsonify(_step(1, request.host_url.rstrip("/")))

    @app.post("/step/<int:n>")
    def step(n: int) -> Any:
        digits = request.get_json()["dtmf"]["digits"] or ""
        return jsonify(_next(n, digits, request.host_url.rstrip("/")))

    @app.post("/event")
    def event() -> Any:
        return "", 204

    return app


APPS = {"fastapi": fastapi_ivr, "flask": flask_ivr}


def ivr_test(voice: VoiceNetwork, framework: str) -> None:
    """The 10-step IVR test, as a developer writes it."""
    app = voice.application(APPS[framework]())
    script = [press(str(n % 10), at=0.5, when_heard=f"Step {n}.") for n in range(1, STEPS + 1)]
    call = voice.phone("447700900100", script=script).call(app.number)
    call.wait_until("completed")
    assert call.pressed == "1234567890", call.pressed
    assert call.heard("All done"), call.prompts
    assert len(app.events(call, kind="input")) == STEPS


def one_test(framework: str) -> None:
    with VoiceNetwork() as voice:
        ivr_test(voice, framework)


_COLD = """
import time
t0 = time.perf_counter()
from bench.kit import one_test
t1 = time.perf_counter()
one_test({framework!r})
t2 = time.perf_counter()
print(f"{{t1 - t0:.4f}} {{t2 - t1:.4f}}")
"""

_SUITE = """
import pytest
from bench.kit import ivr_test

@pytest.mark.parametrize("n", range({count}))
def test_ivr(voice, n):
    ivr_test(voice, {framework!r})
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def cold(framework: str) -> tuple[float, float, float]:
    """Seconds to import (trunkline, the web framework), to start up and run the test
    in that fresh process, and for the whole process."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _COLD.format(framework=framework)],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
        cwd=ROOT,
    )
    imports, test = (float(x) for x in out.stdout.strip().splitlines()[-1].split())
    return imports, test, time.perf_counter() - t0


def warm(framework: str, runs: int) -> float:
    one_test(framework)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        one_test(framework)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def suite_in_process(framework: str, count: int) -> float:
    t0 = time.perf_counter()
    for _ in range(count):
        one_test(framework)
    return time.perf_counter() - t0


def suite_under_pytest(framework: str, count: int) -> tuple[float, str]:
    """(whole pytest run in seconds, pytest's own summary line)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "test_ivr_suite.py"
        path.write_text(_SUITE.format(count=count, framework=framework))
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
            capture_output=True,
            text=True,
            env=_env(),
            cwd=tmp,
        )
        took = time.perf_counter() - t0
    summary = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr
    if out.returncode != 0 or not re.search(rf"\b{count} passed\b", summary):
        raise RuntimeError(f"the pytest suite failed:\n{out.stdout}\n{out.stderr}")
    return took, summary


def main(quick: bool = False) -> None:
    count = 10 if quick else 100
    print(f"\ntesting kit: a {STEPS}-step IVR test on virtual time")
    for framework in APPS:
        imports, first, process = cold(framework)
        one = warm(framework, 3 if quick else 20)
        in_process = suite_in_process(framework, count)
        pytest_run, summary = suite_under_pytest(framework, count)
        print(f"  {framework}:")
        print(
            f"    one test in a fresh process: start-up + test {first * 1000:6.0f} ms"
            f" (goal < 1000 ms), after {imports * 1000:.0f} ms of imports;"
            f" whole process {process * 1000:.0f} ms"
        )
        print(f"    one test, warm (median):                    {one * 1000:7.1f} ms")
        print(
            f"    {count} tests in one process:                  {in_process:7.2f} s"
            f"   ({in_process / count * 1000:.1f} ms a test)"
        )
        print(
            f"    {count} tests under pytest (whole run):        {pytest_run:7.2f} s   [{summary}]"
        )


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
