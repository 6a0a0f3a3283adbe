"""``/v1/calls`` over ASGI: shapes as the SDK fixtures, filters, commands, errors, isolation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import APP_A, APP_B, CALLEE, NUMBER_A, Api

FIXTURES = Path("/work/shared/spec/fixtures/voice")
NCCO = [{"action": "talk", "text": "Hello there"}, {"action": "wait", "timeout": 30}]


def create_body(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "to": [{"type": "phone", "number": CALLEE}],
        "from": {"type": "phone", "number": NUMBER_A},
        "ncco": NCCO,
    }
    body.update(kw)
    return {k: v for k, v in body.items() if v is not None}


async def answered_call(api: Api, **kw: Any) -> str:
    r = await api.call("POST", "/v1/calls", json=create_body(**kw))
    assert r.status_code == 201, r.text
    await api.advance(2)
    return str(r.json()["uuid"])


def same_keys(ours: Any, theirs: Any, path: str = "") -> None:
    """Every key of the fixture is in ours with the same JSON type (recursively)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), path
        for key, value in theirs.items():
            assert key in ours, f"{path}.{key} missing"
            same_keys(ours[key], value, f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), path
        for item in ours:
            same_keys(item, theirs[0], f"{path}[]")
    else:
        assert type(ours) is type(theirs), f"{path}: {type(ours)} vs {type(theirs)}"


async def test_create_returns_the_four_strings(api: Api) -> None:
    r = await api.call("POST", "/v1/calls", json=create_body())
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"uuid", "status", "direction", "conversation_uuid"}
    assert body["status"] == "started" and body["direction"] == "outbound"
    assert body["conversation_uuid"].startswith("CON-")
    same_keys(body, json.loads((FIXTURES / "create_call.json").read_text()))


async def test_completed_call_has_every_field_of_the_fixture(api: Api) -> None:
    uuid = await answered_call(api, ncco=[{"action": "talk", "text": "Bye"}])
    await api.advance(10)
    r = await api.call("GET", f"/v1/calls/{uuid}")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "completed"
    same_keys(body, json.loads((FIXTURES / "get_call.json").read_text()))
    assert body["_links"]["self"]["href"] == f"/v1/calls/{uuid}"
    assert body["to"] == {"type": "phone", "number": CALLEE}
    assert body["start_time"].endswith("Z") and len(body["start_time"]) == 24
    assert body["duration"].isdigit()


async def test_list_pages_like_the_fixture(api: Api) -> None:
    for _ in range(3):
        await answered_call(api)
    await api.advance(60)  # completed calls carry rate, price and duration
    r = await api.call("GET", "/v1/calls", params={"page_size": 1, "record_index": 1})
    assert r.status_code == 200
    body = r.json()
    fixture = json.loads((FIXTURES / "list_calls_filter.json").read_text())
    same_keys(body, fixture)
    assert (body["count"], body["page_size"], body["record_index"]) == (3, 1, 1)
    links = {k: v["href"] for k, v in body["_links"].items()}
    assert links == {
        "self": "http://trunkline/v1/calls?page_size=1&record_index=1",
        "first": "http://trunkline/v1/calls?page_size=1",
        "last": "http://trunkline/v1/calls?page_size=1&record_index=2",
        "next": "http://trunkline/v1/calls?page_size=1&record_index=2",
        "prev": "http://trunkline/v1/calls?page_size=1&record_index=0",
    }
    single = (await api.call("GET", "/v1/calls", params={"page_size": 100})).json()
    assert set(single["_links"]) == {"self", "first", "last"}
    assert len(single["_embedded"]["calls"]) == 3


async def test_list_filters(api: Api) -> None:
    first = await answered_call(api, ncco=[{"action": "talk", "text": "short"}])
    await api.advance(10)
    second = await answered_call(api)
    r = await api.call("GET", "/v1/calls", params={"status": "completed"})
    assert [c["uuid"] for c in r.json()["_embedded"]["calls"]] == [first]
    r = await api.call("GET", "/v1/calls", params={"order": "desc"})
    assert [c["uuid"] for c in r.json()["_embedded"]["calls"]] == [second, first]
    conv = (await api.call("GET", f"/v1/calls/{second}")).json()["conversation_uuid"]
    r = await api.call("GET", "/v1/calls", params={"conversation_uuid": conv})
    assert [c["uuid"] for c in r.json()["_embedded"]["calls"]] == [second]
    r = await api.call("GET", "/v1/calls", params={"date_start": "2999-01-01T00:00:00Z"})
    assert r.json()["count"] == 0 and r.json()["_embedded"]["calls"] == []
    assert (
        "status=completed"
        in (await api.call("GET", "/v1/calls", params={"status": "completed"})).json()["_links"][
            "self"
        ]["href"]
    )


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"record_index": -1}, "record_index"),
        ({"order": "sideways"}, "order"),
        ({"status": "dancing"}, "status"),
        ({"date_start": "yesterday"}, "date_start"),
    ],
)
async def test_list_rejects_bad_queries(api: Api, params: dict[str, Any], name: str) -> None:
    r = await api.call("GET", "/v1/calls", params=params)
    assert r.status_code == 400
    assert name in {p["name"] for p in r.json()["invalid_parameters"]}


