"""The kit's plain Python API: apps in-process or over HTTP, waiting, failing, closing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from examples import ivr_fastapi as ivr
from fastapi import FastAPI, Request
from flask import Flask, jsonify, request
from starlette.applications import Starlette

from trunkline.errors import NotFound
from trunkline.testing import AppError, ServedApp, VoiceNetwork, WaitTimeout, hang_up, press
from trunkline.testing.inprocess import app_kind

CALLER = "447700900100"
HELLO = [{"action": "talk", "text": "Hello there"}]


def echo_flask() -> Flask:
    """Answers with a talk; keeps what each request looked like."""
    app = Flask(__name__)
    app.config["SEEN"] = []

    @app.route("/answer", methods=["GET", "POST"])
    def answer() -> Any:
        app.config["SEEN"].append(
            {
                "method": request.method,
                "path": request.path,
                "args": dict(request.args),
                "json": request.get_json(silent=True),
                "agent": request.headers.get("User-Agent"),
                "type": request.headers.get("Content-Type"),
            }
        )
        return jsonify(HELLO)

    @app.post("/event")
    def event() -> Any:
        app.config["SEEN"].append({"method": "POST", "path": "/event", "json": request.json})
        return "", 204

    return app


def echo_fastapi() -> FastAPI:
    app = FastAPI()
    app.state.seen = []

    @app.api_route("/answer", methods=["GET", "POST"])
    async def answer(request: Request) -> Any:
        body = await request.body()
        app.state.seen.append(
            {
                "method": request.method,
                "path": request.url.path,
                "args": dict(request.query_params),
                "json": await request.json() if body else None,
                "agent": request.headers.get("user-agent"),
                "type": request.headers.get("content-type"),
            }
        )
        return HELLO

    @app.post("/event", status_code=204)
    async def event(request: Request) -> None:
        app.state.seen.append({"method": "POST", "path": "/event", "json": await request.json()})

    return app


def seen(app: Any) -> list[dict[str, Any]]:
    return app.config["SEEN"] if isinstance(app, Flask) else app.state.seen  # type: ignore[no-any-return]


@pytest.mark.parametrize("make", [echo_flask, echo_fastapi], ids=["flask", "fastapi"])
def test_webhooks_reach_the_app_as_trunkline_sends_them(voice: VoiceNetwork, make: Any) -> None:
    web = make()
    app = voice.application(web, answer_path="/answer?lang=en")
    call = voice.phone(CALLER).call(app.number)

    call.wait_until("completed")

    assert call.prompts == ["Hello there"]
    [answer] = [s for s in seen(web) if s["path"] == "/answer"]
    events = [s for s in seen(web) if s["path"] == "/event"]
    assert answer["method"] == "GET" and answer["path"] == "/answer" and answer["json"] is None
    assert answer["agent"] == "trunkline/0.1"
    # the URL's own query is kept; the answer fields follow it
    assert answer["args"] == {
        "lang": "en",
        "to": app.number,
        "from": CALLER,
        "conversation_uuid": call.conversation_uuid,
        "uuid": call.uuid,
        "endpoint_type": "phone",
        "region_url": "http://trunkline.test",
    }
    assert [e["json"]["status"] for e in events] == ["started", "ringing", "answered", "completed"]
    assert events[0]["json"] == app.events(call)[0].body
    assert [ex.response_status for ex in app.requests] == [204, 204, 200, 204, 204]


def test_post_answer_webhooks_carry_a_json_body(voice: VoiceNetwork) -> None:
    web = echo_fastapi()
    app = voice.application(web, answer_method="POST")
    call = voice.phone(CALLER).call(app.number)
    call.wait_until("completed")
    answer = next(s for s in seen(web) if s["path"] == "/answer")
    assert answer["method"] == "POST" and answer["args"] == {}
    assert answer["type"] == "application/json"
    assert answer["json"]["uuid"] == call.uuid


def test_app_kind_is_guessed_from_the_app() -> None:
    async def asgi(scope: Any, receive: Any, send: Any) -> None: ...

    def wsgi(environ: Any, start_response: Any) -> list[bytes]:
        return []

    assert app_kind(Flask(__name__)) == "wsgi"
    assert app_kind(FastAPI()) == "asgi"
    assert app_kind(Starlette()) == "asgi"
    assert app_kind(asgi) == "asgi"
    assert app_kind(wsgi) == "wsgi"
    with pytest.raises(TypeError):
        app_kind(object())


def test_raw_wsgi_and_asgi_apps_work_without_a_framework(voice: VoiceNetwork) -> None:
    def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"].read(length)
        start_response("200 OK", [("Content-Type", "application/json")])
        if environ["PATH_INFO"] == "/answer":
            return [b'[{"action": "talk", ', b'"text": "from WSGI"}]']
        return [b""]

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        message = await receive()
        assert message["type"] == "http.request"
        body = b'[{"action": "talk", "text": "from ASGI"}]' if scope["path"] == "/answer" else b""
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        assert (await receive())["type"] == "http.disconnect"

    one = voice.application(wsgi)
    two = voice.application(asgi)
    assert two.base_url == "http://app2.test" and two.number == "447700901000"
    first = voice.phone(CALLER).call(one)
    second = voice.phone("447700900101").call(two)
    voice.run()
    assert first.prompts == ["from WSGI"] and second.prompts == ["from ASGI"]
    assert first.statuses[-1] == second.statuses[-1] == "completed"


def test_events_are_stored_first_and_marked_with_the_answer(voice: VoiceNetwork) -> None:
    web = Flask(__name__)
    web.add_url_rule("/answer", "answer", lambda: jsonify(HELLO))
    app = voice.application(web)  # no /event route: every event answers 404
    call = voice.phone(CALLER).call(app.number)
    call.wait_until("completed")
    stored = voice.store.events_for_call(call.uuid)
    assert [e.body["status"] for e in stored] == ["started", "ringing", "answered", "completed"]
    assert {(e.state, e.response_status, e.attempts) for e in stored} == {("failed", 404, 1)}


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_an_exception_in_the_app_is_raised_from_the_wait(
    voice: VoiceNetwork, framework: str
) -> None:
    def boom() -> Any:
        raise ValueError("no menu for you")

    if framework == "flask":
        web: Any = Flask(__name__)
        web.add_url_rule("/answer", "answer", boom)
    else:
        web = FastAPI()
        web.add_api_route("/answer", boom)
    app = voice.application(web)
    call = voice.phone(CALLER).call(app.number)

    with pytest.raises(AppError, match="no menu for you") as caught:
        call.wait_until("completed")

    assert isinstance(caught.value.__cause__, ValueError)
    assert "GET http://app.test/answer" in str(caught.value)
    assert len(app.errors) == 1


@pytest.mark.voice(raise_app_exceptions=False)
def test_without_raising_the_app_answers_500_and_the_fallback_runs(voice: VoiceNetwork) -> None:
    web = Flask(__name__)

    @web.get("/answer")
    def answer() -> Any:
        raise RuntimeError("database down")

    web.add_url_rule(
        "/fallback", "fallback", lambda: jsonify([{"action": "talk", "text": "Sorry"}])
    )
    app = voice.application(web, fallback_path="/fallback")
    call = voice.phone(CALLER).call(app.number)

    call.wait_until("completed")

    assert call.prompts == ["Sorry"]
    assert [(ex.path, ex.response_status) for ex in app.requests if not ex.is_event] == [
        ("/answer", 500),
        ("/fallback", 200),
    ]
    assert [type(e) for e in app.errors] == [RuntimeError]


def test_waiting_for_what_never_comes_fails_with_the_timeline(voice: VoiceNetwork) -> None:
    web = Flask(__name__)
    web.add_url_rule(
        "/answer", "answer", lambda: jsonify([{"action": "conversation", "name": "room"}])
    )
    app = voice.application(web)
    call = voice.phone(CALLER).call(app.number)

    with pytest.raises(WaitTimeout) as caught:
        call.wait_until("completed")

    message = str(caught.value)
    assert "did not reach 'completed' and nothing was left to happen" in message
    assert "it went started -> ringing -> answered" in message
    assert 'conversation "room"' in message or "conversation room" in message
    assert '< [{"action":"conversation","name":"room"}]' in message
    assert f"phone {CALLER}:" in message
    assert call.status == "answered"

    call.hang_up()
    call.wait_until("ended")
    assert call.record.disconnected_by == "user"


def test_a_wait_gives_up_after_its_virtual_timeout(voice: VoiceNetwork) -> None:
    web = Flask(__name__)
    web.add_url_rule(
        "/answer", "answer", lambda: jsonify([{"action": "talk", "text": "Hold", "loop": 0}])
    )
    app = voice.application(web)
    call = voice.phone(CALLER, script=[hang_up(at=600)]).call(app.number)

    with pytest.raises(WaitTimeout, match="within 60 s of virtual time"):
        call.wait_until("completed", timeout=60)
    assert 60 <= voice.now < 61

    call.wait_until("completed")  # the phone hangs up at 600 s
    assert call.duration == 600


def test_advance_and_interactive_moves(voice: VoiceNetwork) -> None:
    web = ivr.create_app()
    app = voice.application(web)
    voice.phone(ivr.AGENTS["sales"], script=[hang_up(at=5)])
    call = voice.phone(CALLER).call(app.number)

    voice.advance(1)
    assert voice.now == 1
    assert call.status == "answered" and call.heard("Welcome")
    call.press("1")
    voice.advance(0.5)
    assert call.heard("Connecting you to sales")
    voice.run()
    assert call.ended and voice.phone(ivr.AGENTS["sales"]).answered()

    voice.advance(30)  # nothing left to happen: the hands still move
    assert voice.now > 30
    with pytest.raises(NotFound):
        call.press("2")


def test_phones_are_configured_once_and_changed_by_name(voice: VoiceNetwork) -> None:
    phone = voice.phone("447700900555", ring=1)
    same = voice.phone("447700900555", answer="busy", script=[{"at": 1, "press": "1"}])
    assert same is phone
    assert phone.sim.answer == "busy" and phone.sim.ring == 1
    assert phone.sim.script[0].press == "1"
    with pytest.raises(ValueError):
        voice.phone("447700900555", answer="maybe")
    with pytest.raises(ValueError):
        press("x")
    with pytest.raises(NotFound, match="no application answers 447700909999"):
        phone.call("447700909999")
    with pytest.raises(ValueError):
        voice.application()


def test_the_network_works_as_a_plain_context_manager() -> None:
    with VoiceNetwork(seed=7) as voice:
        app = voice.application(echo_flask())
        call = voice.phone(CALLER).call(app.number).wait_until("completed")
        assert call.heard("hello")
        text = voice.timeline()
    assert voice.closed
    assert "GET http://app.test/answer" in text
    with pytest.raises(RuntimeError, match="closed"):
        voice.run()


async def test_the_sync_api_works_inside_a_running_event_loop(voice: VoiceNetwork) -> None:
    app = voice.application(ivr.create_app())
    voice.phone(ivr.AGENTS["support"], script=[hang_up(at=3)])
    call = voice.phone(CALLER, script=[press("2", when_heard="press 2")]).call(app.number)

    call.wait_until("completed")  # FastAPI runs on the kit's own loop, in a helper thread

    assert call.heard("Connecting you to support")
    await asyncio.sleep(0)  # this loop was never blocked for long, and still runs


async def test_an_app_served_over_real_http_with_the_async_api() -> None:
    async with VoiceNetwork() as voice, ServedApp(ivr.create_app()) as served:
        app = voice.application(url=served.url)
        voice.phone(ivr.AGENTS["sales"], ring=1, script=[hang_up(at=3)])
        caller = voice.phone(CALLER, script=[press("1", at=1, when_heard="press 1")])
        call = caller.call(app.number)

        await call.wait_until_async("completed")

        assert call.heard("Connecting you to sales")
        assert not app.in_process
        [choice] = app.events(call, kind="input")
        assert choice.url == f"{served.url}/ivr/menu"
        assert choice.response_status == 200 and choice.ncco is not None
        assert app.statuses(call) == ["started", "ringing", "answered", "completed"]
        assert f"POST {served.url}/ivr/menu -> HTTP 200" in voice.timeline(call)
        assert '< [{"action":"talk","text":"Connecting you to sales."}' in voice.timeline(call)
    assert voice.closed


def test_an_outbound_call_can_carry_its_own_ncco(voice: VoiceNetwork) -> None:
    app = voice.application(echo_flask())
    phone = voice.phone("447700900777", ring=3)
    call = app.call(phone, ncco=[{"action": "talk", "text": "Your parcel is on its way"}])

    assert call.direction == "outbound" and call.label == "to 447700900777"
    call.wait_until("answered")
    assert voice.now == 3
    call.wait_until("completed")

    assert phone.heard("parcel is on its way") and phone.last_call is call
    assert app.requests_to("/answer") == []  # the NCCO came with the call
    assert app.statuses(call) == ["started", "ringing", "answered", "completed"]
    assert [c.uuid for c in voice.calls] == [call.uuid]
