"""``capabilities.voice.trunkline.tts``: the TTS engine over the Application API (an extension)."""

from __future__ import annotations

import base64
from typing import Any

from conftest import API_KEY, API_SECRET, APP_A, CALLEE, NUMBER_A, Api
from vonage_application import ApplicationData

from trunkline.engine.ports import Prompt

HOOKS = {
    "answer_url": {"address": "https://example.com/answer", "http_method": "GET"},
    "event_url": {"address": "https://example.com/event", "http_method": "POST"},
}


def basic() -> dict[str, str]:
    raw = base64.b64encode(f"{API_KEY}:{API_SECRET}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def voice(**extra: Any) -> dict[str, Any]:
    return {"name": "ivr", "capabilities": {"voice": {"webhooks": HOOKS, **extra}}}


async def test_create_with_piper_shows_it_and_the_sdk_still_parses(api: Api) -> None:
    r = await api.client.post(
        "/v2/applications", json=voice(trunkline={"tts": "piper"}), headers=basic()
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["capabilities"]["voice"]["trunkline"] == {"tts": "piper"}
    app = api.rt.store.get_application(body["id"])
    assert app is not None and app.tts == "piper"
    parsed = ApplicationData.model_validate(body)  # the Python SDK's response model
    assert parsed.id == body["id"] and parsed.capabilities is not None
    got = await api.client.get(f"/v2/applications/{body['id']}", headers=basic())
    assert got.json() == {k: v for k, v in body.items() if k != "keys"} | {
        "keys": {"public_key": body["keys"]["public_key"]}
    }


async def test_the_default_engine_is_not_shown(api: Api) -> None:
    for extra in ({}, {"trunkline": {"tts": "espeak"}}, {"trunkline": {}}):
        r = await api.client.post("/v2/applications", json=voice(**extra), headers=basic())
        assert r.status_code == 201, r.text
        assert "trunkline" not in r.json()["capabilities"]["voice"]
        app = api.rt.store.get_application(r.json()["id"])
        assert app is not None and app.tts == "espeak"


async def test_an_app_without_webhooks_still_shows_its_engine(api: Api) -> None:
    body = {"name": "bare", "capabilities": {"voice": {"trunkline": {"tts": "piper"}}}}
    r = await api.client.post("/v2/applications", json=body, headers=basic())
    voice_out = r.json()["capabilities"]["voice"]
    assert voice_out["trunkline"] == {"tts": "piper"} and voice_out["webhooks"] == {}
    ApplicationData.model_validate(r.json())


async def test_put_changes_it_and_a_put_without_it_keeps_it(api: Api) -> None:
    path = f"/v2/applications/{APP_A}"
    r = await api.client.put(path, json=voice(trunkline={"tts": "piper"}), headers=basic())
    assert r.status_code == 200 and r.json()["capabilities"]["voice"]["trunkline"]["tts"] == "piper"
    # what an SDK sends: it has no field for the extension
    r = await api.client.put(path, json=voice(), headers=basic())
    assert r.json()["capabilities"]["voice"]["trunkline"] == {"tts": "piper"}
    r = await api.client.put(path, json=voice(trunkline={"tts": "espeak"}), headers=basic())
    assert "trunkline" not in r.json()["capabilities"]["voice"]
    app = api.rt.store.get_application(APP_A)
    assert app is not None and app.tts == "espeak"


async def test_an_unknown_engine_is_a_400_naming_the_field(api: Api) -> None:
    r = await api.client.post(
        "/v2/applications", json=voice(trunkline={"tts": "festival"}), headers=basic()
    )
    assert r.status_code == 400
    names = [p["name"] for p in r.json()["invalid_parameters"]]
    assert names == ["capabilities.voice.trunkline.tts"]


def _playing(api: Api) -> list[Prompt]:
    (call,) = [c for c in api.rt.platform.sim.calls.values() if c.state == "answered"]
    return [prompt for _, prompt in call.playing.values()]


async def test_talk_prompts_carry_the_applications_engine(api: Api) -> None:
    """NCCO talk and REST talk both name the engine the application chose."""
    r = await api.client.put(
        f"/v2/applications/{APP_A}", json=voice(trunkline={"tts": "piper"}), headers=basic()
    )
    assert r.status_code == 200
    ncco = [{"action": "talk", "text": "Hold on", "loop": 0}]
    r = await api.call(
        "POST",
        "/v1/calls",
        json={
            "to": [{"type": "phone", "number": CALLEE}],
            "from": {"type": "phone", "number": NUMBER_A},
            "ncco": ncco,
        },
    )
    assert r.status_code == 201, r.text
    uuid = r.json()["uuid"]
    await api.advance(2)
    assert [(p.text, p.engine) for p in _playing(api)] == [("Hold on", "piper")]
    r = await api.call("PUT", f"/v1/calls/{uuid}/talk", json={"text": "Extra", "loop": 0})
    assert r.status_code == 200
    await api.advance(0.1)
    assert ("Extra", "piper") in [(p.text, p.engine) for p in _playing(api)]