async def test_calls_are_invisible_to_other_applications(api: Api) -> None:
    uuid = await answered_call(api)
    assert (await api.call("GET", f"/v1/calls/{uuid}", APP_B)).status_code == 404
    r = await api.call("PUT", f"/v1/calls/{uuid}", APP_B, json={"action": "hangup"})
    assert r.status_code == 404 and r.json()["title"] == "Not Found"
    for path in ("talk", "stream"):
        assert (await api.call("DELETE", f"/v1/calls/{uuid}/{path}", APP_B)).status_code == 404
    assert (await api.call("GET", "/v1/calls", APP_B)).json()["count"] == 0
    assert (await api.call("GET", "/v1/calls", APP_A)).json()["count"] == 1
    assert api.rt.store.get_call(uuid).status == "answered"  # type: ignore[union-attr]


async def test_commands_reach_the_phone(api: Api) -> None:
    uuid = await answered_call(api)
    phone = api.rt.platform.sim.phone(CALLEE)
    r = await api.call("PUT", f"/v1/calls/{uuid}/talk", json={"text": "Extra", "loop": 0})
    assert r.json() == {"message": "Talk started", "uuid": uuid}
    r = await api.call("DELETE", f"/v1/calls/{uuid}/talk")
    assert r.json() == {"message": "Talk stopped", "uuid": uuid}
    r = await api.call(
        "PUT",
        f"/v1/calls/{uuid}/stream",
        json={"stream_url": ["https://example.com/a.mp3"], "level": "0.4", "loop": 0},
    )
    assert r.json() == {"message": "Stream started", "uuid": uuid}
    r = await api.call("DELETE", f"/v1/calls/{uuid}/stream")
    assert r.json() == {"message": "Stream stopped", "uuid": uuid}
    r = await api.call("PUT", f"/v1/calls/{uuid}/dtmf", json={"digits": "1p2#"})
    assert r.json() == {"message": "DTMF sent", "uuid": uuid}
    for action in ("mute", "unmute", "earmuff", "unearmuff"):
        r = await api.call("PUT", f"/v1/calls/{uuid}", json={"action": action})
        assert r.status_code == 204 and r.content == b""
    r = await api.call(
        "PUT",
        f"/v1/calls/{uuid}",
        json={
            "action": "transfer",
            "destination": {"type": "ncco", "ncco": [{"action": "talk", "text": "Moved"}]},
        },
    )
    assert r.status_code == 204
    await api.advance(5)
    events = phone.events()
    assert "heard_dtmf" in events and events.count("prompt_stopped") == 2
    assert phone.heard() == ["Hello there", "Extra", "Moved"]
    audio = [e.detail for e in phone.log if e.event == "audio"]
    assert audio[0] == {"muted": True, "earmuffed": False}
    assert audio[-1] == {"muted": False, "earmuffed": False}
    assert api.rt.store.get_call(uuid).status == "completed"  # type: ignore[union-attr]


async def test_ended_calls_give_a_clear_error(api: Api) -> None:
    uuid = await answered_call(api)
    r = await api.call("PUT", f"/v1/calls/{uuid}", json={"action": "hangup"})
    assert r.status_code == 204
    for method, path, body in [
        ("PUT", "", {"action": "mute"}),
        ("PUT", "/talk", {"text": "late"}),
        ("DELETE", "/stream", None),
        ("PUT", "/dtmf", {"digits": "1"}),
    ]:
        r = await api.call(method, f"/v1/calls/{uuid}{path}", json=body)
        assert r.status_code == 400, (method, path)
        assert "has ended" in r.json()["detail"]
    assert (await api.call("GET", "/v1/calls/no-such-call")).status_code == 404
    r = await api.call("PUT", "/v1/calls/no-such-call", json={"action": "hangup"})
    assert r.status_code == 404


