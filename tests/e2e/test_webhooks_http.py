"""End to end over real HTTP on 127.0.0.1: a real webhook app, the engine on the virtual
clock, the sim network, and a real SQLite file."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from trunkline.call.platform import Platform
from trunkline.call.webhooks import HttpWebhooks
from trunkline.cli.demo import run_demo
from trunkline.clock import VirtualClock
from trunkline.domain import Application, Webhook, answer_webhook, event_webhook
from trunkline.examples import callcentre
from trunkline.sim import Step
from trunkline.store import open_store
from trunkline.store.base import Store
from trunkline.testing.server import ServedApp
from trunkline.testing.webapp import RecordedRequest, WebhookApp

CALLER = "447700900100"
NUMBER = "447700900000"


class Rig:
    def __init__(self, store: Store, app: WebhookApp, base: str) -> None:
        self.clock = VirtualClock()
        self.store = store
        self.app = app
        self.base = base
        self.webhooks = HttpWebhooks(self.clock, store)
        self.platform = Platform(clock=self.clock, store=store, webhooks=self.webhooks)
        self.sim = self.platform.sim

    def application(self, **hooks: Webhook | None) -> Application:
        app = Application(
            id="e2e00000-0000-4000-8000-000000000000",
            name="e2e",
            answer_url=hooks.get("answer_url", answer_webhook(f"{self.base}/answer")),
            event_url=hooks.get("event_url", event_webhook(f"{self.base}/event")),
            fallback_answer_url=hooks.get("fallback_answer_url"),
        )
        self.store.put_application(app)
        self.store.link_number(NUMBER, app.id)
        return app

    async def run(self) -> None:
        await self.clock.run_async()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = open_store(f"sqlite:///{tmp_path / 'e2e.db'}")
    app = WebhookApp()
    app.route("/event", None)
    async with ServedApp(app.asgi()) as served:
        r = Rig(store, app, served.url)
        try:
            yield r
        finally:
            await r.webhooks.aclose()
    store.close()


async def test_ivr_flow_over_real_http(rig: Rig) -> None:
    rig.application()
    rig.app.route(
        "/answer",
        [
            {"action": "talk", "text": "Press 1 for sales", "bargeIn": True},
            {
                "action": "input",
                "type": ["dtmf"],
                "dtmf": {"maxDigits": 1},
                "eventUrl": [f"{rig.base}/input"],
            },
        ],
    )
    rig.app.route(
        "/input",
        lambda req: [{"action": "talk", "text": f"You pressed {req.json['dtmf']['digits']}"}],
    )
    rig.sim.add_phone(CALLER, script=[Step(at=0.5, press="1", when_heard="Press 1")])
    call = rig.sim.call(CALLER, NUMBER)
    await rig.run()

    (answer,) = rig.app.requests_to("/answer")
    assert answer.method == "GET"
    assert answer.query["to"] == NUMBER and answer.query["from"] == CALLER
    assert answer.query["uuid"] == call.id and answer.query["conversation_uuid"].startswith("CON-")
    (inp,) = rig.app.requests_to("/input")
    assert inp.method == "POST" and inp.json["dtmf"] == {"digits": "1", "timed_out": False}
    assert rig.sim.phone(CALLER).heard() == ["Press 1 for sales", "You pressed 1"]
    statuses = [r.json["status"] for r in rig.app.requests_to("/event")]
    assert statuses == ["started", "ringing", "answered", "completed"]
    # stored in SQLite, delivered, and the call has its final state
    events = rig.store.events_for_call(call.id)
    assert [e.state for e in events] == ["delivered"] * len(events)
    rec = rig.store.get_call(call.id)
    assert rec is not None and rec.status == "completed"


async def test_ivr_then_connect_to_an_agent_over_real_http(rig: Rig) -> None:
    """The other seed flow: answer -> talk -> input -> connect -> completed."""
    rig.application()
    agent = "447700900001"
    rig.app.route(
        "/answer",
        [
            {"action": "talk", "text": "Welcome. Press 1 for sales.", "bargeIn": True},
            {
                "action": "input",
                "type": ["dtmf"],
                "dtmf": {"maxDigits": 1, "timeOut": 5},
                "eventUrl": [f"{rig.base}/input"],
            },
        ],
    )
    rig.app.route(
        "/input",
        lambda req: [
            {"action": "talk", "text": "Connecting you to sales"},
            {
                "action": "connect",
                "from": NUMBER,
                "eventUrl": [f"{rig.base}/agent-event"],
                "endpoint": [{"type": "phone", "number": agent}],
            },
        ],
    )
    rig.app.route("/agent-event", None)
    rig.sim.add_phone(CALLER, script=[Step(at=1, press="1", when_heard="Press 1")])
    rig.sim.add_phone(agent, ring=2, script=[Step(at=30, hangup=True)])
    call = rig.sim.call(CALLER, NUMBER)
    await rig.run()

    assert rig.sim.phone(CALLER).heard() == [
        "Welcome. Press 1 for sales.",
        "Connecting you to sales",
    ]
    agent_statuses = [r.json["status"] for r in rig.app.requests_to("/agent-event")]
    assert agent_statuses == ["started", "ringing", "answered", "completed"]
    agent_done = rig.app.requests_to("/agent-event")[-1].json
    assert agent_done["duration"] == "30" and agent_done["disconnected_by"] == "user"
    caller = rig.store.get_call(call.id)
    assert caller is not None and caller.status == "completed"
    legs = [rig.store.get_call(r.json["uuid"]) for r in rig.app.requests_to("/agent-event")]
    assert {leg.conversation_uuid for leg in legs if leg} == {caller.conversation_uuid}


async def test_answer_method_post_and_event_method_get(rig: Rig) -> None:
    rig.application(
        answer_url=Webhook(f"{rig.base}/answer", "POST", 1.0, 5.0),
        event_url=Webhook(f"{rig.base}/event", "GET", 1.0, 10.0),
    )
    rig.app.route("/answer", [{"action": "talk", "text": "Posted"}])
    rig.sim.add_phone(CALLER)
    rig.sim.call(CALLER, NUMBER)
    await rig.run()
    (answer,) = rig.app.requests_to("/answer")
    assert answer.method == "POST" and answer.json["from"] == CALLER
    events = rig.app.requests_to("/event")
    assert events and all(r.method == "GET" for r in events)
    assert [r.query["status"] for r in events][-1] == "completed"


async def test_fallback_answer_url_over_http(rig: Rig) -> None:
    rig.application(fallback_answer_url=answer_webhook(f"{rig.base}/fallback"))
    rig.app.route("/answer", None, status=500)
    rig.app.route("/fallback", [{"action": "talk", "text": "Backup app"}])
    rig.sim.add_phone(CALLER)
    rig.sim.call(CALLER, NUMBER)
    await rig.run()
    (fb,) = rig.app.requests_to("/fallback")
    assert json.loads(fb.query["original_request"]) == {
        "url": f"{rig.base}/answer",
        "type": "answer",
    }
    assert rig.sim.phone(CALLER).heard() == ["Backup app"]


async def test_unreachable_answer_url_ends_the_call_with_an_error_event(rig: Rig) -> None:
    rig.application(answer_url=answer_webhook("http://127.0.0.1:9/answer"))
    rig.sim.add_phone(CALLER)
    call = rig.sim.call(CALLER, NUMBER)
    await rig.run()
    errors = [r.json for r in rig.app.requests_to("/event") if "reason" in (r.json or {})]
    assert errors and "answer" in errors[0]["reason"]
    rec = rig.store.get_call(call.id)
    assert rec is not None and rec.status == "failed"


async def test_invalid_ncco_error_event_names_the_field(rig: Rig) -> None:
    rig.application()
    rig.app.route("/answer", [{"action": "talk"}])
    rig.sim.add_phone(CALLER)
    rig.sim.call(CALLER, NUMBER)
    await rig.run()
    reasons = [
        r.json["reason"] for r in rig.app.requests_to("/event") if "reason" in (r.json or {})
    ]
    assert reasons and "/0/text" in reasons[0]


async def test_seed_call_centre_scenario_with_the_bundled_app(rig: Rig) -> None:
    async with ServedApp(callcentre.create_app()) as served:
        rig.application(
            answer_url=answer_webhook(f"{served.url}/answer"),
            event_url=event_webhook(f"{served.url}/event"),
        )
        rig.sim.add_phone(CALLER)
        rig.sim.add_phone(callcentre.MAIN_AGENT, answer="busy", ring=2)
        rig.sim.add_phone(callcentre.NEXT_AGENT, ring=3, script=[Step(at=20, hangup=True)])
        call = rig.sim.call(CALLER, NUMBER)
        await rig.run()
    heard = rig.sim.phone(CALLER).heard()
    assert heard == [
        "Thanks for calling. Connecting you to an agent.",
        "All agents are busy. Trying the next agent.",
    ]
    assert rig.sim.phone(callcentre.NEXT_AGENT).events()[:2] == ["ringing", "answered"]
    rec = rig.store.get_call(call.id)
    assert rec is not None and rec.status == "completed"


async def test_demo_prints_the_timeline() -> None:
    out = io.StringIO()
    result = await run_demo(out)
    text = out.getvalue()
    assert result.legs[f"agent {callcentre.MAIN_AGENT}"] == "busy"
    assert result.legs[f"agent {callcentre.NEXT_AGENT}"] == "completed"
    assert result.legs[f"caller {CALLER}"] == "completed"
    assert "GET http://127.0.0.1:" in text and "-> HTTP 200 in" in text
    assert "connect" in text and "busy" in text


def _statuses(reqs: list[RecordedRequest]) -> list[Any]:
    return [r.json.get("status") for r in reqs if isinstance(r.json, dict)]
