"""The same engine on the real clock (what `trunkline serve` runs): short, event-driven."""

from __future__ import annotations

import asyncio

from trunkline.call.platform import Platform
from trunkline.call.webhooks import HttpWebhooks
from trunkline.clock import AsyncioClock
from trunkline.domain import Application, answer_webhook, event_webhook
from trunkline.engine.leg import Leg
from trunkline.sim import Step
from trunkline.store.memory import MemoryStore
from trunkline.testing.server import ServedApp
from trunkline.testing.webapp import WebhookApp


async def test_a_flow_on_the_real_clock_completes() -> None:
    app = WebhookApp()
    app.route("/event", None)
    store = MemoryStore()
    clock = AsyncioClock()
    webhooks = HttpWebhooks(clock, store)
    try:
        async with ServedApp(app.asgi()) as served:
            app.route(
                "/answer",
                [
                    {"action": "wait", "timeout": 0.1},
                    {
                        "action": "input",
                        "type": ["dtmf"],
                        "dtmf": {"maxDigits": 2, "timeOut": 1},
                        "eventUrl": [f"{served.url}/input"],
                    },
                ],
            )
            app.route("/input", None)
            platform = Platform(clock=clock, store=store, webhooks=webhooks)
            application = Application(
                id="a1",
                name="real",
                answer_url=answer_webhook(f"{served.url}/answer"),
                event_url=event_webhook(f"{served.url}/event"),
            )
            store.put_application(application)
            store.link_number("447700900000", "a1")
            platform.sim.add_phone("447700900100", script=[Step(at=0.2, press="42")])
            ended = asyncio.Event()
            call = platform.sim.call("447700900100", "447700900000")
            leg: Leg = platform.switch.legs[call.id]
            leg.observers.append(
                lambda _leg, status: ended.set() if status == "completed" else None
            )
            await asyncio.wait_for(ended.wait(), timeout=10)
            (inp,) = await app.wait_for("/input")
            assert inp.json["dtmf"] == {"digits": "42", "timed_out": False}
            rec = store.get_call(call.id)
            assert rec is not None and rec.status == "completed"
            assert rec.end_time is not None and rec.start_time is not None
            assert 0.2 < rec.end_time - rec.start_time < 5
    finally:
        await webhooks.aclose()