async def test_mute_before_answer_is_refused(api: Api) -> None:
    r = await api.call("POST", "/v1/calls", json=create_body())
    uuid = r.json()["uuid"]
    r = await api.call("PUT", f"/v1/calls/{uuid}", json={"action": "mute"})
    assert r.status_code == 400 and "not answered" in r.json()["detail"]
    r = await api.call("PUT", f"/v1/calls/{uuid}", json={"action": "hangup"})
    assert r.status_code == 204
    assert api.rt.store.get_call(uuid).status == "cancelled"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "name"),
    [
        (create_body(to=[{"type": "phone", "number": "abc"}]), "to[0].number"),
        (create_body(to=[]), "to"),
        (create_body(ncco=[{"action": "talk"}]), "ncco[0].text"),
        (create_body(answer_url=["https://example.com/a"]), "ncco"),
        (create_body(ncco=None), "ncco"),
        (create_body(**{"from": None}), "from"),
        (create_body(random_from_number=True), "from"),
        (create_body(length_timer=0), "length_timer"),
        (create_body(ringing_timer=121), "ringing_timer"),
        (create_body(event_url=["ftp://x"]), "event_url"),
        (create_body(machine_detection="maybe"), "machine_detection"),
        (
            create_body(answer_method="PATCH", ncco=None, answer_url="http://x.example"),
            "answer_method",
        ),
    ],
)
async def test_create_names_the_bad_parameter(api: Api, body: dict[str, Any], name: str) -> None:
    r = await api.call("POST", "/v1/calls", json=body)
    assert r.status_code == 400, r.text
    doc = r.json()
    assert doc["title"] == "Bad Request" and doc["type"].endswith("#bad-request")
    assert name in {p["name"] for p in doc["invalid_parameters"]}, doc


@pytest.mark.parametrize(
    ("path", "body", "name"),
    [
        ("", {"action": "explode"}, "action"),
        ("", {"action": "transfer"}, "body"),
        ("", {"action": "transfer", "destination": {"type": "ncco"}}, "destination"),
        ("", {"action": "transfer", "destination": {"type": "ncco", "ncco": [{}]}}, ""),
        ("/talk", {}, "text"),
        ("/talk", {"text": "x", "level": 2}, "level"),
        ("/stream", {"stream_url": []}, "stream_url"),
        ("/dtmf", {"digits": "12x"}, "digits"),
    ],
)
async def test_commands_name_the_bad_parameter(
    api: Api, path: str, body: dict[str, Any], name: str
) -> None:
    uuid = await answered_call(api)
    r = await api.call("PUT", f"/v1/calls/{uuid}{path}", json=body)
    assert r.status_code == 400, r.text
    names = {p["name"] for p in r.json()["invalid_parameters"]}
    assert any(n.startswith(name) for n in names), names


async def test_not_json_is_a_problem(api: Api) -> None:
    r = await api.call("POST", "/v1/calls", content=b"{nope")
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    r = await api.call("POST", "/v1/calls", json=[1, 2])
    assert r.status_code == 400


async def test_random_from_number_and_lenient_shapes(api: Api) -> None:
    body = create_body(**{"from": None}, random_from_number=True)
    body["to"] = [{"type": "phone", "number": CALLEE, "dtmf_answer": "1"}]
    r = await api.call("POST", "/v1/calls", json=body)
    assert r.status_code == 201, r.text
    rec = api.rt.store.get_call(r.json()["uuid"])
    assert rec is not None and rec.from_["number"] == NUMBER_A
    r = await api.call(
        "POST", "/v1/calls", json=create_body(**{"from": "447700900123"}, event_url="http://x.ex/e")
    )
    assert r.status_code == 201, r.text
    r = await api.call("POST", "/v1/calls", APP_B, json=create_body(random_from_number=True))
    assert r.status_code == 400


async def test_rate_limit_gives_429(api: Api) -> None:
    from dataclasses import replace

    app = api.rt.store.get_application(APP_A)
    assert app is not None
    api.rt.store.put_application(replace(app, call_rate_limit=2))
    codes = [
        (await api.call("POST", "/v1/calls", json=create_body())).status_code for _ in range(3)
    ]
    assert codes == [201, 201, 429]
    r = await api.call("POST", "/v1/calls", json=create_body())
    assert r.json()["title"] == "Rate Limit Hit"
