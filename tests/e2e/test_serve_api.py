"""``trunkline serve``'s HTTP surface over real HTTP: health and the sim API."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from trunkline.api import create_app
from trunkline.call.runtime import Runtime
from trunkline.config import parse_config
from trunkline.testing.server import ServedApp
from trunkline.testing.webapp import WebhookApp

NUMBER = "447700900000"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, WebhookApp, Runtime]]:
    app = WebhookApp()
    app.route("/event", None)
    app.route(
        "/answer",
        [{"action": "talk", "text": "Hello from serve"}, {"action": "wait", "timeout": 3}],
    )
    async with ServedApp(app.asgi()) as voice_app:
        cfg = parse_config(
            {
                "server": {"database": f"sqlite:///{tmp_path / 'serve.db'}"},
                "sim": {"clock": "virtual"},
                "applications": [
                    {
                        "name": "serve-test",
                        "answer_url": f"{voice_app.url}/answer",
                        "event_url": f"{voice_app.url}/event",
                        "numbers": [NUMBER],
                    }
                ],
            }
        )
        async with (
            Runtime(cfg) as rt,
            ServedApp(create_app(rt)) as api,
            httpx.AsyncClient(base_url=api.url) as client,
        ):
            yield client, app, rt


async def test_health(served: tuple[httpx.AsyncClient, WebhookApp, Runtime]) -> None:
    client, _, _ = served
    r = await client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


async def test_sim_api_places_a_call_and_reads_the_log(
    served: tuple[httpx.AsyncClient, WebhookApp, Runtime],
) -> None:
    client, _app, rt = served
    r = await client.post("/sim/v1/phones", json={"number": "447700900100", "ring": 0})
    assert r.status_code == 201
    r = await client.post("/sim/v1/phones/447700900100/calls", json={"to": NUMBER})
    assert r.status_code == 201
    uuid = r.json()["uuid"]
    r = await client.post("/sim/v1/clock/advance", json={"seconds": 60})
    assert r.status_code == 200
    log = (await client.get("/sim/v1/phones/447700900100/log")).json()["log"]
    heard = [e["text"] for e in log if e["event"] == "heard_talk"]
    assert heard == ["Hello from serve"]
    assert log[-1]["event"] == "hung_up"
    timeline = (await client.get(f"/sim/v1/calls/{uuid}/timeline")).json()["timeline"]
    kinds = {e["kind"] for e in timeline}
    assert {"leg", "action", "webhook"} <= kinds
    assert rt.store.get_call(uuid).status == "completed"  # type: ignore[union-attr]


async def test_sim_api_errors_are_problem_documents(
    served: tuple[httpx.AsyncClient, WebhookApp, Runtime],
) -> None:
    client, _, _ = served
    r = await client.post("/sim/v1/phones", json={"number": "abc", "answer": "maybe"})
    assert r.status_code == 400
    body = r.json()
    names = {p["name"] for p in body["invalid_parameters"]}
    assert {"number", "answer"} <= names
    assert body["title"] == "Bad Request" and "instance" in body
    r = await client.get("/sim/v1/phones/15550000000")
    assert r.status_code == 404 and r.json()["title"] == "Not Found"
    await client.post("/sim/v1/phones", json={"number": "447700900101"})
    r = await client.post("/sim/v1/phones/447700900101/calls", json={"to": "15550000000"})
    assert r.status_code == 404
    r = await client.post("/sim/v1/phones/447700900101/press", json={"digits": "1"})
    assert r.status_code == 404


async def test_sim_can_be_switched_off(tmp_path: Path) -> None:
    cfg = parse_config(
        {"server": {"database": f"sqlite:///{tmp_path / 'off.db'}"}, "sim": {"enabled": False}}
    )
    async with (
        Runtime(cfg) as rt,
        ServedApp(create_app(rt)) as api,
        httpx.AsyncClient(base_url=api.url) as client,
    ):
        assert (await client.get("/sim/v1/phones")).status_code == 404
        assert (await client.get("/health")).status_code == 200


async def test_a_recorded_conversation_of_sim_phones_lasts_its_virtual_time(
    served: tuple[httpx.AsyncClient, WebhookApp, Runtime],
) -> None:
    """On the virtual clock the sim's conversation recorder stays in charge (the real-audio
    one measures real time): the record event spans the conversation's virtual minute."""
    client, app, rt = served
    app.route(
        "/answer",
        [
            {
                "action": "conversation",
                "name": "standup",
                "record": True,
                "eventUrl": [app_base_url(rt) + "/conv-record"],
            }
        ],
    )
    app.route("/conv-record", None)
    await client.post("/sim/v1/phones", json={"number": "447700900100", "ring": 0})
    r = await client.post("/sim/v1/phones/447700900100/calls", json={"to": NUMBER})
    uuid = r.json()["uuid"]
    await client.post("/sim/v1/clock/advance", json={"seconds": 60})
    await client.post("/sim/v1/phones/447700900100/hangup")
    await client.post("/sim/v1/clock/advance", json={"seconds": 1})
    (record,) = await app.wait_for("/conv-record", 1, timeout=10)
    body = record.json
    seconds = (
        dt.datetime.fromisoformat(body["end_time"].replace("Z", "+00:00"))
        - dt.datetime.fromisoformat(body["start_time"].replace("Z", "+00:00"))
    ).total_seconds()
    assert 59 <= seconds <= 61, body
    # a minute of MP3 at 32 kbps (the real-audio recorder would have made a fraction of a
    # second of it: the pump runs on the real clock)
    assert 200_000 <= body["size"] <= 280_000, body
    assert rt.store.get_call(uuid).status == "completed"  # type: ignore[union-attr]


def app_base_url(rt: Runtime) -> str:
    hook = rt.config.applications[0].answer_url
    assert hook is not None
    return hook.address.removesuffix("/answer")
