"""``/v2/applications`` and the Numbers subset: shapes as the SDK fixtures, auth, errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, API_SECRET, APP_A, APP_B, NUMBER_A, Api, token

from trunkline.keys import generate_key_pair

FIXTURES = Path("/work/shared/spec/fixtures/application")


def basic(key: str = API_KEY, secret: str = API_SECRET) -> dict[str, str]:
    raw = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


VOICE = {
    "webhooks": {
        "event_url": {
            "address": "https://example.com/event",
            "http_method": "POST",
            "socket_timeout": 3000,
            "connect_timeout": 500,
        },
        "answer_url": {
            "address": "https://example.com/answer",
            "http_method": "POST",
            "socket_timeout": 3000,
            "connect_timeout": 500,
        },
        "fallback_answer_url": {
            "address": "https://example.com/fallback",
            "http_method": "POST",
            "socket_timeout": 3000,
            "connect_timeout": 500,
        },
    },
    "signed_callbacks": True,
    "conversations_ttl": 8000,
    "leg_persistence_time": 14,
    "region": "na-east",
}


async def test_create_returns_a_key_pair_like_the_fixture(api: Api) -> None:
    r = await api.client.post("/v2/applications", json={"name": "My Application"}, headers=basic())
    assert r.status_code == 201
    body = r.json()
    expected = fixture("create_application_basic.json")
    assert set(body) == set(expected)
    assert body["capabilities"] == {} and body["privacy"] == {"improve_ai": False}
    assert body["_links"]["self"]["href"] == f"/v2/applications/{body['id']}"
    assert body["keys"]["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    # the private key really belongs to the application: its JWT opens /v1/calls
    jwt = token(body["keys"]["private_key"], body["id"])
    r = await api.client.get("/v1/calls", headers={"Authorization": f"Bearer {jwt}"})
    assert r.status_code == 200
    r = await api.client.get(f"/v2/applications/{body['id']}", headers=basic())
    assert "private_key" not in r.json()["keys"]


async def test_create_with_options_echoes_the_voice_capability(api: Api) -> None:
    pair = generate_key_pair()
    request = {
        "name": "My Customised Application",
        "capabilities": {"voice": VOICE, "rtc": {"webhooks": {}}},
        "keys": {"public_key": pair.public_key},
        "privacy": {"improve_ai": False},
    }
    r = await api.client.post("/v2/applications", json=request, headers=basic())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["keys"] == {"public_key": pair.public_key}
    assert body["capabilities"] == {"voice": VOICE}
    expected_voice = fixture("create_application_options.json")["capabilities"]["voice"]
    assert body["capabilities"]["voice"] == expected_voice
    app = api.rt.store.get_application(body["id"])
    assert app is not None and app.answer_url is not None
    assert (app.answer_url.connect_timeout, app.answer_url.socket_timeout) == (0.5, 3.0)


async def test_list_get_update_delete(api: Api) -> None:
    r = await api.client.get("/v2/applications", params={"page_size": 1}, headers=basic())
    body = r.json()
    assert (body["page"], body["page_size"], body["total_items"], body["total_pages"]) == (
        1,
        1,
        2,
        2,
    )
    assert set(body) == set(fixture("list_applications_multiple_pages.json"))
    assert body["_links"]["next"]["href"] == "/v2/applications?page_size=1&page=2"
    assert [a["id"] for a in body["_embedded"]["applications"]] == [APP_A]
    last = (
        await api.client.get(
            "/v2/applications", params={"page_size": 1, "page": 2}, headers=basic()
        )
    ).json()
    assert "next" not in last["_links"] and last["_links"]["prev"]["href"].endswith("page=1")

    r = await api.client.put(
        f"/v2/applications/{APP_B}",
        json={"name": "My Updated Application", "capabilities": {"voice": VOICE}},
        headers=basic(),
    )
    assert r.status_code == 200
    updated = r.json()
    assert updated["name"] == "My Updated Application"
    assert updated["keys"]["public_key"] == api.keys[APP_B].public_key  # kept
    assert (await api.call("GET", "/v1/calls", APP_B)).status_code == 200

    assert (
        await api.client.delete(f"/v2/applications/{APP_B}", headers=basic())
    ).status_code == 204
    assert (await api.client.get(f"/v2/applications/{APP_B}", headers=basic())).status_code == 404
    assert (
        await api.client.delete(f"/v2/applications/{APP_B}", headers=basic())
    ).status_code == 404
    assert (await api.call("GET", "/v1/calls", APP_B)).status_code == 401


async def test_application_jwt_also_opens_the_application_api(api: Api) -> None:
    r = await api.client.get("/v2/applications", headers=api.headers(APP_A))
    assert r.status_code == 200 and r.json()["total_items"] == 2


@pytest.mark.parametrize(
    "headers",
    [{}, basic(secret="wrong"), basic(key="other"), {"Authorization": "Basic !!"}],
    ids=["none", "wrong secret", "wrong key", "not base64"],
)
async def test_application_api_refuses_bad_credentials(api: Api, headers: dict[str, str]) -> None:
    for method, path in [("GET", "/v2/applications"), ("GET", f"/v2/applications/{APP_A}")]:
        r = await api.client.request(method, path, headers=headers)
        assert r.status_code == 401 and r.json()["title"] == "Unauthorized"


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "keys": {"public_key": "not a key"}}, "keys.public_key"),
        (
            {"name": "x", "capabilities": {"voice": {"conversations_ttl": 0}}},
            "capabilities.voice.conversations_ttl",
        ),
        (
            {"name": "x", "capabilities": {"voice": {"region": "mars"}}},
            "capabilities.voice.region",
        ),
        (
            {
                "name": "x",
                "capabilities": {
                    "voice": {"webhooks": {"answer_url": {"address": "ftp://x.example/a"}}}
                },
            },
            "capabilities.voice.webhooks.answer_url.address",
        ),
        (
            {
                "name": "x",
                "capabilities": {
                    "voice": {
                        "webhooks": {
                            "event_url": {"address": "https://x.ex/e", "connect_timeout": 5}
                        }
                    }
                },
            },
            "capabilities.voice.webhooks.event_url.connect_timeout",
        ),
    ],
)
async def test_application_bodies_name_the_bad_parameter(
    api: Api, body: dict[str, Any], name: str
) -> None:
    r = await api.client.post("/v2/applications", json=body, headers=basic())
    assert r.status_code == 400, r.text
    assert name in {p["name"] for p in r.json()["invalid_parameters"]}


# -- numbers ------------------------------------------------------------------------------


async def test_numbers_list_and_link(api: Api) -> None:
    api.rt.store.link_number("447700900777", None)
    r = await api.client.get("/account/numbers", headers=basic())
    assert r.json() == {
        "count": 2,
        "numbers": [
            {
                "country": "GB",
                "msisdn": NUMBER_A,
                "type": "mobile-lvn",
                "features": ["VOICE"],
                "app_id": APP_A,
                "voiceCallbackType": "app",
                "voiceCallbackValue": APP_A,
            },
            {
                "country": "GB",
                "msisdn": "447700900777",
                "type": "mobile-lvn",
                "features": ["VOICE"],
            },
        ],
    }
    r = await api.client.post(
        "/number/update",
        data={"country": "GB", "msisdn": "447700900777", "app_id": APP_B},
        headers=basic(),
    )
    assert r.json() == {"error-code": "200", "error-code-label": "success"}
    assert api.rt.store.application_for_number("447700900777").id == APP_B  # type: ignore[union-attr]
    r = await api.client.get("/account/numbers", params={"application_id": APP_B}, headers=basic())
    assert [n["msisdn"] for n in r.json()["numbers"]] == ["447700900777"]
    r = await api.client.get(
        "/account/numbers",
        params={"has_application": "false", "api_key": API_KEY, "api_secret": API_SECRET},
    )
    assert r.json() == {"count": 0}
    r = await api.client.post(
        "/number/update",
        data={"country": "GB", "msisdn": "447700900777", "app_id": ""},
        headers=basic(),
    )
    assert r.json()["error-code"] == "200"
    assert api.rt.store.application_for_number("447700900777") is None


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"country": "GB", "msisdn": "15550000000", "app_id": APP_A}, "420"),
        ({"country": "GB", "msisdn": NUMBER_A, "app_id": "no-such-app"}, "420"),
        ({"msisdn": NUMBER_A}, "420"),
    ],
)
async def test_number_update_errors(api: Api, data: dict[str, str], code: str) -> None:
    r = await api.client.post("/number/update", data=data, headers=basic())
    assert r.json()["error-code"] == code
    assert api.rt.store.application_for_number(NUMBER_A).id == APP_A  # type: ignore[union-attr]


async def test_numbers_need_the_account(api: Api) -> None:
    assert (await api.client.get("/account/numbers")).status_code == 401
    r = await api.client.post("/number/update", data={"msisdn": NUMBER_A}, headers=api.headers())
    assert r.status_code == 401
