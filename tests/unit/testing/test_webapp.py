"""WebhookApp and ServedApp: the test double of a customer's app, over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.responses import PlainTextResponse

from trunkline.testing import RecordedRequest, ServedApp, WebhookApp

NCCO = [{"action": "talk", "text": "Hello"}]


@pytest.fixture
async def webapp() -> AsyncIterator[WebhookApp]:
    yield WebhookApp()


@pytest.fixture
async def http(webapp: WebhookApp) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        ServedApp(webapp.asgi()) as served,
        httpx.AsyncClient(base_url=served.url, trust_env=False) as client,
    ):
        yield client


def free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


# --- ServedApp --------------------------------------------------------------------------


async def test_served_app_binds_a_free_port_and_releases_it() -> None:
    app = WebhookApp()
    app.route("/ping", {"pong": True})
    async with ServedApp(app.asgi()) as served:
        assert served.url.startswith("http://127.0.0.1:")
        port = int(served.url.rsplit(":", 1)[1])
        assert port > 0 and served.port == port
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.get(f"{served.url}/ping")
        assert response.json() == {"pong": True}
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))


async def test_served_app_on_a_chosen_port() -> None:
    port = free_port()
    async with ServedApp(WebhookApp().asgi(), port=port) as served:
        assert served.url == f"http://127.0.0.1:{port}"


async def test_served_app_refuses_to_enter_twice() -> None:
    served = ServedApp(WebhookApp().asgi())
    async with served:
        with pytest.raises(RuntimeError, match="already serving"):
            await served.__aenter__()


async def test_served_app_reports_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            async with ServedApp(WebhookApp().asgi(), port=port):
                pass


# --- recording --------------------------------------------------------------------------


async def test_records_get_and_post_on_the_same_route(
    webapp: WebhookApp, http: httpx.AsyncClient
) -> None:
    webapp.route("/answer", NCCO)
    before = time.monotonic()
    got = await http.get("/answer", params={"to": "442079460000", "uuid": "u-1"})
    posted = await http.post("/answer", json={"to": "442079460000", "dtmf": {"digits": "1"}})

    assert got.status_code == posted.status_code == 200
    assert got.json() == posted.json() == NCCO
    assert got.headers["content-type"] == "application/json"
    first, second = webapp.requests_to("/answer")
    assert (first.method, first.path, first.query, first.json) == (
        "GET",
        "/answer",
        {"to": "442079460000", "uuid": "u-1"},
        None,
    )
    assert (second.method, second.query, second.json) == (
        "POST",
        {},
        {"to": "442079460000", "dtmf": {"digits": "1"}},
    )
    assert second.headers["content-type"] == "application/json"
    assert second.body == b'{"to":"442079460000","dtmf":{"digits":"1"}}'
    assert before <= first.at <= second.at <= time.monotonic()


async def test_unknown_path_is_404_and_still_recorded(
    webapp: WebhookApp, http: httpx.AsyncClient
) -> None:
    response = await http.post("/nowhere", content=b"not json")
    assert response.status_code == 404
    [seen] = webapp.requests
    assert (seen.path, seen.json, seen.body) == ("/nowhere", None, b"not json")


async def test_other_methods_are_not_accepted(webapp: WebhookApp, http: httpx.AsyncClient) -> None:
    webapp.route("/answer", NCCO)
    assert (await http.put("/answer")).status_code == 405
    assert webapp.requests == []


# --- answers ----------------------------------------------------------------------------


async def test_answer_shapes(webapp: WebhookApp, http: httpx.AsyncClient) -> None:
    webapp.route("/none", None)
    webapp.route("/empty200", None, status=200)
    webapp.route("/dict", {"ok": True}, status=201)
    webapp.route("/bytes", b"\x00\x01")
    webapp.route("/busy", None, status=503)
    webapp.route("/text", PlainTextResponse("<not json>", status_code=202))

    none = await http.get("/none")
    assert (none.status_code, none.content) == (204, b"")
    empty = await http.get("/empty200")
    assert (empty.status_code, empty.content) == (200, b"")
    as_dict = await http.get("/dict")
    assert (as_dict.status_code, as_dict.json()) == (201, {"ok": True})
    raw = await http.get("/bytes")
    assert (raw.content, raw.headers["content-type"]) == (b"\x00\x01", "application/octet-stream")
    assert (await http.get("/busy")).status_code == 503
    text = await http.get("/text")
    assert (text.status_code, text.text) == (202, "<not json>")


async def test_handler_sees_the_request_and_can_be_replaced(
    webapp: WebhookApp, http: httpx.AsyncClient
) -> None:
    def echo(request: RecordedRequest) -> list[dict[str, Any]]:
        return [{"action": "talk", "text": f"you pressed {request.json['dtmf']['digits']}"}]

    webapp.route("/input", echo)
    response = await http.post("/input", json={"dtmf": {"digits": "42"}})
    assert response.json() == [{"action": "talk", "text": "you pressed 42"}]

    webapp.route("/input", None)
    assert (await http.post("/input", json={})).status_code == 204


async def test_decorator_and_async_handlers(webapp: WebhookApp, http: httpx.AsyncClient) -> None:
    @webapp.on("/event")
    async def on_event(request: RecordedRequest) -> None:
        await asyncio.sleep(0)

    @webapp.on("/notify", status=200)
    def on_notify(request: RecordedRequest) -> dict[str, str]:
        return {"seen": request.query.get("k", "")}

    assert (await http.post("/event", json={"status": "answered"})).status_code == 204
    notify = await http.get("/notify", params={"k": "v"})
    assert (notify.status_code, notify.json()) == (200, {"seen": "v"})
    assert callable(on_event) and callable(on_notify)


async def test_a_failing_handler_answers_500_and_is_kept(
    webapp: WebhookApp, http: httpx.AsyncClient
) -> None:
    def broken(request: RecordedRequest) -> Any:
        raise KeyError("dtmf")

    webapp.route("/input", broken)
    webapp.route("/odd", {"when": object()})
    assert (await http.post("/input", json={})).status_code == 500
    assert (await http.post("/odd", json={})).status_code == 500
    assert [type(e) for e in webapp.errors] == [KeyError, TypeError]


async def test_delay_holds_the_answer(webapp: WebhookApp, http: httpx.AsyncClient) -> None:
    webapp.route("/slow", NCCO, delay=0.1)
    started = time.perf_counter()
    response = await http.get("/slow")
    assert response.json() == NCCO
    assert time.perf_counter() - started >= 0.1


async def test_delay_ends_when_the_client_gives_up() -> None:
    app = WebhookApp()
    app.route("/slow", NCCO, delay=30.0)
    async with ServedApp(app.asgi()) as served:
        async with httpx.AsyncClient(trust_env=False) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(f"{served.url}/slow", timeout=httpx.Timeout(5.0, read=0.1))
        stopping = time.perf_counter()
    # the held request did not keep the server from stopping
    assert time.perf_counter() - stopping < 2.0
    assert len(app.requests_to("/slow")) == 1


def test_negative_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="delay"):
        WebhookApp().route("/a", None, delay=-1)


# --- waiting ----------------------------------------------------------------------------


async def test_wait_for_requests_still_to_come(webapp: WebhookApp, http: httpx.AsyncClient) -> None:
    webapp.route("/event", None)

    async def send_events() -> None:
        for status in ("started", "ringing", "answered"):
            await http.post("/event", json={"status": status})

    async with asyncio.TaskGroup() as tg:
        tg.create_task(send_events())
        first = await webapp.wait_for("/event")
        assert first[0].json == {"status": "started"}
        seen = await webapp.wait_for("/event", count=3)
    assert [r.json["status"] for r in seen] == ["started", "ringing", "answered"]


async def test_wait_for_what_already_arrived(webapp: WebhookApp, http: httpx.AsyncClient) -> None:
    await http.get("/answer")
    [seen] = await webapp.wait_for("/answer", timeout=0)
    assert seen.path == "/answer"


async def test_wait_for_times_out_with_what_it_saw(
    webapp: WebhookApp, http: httpx.AsyncClient
) -> None:
    await http.get("/event")
    with pytest.raises(TimeoutError, match=r"/event: wanted 2 request\(s\), got 1"):
        await webapp.wait_for("/event", count=2, timeout=0.05)
    # the waiter is gone: a later request still counts for a new wait
    await http.get("/event")
    assert len(await webapp.wait_for("/event", count=2, timeout=1.0)) == 2


async def test_requests_to_filters_by_path(webapp: WebhookApp, http: httpx.AsyncClient) -> None:
    await http.get("/a")
    await http.get("/b")
    await http.get("/a")
    assert [r.path for r in webapp.requests] == ["/a", "/b", "/a"]
    assert len(webapp.requests_to("/a")) == 2
    assert webapp.requests_to("/c") == []
