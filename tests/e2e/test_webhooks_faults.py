"""A fault-injecting application on 127.0.0.1 and a table of what the platform does.

:class:`FaultApp` is a raw asyncio HTTP server, so that it can misbehave in ways a web
framework would not let it: stall, reset the connection, hang up without answering,
drip a body, send a huge one. The path names the fault (``/503``, ``/stall``,
``/flaky-2`` …). Each row places a sim call whose answer URL (and fallback URL) points
at a fault, on the virtual clock, and checks the attempts each URL got, the fallback
used, what the caller heard or how the call ended, the error event, and the time: on
the virtual clock every retry is immediate (as Vonage's), and the real time spent is
bounded by the per-URL timeouts (``#ct=…&rt=…`` keep the stalls short).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from trunkline.call.platform import Platform
from trunkline.call.webhooks import HttpWebhooks
from trunkline.clock import VirtualClock
from trunkline.domain import Application, Webhook
from trunkline.store import open_store
from trunkline.store.base import Store
from trunkline.testing.server import ServedApp
from trunkline.testing.webapp import WebhookApp
from trunkline.webhooks.client import WebhookClient
from trunkline.webhooks.guard import UrlGuard

NCCO = [{"action": "talk", "text": "From the answer URL"}]
FALLBACK_NCCO = [{"action": "talk", "text": "From the fallback"}]
CALLER, NUMBER = "447700900100", "447700900000"
#: short timeouts for the rows that stall: 200 ms to connect, 300 ms between bytes
FAST = "#ct=200&rt=300"


class FaultApp:
    """A misbehaving HTTP/1.1 server; the request path picks the misbehaviour."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> FaultApp:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 1)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1].decode()
            path = target.split("?", 1)[0].split("/", 2)[2]  # /<role>/<fault>
            self.hits[target.split("?", 1)[0]] += 1
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            await self._fault(path, target.split("?", 1)[0], writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _fault(self, fault: str, path: str, writer: asyncio.StreamWriter) -> None:
        if fault == "stall":
            await asyncio.sleep(30)
        elif fault == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif fault == "hangup":
            pass  # close without a word
        elif fault == "slow-body":
            writer.write(_head(200, "application/json", 100))
            for _ in range(20):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(1.0)
        elif fault == "huge":
            size = 2 * 1024 * 1024
            writer.write(_head(200, "application/json", size) + b" " * size)
        elif fault == "redirect":
            writer.write(_head(302, "text/plain", 0, "Location: http://169.254.169.254/\r\n"))
        elif fault.startswith("flaky-"):
            failures = int(fault.split("-")[1])
            if self.hits[path] <= failures:
                writer.write(_head(503, "text/plain", 0))
            else:
                writer.write(_json(200, NCCO))
        else:
            writer.write(_canned(fault))
        with contextlib.suppress(ConnectionError):
            await writer.drain()


def _head(status: int, ctype: str, length: int, extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {length}\r\n"
        f"Connection: close\r\n{extra}\r\n"
    ).encode()


def _json(status: int, value: object) -> bytes:
    body = json.dumps(value).encode()
    return _head(status, "application/json", len(body)) + body


def _canned(fault: str) -> bytes:
    if fault.isdigit():
        return _head(int(fault), "text/plain", 0)
    if fault == "ok":
        return _json(200, NCCO)
    if fault == "fallback-ok":
        return _json(200, FALLBACK_NCCO)
    if fault == "invalid-json":
        body = b'[{"action": "talk", '
        return _head(200, "application/json", len(body)) + body
    if fault == "html":
        body = b"<html><body>Hello</body></html>"
        return _head(200, "text/html", len(body)) + body
    if fault == "invalid-ncco":
        return _json(200, [{"action": "talk", "text": 42}])
    if fault == "empty":
        return _head(200, "application/json", 0)
    if fault == "object":
        return _json(200, {"action": "talk", "text": "not in a list"})
    raise AssertionError(f"unknown fault {fault}")


@dataclass(frozen=True)
class Row:
    answer: str  # the fault at the answer URL (+ its URL options)
    fallback: str | None  # the fault at the fallback URL, if there is one
    answer_attempts: int
    fallback_attempts: int
    heard: str | None  # what the caller hears; None: the call fails with an error event
    max_real: float = 2.0  # real seconds the whole call may take
    min_real: float = 0.0


REFUSED = "refused"  # a port nobody listens on
FORBIDDEN = "forbidden"  # the metadata address, refused by the URL guard

ROWS = {
    "200 NCCO": Row("ok", None, 1, 0, "From the answer URL"),
    "404 not retried": Row("404", None, 1, 0, None),
    "404 -> fallback": Row("404", "fallback-ok", 1, 1, "From the fallback"),
    "401 -> fallback": Row("401", "fallback-ok", 1, 1, "From the fallback"),
    "500 not retried": Row("500", None, 1, 0, None),
    "500 -> fallback": Row("500", "fallback-ok", 1, 1, "From the fallback"),
    "502 not retried": Row("502", None, 1, 0, None),
    "429 retried once": Row("429", None, 2, 0, None),
    "503 retried once": Row("503", None, 2, 0, None),
    "504 retried once": Row("504", None, 2, 0, None),
    "503 -> fallback": Row("503", "fallback-ok", 2, 1, "From the fallback"),
    "503 then 200": Row("flaky-1", None, 2, 0, "From the answer URL"),
    "503 twice -> fallback": Row("flaky-2", "fallback-ok", 2, 1, "From the fallback"),
    "both 503": Row("503", "503", 2, 2, None),
    "stall: read timeout": Row(f"stall{FAST}", None, 2, 0, None, max_real=1.5, min_real=0.6),
    "stall -> fallback": Row(
        f"stall{FAST}", "fallback-ok", 2, 1, "From the fallback", max_real=1.5, min_real=0.6
    ),
    "both stall": Row(f"stall{FAST}", f"stall{FAST}", 2, 2, None, max_real=2.5, min_real=1.2),
    "refused retried": Row(REFUSED, None, 0, 0, None),
    "refused -> fallback": Row(REFUSED, "fallback-ok", 0, 1, "From the fallback"),
    "reset retried": Row("reset", None, 2, 0, None),
    "hang-up retried": Row("hangup", "fallback-ok", 2, 1, "From the fallback"),
    "slow body": Row(f"slow-body{FAST}", None, 2, 0, None, max_real=1.5, min_real=0.6),
    "invalid JSON": Row("invalid-json", None, 1, 0, None),
    "HTML": Row("html", "fallback-ok", 1, 1, "From the fallback"),
    "huge body": Row("huge", None, 1, 0, None),
    "invalid NCCO": Row("invalid-ncco", None, 1, 0, None),
    "invalid NCCO -> fallback": Row("invalid-ncco", "fallback-ok", 1, 1, "From the fallback"),
    "empty body": Row("empty", None, 1, 0, None),
    "JSON object, not a list": Row("object", None, 1, 0, None),
    "302 not followed": Row("redirect", "fallback-ok", 1, 1, "From the fallback"),
    "forbidden address": Row(FORBIDDEN, "fallback-ok", 0, 1, "From the fallback"),
    "forbidden, no fallback": Row(FORBIDDEN, None, 0, 0, None),
    "#rc=3 on 503": Row("503#rc=3", None, 4, 0, None),
    "#rc=0 on 503": Row("503#rc=0", "fallback-ok", 1, 1, "From the fallback"),
    "#rp=5xx&rc=2 on 500": Row("500#rp=5xx&rc=2", None, 3, 0, None),
    "#rp=4xx on 503": Row("503#rp=4xx", None, 1, 0, None),
}


@pytest.fixture
async def faults() -> AsyncIterator[FaultApp]:
    async with FaultApp() as app:
        yield app


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _url(faults: FaultApp, role: str, fault: str) -> str:
    if fault == REFUSED:
        return f"http://127.0.0.1:{_closed_port()}/{role}/refused"
    if fault == FORBIDDEN:
        return f"http://169.254.169.254/{role}/latest"
    name, _, opts = fault.partition("#")
    return f"{faults.url}/{role}/{name}" + (f"#{opts}" if opts else "")


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
async def test_answer_url_faults(row: Row, faults: FaultApp, tmp_path: Path) -> None:
    events = WebhookApp()
    events.route("/event", None)
    store = open_store(f"sqlite:///{tmp_path / 'faults.db'}")
    async with ServedApp(events.asgi()) as ev:
        app = Application(
            id="fa017000-0000-4000-8000-000000000000",
            name="faults",
            answer_url=Webhook(_url(faults, "answer", row.answer), "GET", 1.0, 5.0),
            event_url=Webhook(f"{ev.url}/event", "POST", 1.0, 10.0),
            fallback_answer_url=(
                Webhook(_url(faults, "fallback", row.fallback), "GET", 1.0, 5.0)
                if row.fallback
                else None
            ),
        )
        store.put_application(app)
        store.link_number(NUMBER, app.id)
        clock = VirtualClock()
        webhooks = HttpWebhooks(clock, store, WebhookClient(guard=UrlGuard()))
        platform = Platform(clock=clock, store=store, webhooks=webhooks)
        platform.sim.add_phone(CALLER)
        t0, started = clock.now(), time.monotonic()
        call = platform.sim.call(CALLER, NUMBER)
        await clock.run_async(until=lambda: _settled(store, call.id))
        real = time.monotonic() - started
        virtual = clock.now() - t0
        await clock.run_async()
        await webhooks.aclose()

    answer_path = "/answer/" + row.answer.split("#")[0]
    fallback_path = "/fallback/" + (row.fallback or "").split("#")[0]
    if row.answer not in (REFUSED, FORBIDDEN):
        assert faults.hits[answer_path] == row.answer_attempts
    if row.fallback is not None:
        assert faults.hits[fallback_path] == row.fallback_attempts
    tried = [e.data for e in store.timeline(call_uuid=call.id) if e.kind == "webhook"]
    answer_tries = [d for d in tried if d["kind"] == "answer"]
    fallback_tries = [d for d in tried if d["kind"] == "fallback"]
    if row.answer == REFUSED:
        assert [d["error"] for d in answer_tries] == ["connection refused"] * 2
    if row.answer == FORBIDDEN:
        assert [d["error"] for d in answer_tries] == ["forbidden address"]  # not retried
    assert len(fallback_tries) == row.fallback_attempts
    # Vonage retries at once: the whole answer sequence takes no virtual time
    assert virtual == 0.0
    assert row.min_real <= real <= row.max_real, real
    rec = store.get_call(call.id)
    assert rec is not None
    statuses = [r.json["status"] for r in events.requests_to("/event") if "status" in r.json]
    errors = [r.json["reason"] for r in events.requests_to("/event") if "reason" in r.json]
    if row.heard is not None:
        assert platform.sim.phone(CALLER).heard() == [row.heard]
        assert rec.status == "completed"
        # an invalid NCCO is reported (naming the field) even when the fallback saves the call
        assert len(errors) == (1 if row.answer.startswith("invalid-ncco") else 0)
        assert statuses[-1] == "completed"
    else:
        assert platform.sim.phone(CALLER).heard() == []
        assert rec.status in ("failed", "completed") and rec.status == statuses[-1]
        assert len(errors) == 1  # one error event, with a reason
    if row.answer.startswith("invalid-ncco"):
        assert "/0/text" in errors[0]  # names the field at fault
    store.close()


def _settled(store: Store, uuid: str | None) -> bool:
    """The answer sequence is over: the caller hears the NCCO, or the call has failed."""
    rec = store.get_call(uuid) if uuid else None
    return rec is not None and rec.status in ("answered", "failed", "completed")
