"""kill -9 of a real ``trunkline serve`` mid-call, then a restart: every call record is
closed, every event is delivered, once per event id.

The voice application runs in this test process on 127.0.0.1; the platform is a
subprocess with a real clock and a SQLite file. Calls are placed through ``/sim/v1``.
Three calls are placed while the event endpoint is up, three more while it is down
(their events wait in the outbox, retrying); then the platform is killed, the endpoint
comes back, and the platform is restarted on the same database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import httpx
from starlette.responses import Response

from trunkline.call.webhooks import EVENT_ID_HEADER
from trunkline.domain import FINAL_STATUSES
from trunkline.store import open_store
from trunkline.testing.server import ServedApp
from trunkline.testing.webapp import RecordedRequest, WebhookApp

NUMBER = "447700900000"
CALLERS = [f"4477009001{n:02d}" for n in range(6)]
START_TIMEOUT = 15.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EventLog:
    """What the application received on /event, and conditions to wait for."""

    def __init__(self) -> None:
        self.up = True
        self.delivered: list[tuple[int, str, str]] = []  # (event id, call uuid, status)
        self.refused: set[tuple[str, str]] = set()  # (call uuid, status) refused
        self._changed = asyncio.Event()

    def handle(self, req: RecordedRequest) -> Response:
        body = req.json or {}
        if not self.up:
            self.refused.add((body.get("uuid", ""), body.get("status", "")))
            self._changed.set()
            return Response(status_code=503)
        if "status" in body:
            self.delivered.append(
                (int(req.headers[EVENT_ID_HEADER.lower()]), body["uuid"], body["status"])
            )
        self._changed.set()
        return Response(status_code=204)

    def answered(self, uuids: list[str]) -> bool:
        return set(uuids) <= {u for _, u, s in self.delivered if s == "answered"}

    async def wait(self, what: str, cond: Callable[[], bool], timeout: float = 15.0) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not cond():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"{what}: not reached in {timeout}s; delivered {self.delivered},"
                f" refused {self.refused}"
            ) from None


def _serve(config: Path, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from trunkline.cli.main import main; main()",
            "serve",
            "--config",
            str(config),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def _ready(client: httpx.AsyncClient, proc: subprocess.Popen[bytes]) -> None:
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            assert proc.poll() is None, "trunkline serve exited"
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)


async def _heard(api: httpx.AsyncClient, caller: str, text: str) -> None:
    """Wait (bounded) until the sim phone ``caller`` has heard ``text``."""
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            log = (await api.get(f"/sim/v1/phones/{caller}/log")).json()["log"]
            if any(e.get("text") == text for e in log if e["event"] == "heard_talk"):
                return
            await asyncio.sleep(0.05)


async def test_kill_9_mid_call_then_restart(tmp_path: Path) -> None:
    events = EventLog()
    app = WebhookApp()
    app.route(
        "/answer", [{"action": "talk", "text": "Hold on"}, {"action": "wait", "timeout": 600}]
    )
    app.route("/event", events.handle)
    port = _free_port()
    db = tmp_path / "serve.db"
    log = tmp_path / "serve.log"
    async with ServedApp(app.asgi()) as voice:
        config = tmp_path / "trunkline.toml"
        config.write_text(
            f"""
[server]
host = "127.0.0.1"
port = {port}
database = "sqlite:///{db}"
log_level = "warning"

[sim]
clock = "real"

[[applications]]
name = "restart"
answer_url = "{voice.url}/answer"
event_url = "{voice.url}/event"
numbers = ["{NUMBER}"]
"""
        )
        proc = _serve(config, log)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as api:
                await _ready(api, proc)
                uuids: list[str] = []
                for n, caller in enumerate(CALLERS):
                    if n == 3:
                        # the first three calls are answered and their events delivered;
                        # then the app's event endpoint goes down
                        await events.wait("answered", lambda: events.answered(uuids[:3]))
                        events.up = False
                    r = await api.post("/sim/v1/phones", json={"number": caller, "ring": 0})
                    assert r.status_code == 201, r.text
                    r = await api.post(f"/sim/v1/phones/{caller}/calls", json={"to": NUMBER})
                    assert r.status_code == 201, r.text
                    uuids.append(r.json()["uuid"])
                # the last three are answered too: their callers hear the talk (their
                # events are stuck behind "started", which the app refuses)
                for caller in CALLERS[3:]:
                    await _heard(api, caller, "Hold on")
                assert {u for u, _ in events.refused} == set(uuids[3:])
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
            before = list(events.delivered)
            assert {s for _, _, s in before} <= {"started", "ringing", "answered"}

            events.up = True
            proc = _serve(config, log)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as api:
                await _ready(api, proc)

                def all_closed() -> bool:
                    done = {u for _, u, s in events.delivered if s in FINAL_STATUSES}
                    return set(uuids) <= done

                await events.wait("completed", all_closed)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    store = open_store(f"sqlite:///{db}")
    try:
        per_call: dict[str, list[str]] = defaultdict(list)
        ids = [i for i, _, _ in events.delivered]
        assert len(ids) == len(set(ids)), "an event id delivered twice"
        for _, uuid, status in sorted(events.delivered):
            per_call[uuid].append(status)
        for uuid in uuids:
            call = store.get_call(uuid)
            assert call is not None and call.status == "completed" and call.end_time is not None
            assert per_call[uuid] == ["started", "ringing", "answered", "completed"], uuid
            stored = store.events_for_call(uuid)
            assert [e.state for e in stored] == ["delivered"] * len(stored)
            assert sorted(i for i, u, _ in events.delivered if u == uuid) == [e.id for e in stored]
        assert store.pending_events() == []
    finally:
        store.close()
