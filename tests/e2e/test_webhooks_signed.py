"""Signed webhooks over real HTTP: what the application receives verifies with the
official SDK, and the payload hash matches the raw body it got."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
from vonage_jwt import verify_signature

from trunkline.call.platform import Platform
from trunkline.call.webhooks import HttpWebhooks
from trunkline.clock import VirtualClock
from trunkline.domain import Application, answer_webhook, event_webhook
from trunkline.sim import Step
from trunkline.store import open_store
from trunkline.store.base import Store
from trunkline.testing.server import ServedApp
from trunkline.testing.webapp import WebhookApp
from trunkline.webhooks.signing import WebhookSigner, body_bytes, verify

SECRET = "the-account-signature-secret-0123456789"
NUMBER = "447700900000"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Store, WebhookApp, str]]:
    store = open_store(f"sqlite:///{tmp_path / 'signed.db'}")
    app = WebhookApp()
    app.route("/event", None)
    app.route("/answer", [{"action": "talk", "text": "Signed"}])
    async with ServedApp(app.asgi()) as voice:
        yield store, app, voice.url
    store.close()


async def _call(store: Store, base: str, signed: bool) -> str:
    clock = VirtualClock()
    application = Application(
        id="5166ed00-0000-4000-8000-000000000000",
        name="signed",
        answer_url=answer_webhook(f"{base}/answer"),
        event_url=event_webhook(f"{base}/event"),
        signed_callbacks=signed,
    )
    store.put_application(application)
    store.link_number(NUMBER, application.id)
    webhooks = HttpWebhooks(clock, store, signer=WebhookSigner(SECRET, "abcd1234"))
    platform = Platform(clock=clock, store=store, webhooks=webhooks)
    platform.sim.add_phone("447700900100", script=[Step(at=2, hangup=True)])
    platform.sim.call("447700900100", NUMBER)
    await clock.run_async()
    await webhooks.aclose()
    return application.id


async def test_every_request_of_a_signed_application_verifies(
    served: tuple[Store, WebhookApp, str],
) -> None:
    store, app, base = served
    app_id = await _call(store, base, signed=True)
    events = app.requests_to("/event")
    answers = app.requests_to("/answer")
    assert len(events) >= 4 and len(answers) == 1
    jtis = set()
    for req in [*answers, *events]:
        scheme, _, token = req.headers["authorization"].partition(" ")
        assert scheme == "Bearer"
        assert verify_signature(token, SECRET) is True  # the official SDK
        claims = jwt.decode(token, SECRET, algorithms=["HS256"])
        assert claims["application_id"] == app_id and claims["iss"] == "Vonage"
        jtis.add(claims["jti"])
    assert len(jtis) == len(events) + len(answers)  # unique per request
    for req in events:  # POST: the hash of the exact bytes received
        token = req.headers["authorization"].removeprefix("Bearer ")
        verify(token, SECRET, req.body)
        with pytest.raises(jwt.InvalidTokenError):
            verify(token, SECRET, req.body.replace(b'"status"', b'"Status"'))
    # GET: the hash of the fields as compact JSON, in the order they were sent
    token = answers[0].headers["authorization"].removeprefix("Bearer ")
    verify(token, SECRET, body_bytes(answers[0].query))


async def test_an_application_without_signed_callbacks_gets_no_signature(
    served: tuple[Store, WebhookApp, str],
) -> None:
    store, app, base = served
    await _call(store, base, signed=False)
    assert app.requests and all("authorization" not in r.headers for r in app.requests)
