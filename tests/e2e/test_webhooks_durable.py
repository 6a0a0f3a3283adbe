"""Durable event delivery over real HTTP on 127.0.0.1, timed on the virtual clock.

The application is a :class:`WebhookApp`; its handlers read the virtual clock, so an
outage is a stretch of virtual time and every attempt's time is exact.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.responses import Response

from trunkline.call.platform import Platform
from trunkline.call.webhooks import ATTEMPT_HEADER, EVENT_ID_HEADER, HttpWebhooks
from trunkline.clock import VirtualClock
from trunkline.domain import Application, answer_webhook, event_webhook
from trunkline.engine.hooks import Hook
from trunkline.engine.urlopts import split_url_options
from trunkline.sim import Step
from trunkline.store import open_store
from trunkline.store.base import Store
from trunkline.testing.server import ServedApp
from trunkline.testing.webapp import RecordedRequest, WebhookApp
from trunkline.webhooks.client import WebhookClient
from trunkline.webhooks.guard import UrlGuard
from trunkline.webhooks.outbox import RetryPolicy, hook_for

EVENT_ID = EVENT_ID_HEADER.lower()
ATTEMPT = ATTEMPT_HEADER.lower()


@dataclass
class Rig:
    clock: VirtualClock
    store: Store
    app: WebhookApp
    base: str
    seen: list[tuple[float, RecordedRequest]]

    def webhooks(self, policy: RetryPolicy | None = None, **kw: Any) -> HttpWebhooks:
        return HttpWebhooks(self.clock, self.store, policy=policy, rng=random.Random(7), **kw)

    def answer_when(self, path: str, up: Callable[[float, RecordedRequest], bool]) -> None:
        """``path`` answers 204 when ``up(now, request)``, else 503; every request is logged
        with its virtual time."""

        def handle(req: RecordedRequest) -> Response:
            now = self.clock.now()
            self.seen.append((now, req))
            return Response(status_code=204 if up(now, req) else 503)

        self.app.route(path, handle)

    def hook(self, call: str, n: int, path: str = "/event", **kw: Any) -> Hook:
        return Hook(
            kind="status",
            url=f"{self.base}{path}",
            method="POST",
            body={"uuid": call, "n": n, "status": "ringing"},
            call_uuid=call,
            conversation_uuid="CON-" + call,
            **kw,
        )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = open_store(f"sqlite:///{tmp_path / 'durable.db'}")
    app = WebhookApp()
    async with ServedApp(app.asgi()) as served:
        yield Rig(VirtualClock(), store, app, served.url, [])
    store.close()


async def test_a_failing_event_is_retried_with_backoff_until_delivered(rig: Rig) -> None:
    t0 = rig.clock.now()
    count = 0

    def up(now: float, req: RecordedRequest) -> bool:
        nonlocal count
        count += 1
        return count > 3

    rig.answer_when("/event", up)
    wh = rig.webhooks()
    wh.send(rig.hook("call-a", 1))
    await rig.clock.run_async()
    await wh.aclose()

    times = [t - t0 for t, _ in rig.seen]
    assert len(times) == 4
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # exponential backoff with jitter: each wait in [b/2, b] for b = 1, 2, 4 s
    for gap, ceiling in zip(gaps, [1.0, 2.0, 4.0], strict=True):
        assert ceiling / 2 <= gap <= ceiling
    ids = {req.headers[EVENT_ID] for _, req in rig.seen}
    assert len(ids) == 1
    assert [req.headers[ATTEMPT] for _, req in rig.seen] == ["1", "2", "3", "4"]
    (event,) = rig.store.events_for_call("call-a")
    assert str(event.id) in ids
    assert event.state == "delivered" and event.attempts == 4 and event.response_status == 204
    assert event.delivered_at == pytest.approx(t0 + times[-1])


async def test_a_stuck_event_holds_back_its_own_call_only(rig: Rig) -> None:
    t0 = rig.clock.now()
    # call a's endpoint is down for 30 virtual seconds; call b's is fine
    rig.answer_when("/a", lambda now, _: now - t0 >= 30)
    rig.answer_when("/b", lambda now, _: True)
    wh = rig.webhooks()
    for n in range(3):
        wh.send(rig.hook("call-a", n, "/a"))
        wh.send(rig.hook("call-b", n, "/b"))
    await rig.clock.run_async()
    await wh.aclose()

    delivered_b = [t - t0 for t, r in rig.seen if r.path == "/b"]
    assert delivered_b == [0.0, 0.0, 0.0]
    a_ok = [(t - t0, r.json["n"]) for t, r in rig.seen if r.path == "/a" and t - t0 >= 30]
    assert [n for _, n in a_ok] == [0, 1, 2]  # in order, once each after the outage
    assert all(30 <= t <= 30 + 32 for t, _ in a_ok)
    # before the outage ended only the first event of call a was tried
    assert {r.json["n"] for t, r in rig.seen if r.path == "/a" and t - t0 < 30} == {0}
    assert all(e.state == "delivered" for e in rig.store.events_for_call("call-a"))


async def test_durable_mode_gives_up_at_the_horizon(rig: Rig) -> None:
    t0 = rig.clock.now()
    rig.answer_when("/event", lambda now, _: False)
    wh = rig.webhooks(RetryPolicy(horizon=60, max_backoff=8))
    wh.send(rig.hook("call-a", 1))
    wh.send(rig.hook("call-a", 2))
    await rig.clock.run_async()
    await wh.aclose()
    first = [t - t0 for t, r in rig.seen if r.json["n"] == 1]
    assert first[-1] <= 60 and first[-1] > 60 - 8 - 8
    events = rig.store.events_for_call("call-a")
    assert events[0].state == "failed" and events[0].attempts == len(first)
    # the second event's own horizon counts from its creation, also t0: given up too
    assert events[1].state == "failed"


async def test_vonage_mode_retries_once(rig: Rig) -> None:
    rig.answer_when("/event", lambda now, _: False)
    wh = rig.webhooks(RetryPolicy(mode="vonage"))
    wh.send(rig.hook("call-a", 1))
    await rig.clock.run_async()
    await wh.aclose()
    assert len(rig.seen) == 2
    (event,) = rig.store.events_for_call("call-a")
    assert event.state == "failed" and event.attempts == 2 and event.response_status == 503


@pytest.mark.parametrize(
    ("fragment", "attempts"),
    [
        ("#rc=2", 3),  # rc caps durable retries (the app answers 503)
        ("#rc=0", 1),
        ("#rc=3&rp=4xx", 1),  # rp says a 5xx is not retried
        ("#rc=3&rp=5xx", 4),
        ("#tt=3200", 3),  # total time: attempts at 0, <= 1, <= 3 s; a 4th >= 3.5 s
        ("#ct=300&rt=2000&rc=1", 2),
    ],
)
async def test_per_url_overrides_apply_to_events(rig: Rig, fragment: str, attempts: int) -> None:
    rig.answer_when("/event", lambda now, _: False)
    wh = rig.webhooks()
    url, opts, _ = split_url_options(f"{rig.base}/event{fragment}")
    hook = Hook(
        kind="status",
        url=url,
        method="POST",
        body={"n": 1},
        call_uuid="call-a",
        retries=opts.retries,
        retry_on=opts.retry_on,
        total_time=opts.total_time,
        connect_timeout=opts.connect_timeout or 1.0,
        read_timeout=opts.read_timeout or 10.0,
    )
    wh.send(hook)
    await rig.clock.run_async()
    await wh.aclose()
    assert len(rig.seen) == attempts
    (event,) = rig.store.events_for_call("call-a")
    assert event.state == "failed"
    # the options are kept in the outbox, for a restarted process
    again = hook_for(event)
    assert again.url == url
    assert (again.retries, again.retry_on, again.total_time) == (
        opts.retries,
        opts.retry_on,
        opts.total_time,
    )
    assert (again.connect_timeout, again.read_timeout) == (
        opts.connect_timeout or 1.0,
        opts.read_timeout or 10.0,
    )


async def test_a_forbidden_address_is_not_retried(rig: Rig) -> None:
    wh = HttpWebhooks(rig.clock, rig.store, WebhookClient(guard=UrlGuard()))
    wh.send(
        Hook(
            kind="status",
            url="http://169.254.169.254/latest/meta-data",
            method="POST",
            body={},
            call_uuid="c",
        )
    )
    await rig.clock.run_async()
    await wh.aclose()
    (event,) = rig.store.events_for_call("c")
    assert event.state == "failed" and event.attempts == 1
    (line,) = [e for e in rig.store.timeline(call_uuid="c") if e.kind == "webhook"]
    assert line.data["error"] == "forbidden address"


async def test_close_leaves_waiting_events_pending_and_recover_delivers_them(rig: Rig) -> None:
    down = True
    rig.answer_when("/event", lambda now, _: not down)
    wh = rig.webhooks()
    wh.send(rig.hook("call-a", 1))
    wh.send(rig.hook("call-a", 2))
    await rig.clock.advance_async(0)  # the first attempt fails; a retry is waiting
    await wh.aclose()
    assert [e.state for e in rig.store.events_for_call("call-a")] == ["pending", "pending"]
    ids = [e.id for e in rig.store.events_for_call("call-a")]

    down = False
    rig.seen.clear()
    again = rig.webhooks()
    assert again.recover() == 2
    await rig.clock.run_async()
    await again.aclose()
    assert [(r.json["n"], r.headers[EVENT_ID]) for _, r in rig.seen] == [
        (1, str(ids[0])),
        (2, str(ids[1])),
    ]
    assert [e.state for e in rig.store.events_for_call("call-a")] == ["delivered"] * 2


async def test_outage_during_a_stretch_of_calls_loses_nothing(rig: Rig) -> None:
    """The event endpoint is down from t+20 s to t+140 s while 40 calls come and go."""
    t0 = rig.clock.now()
    rig.answer_when("/event", lambda now, _: not 20 <= now - t0 < 140)
    rig.app.route(
        "/answer", [{"action": "talk", "text": "Hello"}, {"action": "wait", "timeout": 5}]
    )
    app = Application(
        id="dura0000-0000-4000-8000-000000000000",
        name="durable",
        answer_url=answer_webhook(f"{rig.base}/answer"),
        event_url=event_webhook(f"{rig.base}/event"),
    )
    rig.store.put_application(app)
    numbers = [f"4477009{n:05d}" for n in range(40)]
    rig.store.link_number("447700900000", app.id)
    wh = rig.webhooks()
    platform = Platform(clock=rig.clock, store=rig.store, webhooks=wh)
    for n, caller in enumerate(numbers):
        platform.sim.add_phone(caller, ring=1, script=[Step(at=3, hangup=True)])
        rig.clock.call_at(t0 + 4 * n, lambda c=caller: platform.sim.call(c, "447700900000"))
    await rig.clock.run_async()
    await wh.aclose()

    delivered = _delivered_in_order(rig, t0)
    assert len(delivered) == 40
    for uuid, events in delivered.items():
        # each status once, in order, with increasing event ids: nothing lost, none twice
        assert [s for _, s in events] == ["started", "ringing", "answered", "completed"], uuid
        assert [i for i, _ in events] == sorted({i for i, _ in events})
        stored = rig.store.events_for_call(uuid)
        assert [e.id for e in stored] == [i for i, _ in events]
        assert all(e.state == "delivered" for e in stored)
    refused = [t for t, _ in rig.seen if 20 <= t - t0 < 140]
    assert len(refused) > 10, "the outage was met"


def _delivered_in_order(rig: Rig, t0: float) -> dict[str, list[tuple[int, str]]]:
    """Per call, the (event id, status) of each request answered 204, in arrival order."""
    out: dict[str, list[tuple[int, str]]] = {}
    for t, req in rig.seen:
        if not 20 <= t - t0 < 140:
            out.setdefault(req.json["uuid"], []).append(
                (int(req.headers[EVENT_ID]), req.json["status"])
            )
    return out


async def test_attempts_in_flight_are_capped(rig: Rig) -> None:
    live = peak = 0

    async def handle(req: RecordedRequest) -> Response:
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0.005)
        live -= 1
        return Response(status_code=204)

    rig.app.route("/event", handle)
    wh = rig.webhooks(max_in_flight=3)
    for n in range(2):
        for call in range(20):
            wh.send(rig.hook(f"call-{call}", n))
    await rig.clock.run_async()
    await wh.aclose()
    assert peak == 3
    for call in range(20):
        events = rig.store.events_for_call(f"call-{call}")
        assert [e.state for e in events] == ["delivered", "delivered"]
        assert events[0].delivered_at is not None
    got = [r.json for r in rig.app.requests_to("/event")]
    assert len(got) == 40
    for call in range(20):
        assert [b["n"] for b in got if b["uuid"] == f"call-{call}"] == [0, 1]
