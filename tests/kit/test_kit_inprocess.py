"""The in-process adapters: a webhook as a WSGI environ or an ASGI scope, and back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from flask import Flask, jsonify

from trunkline.testing import AppError, VoiceNetwork
from trunkline.testing.inprocess import AppRequest, call_asgi, call_wsgi

GET = AppRequest(
    "GET",
    "http://app.test:8000/voice%20app/answer?lang=en",
    {"to": "447700900000", "speech": {"results": []}, "flag": True, "none": None},
    {"X-Trace": "abc"},
)
POST = AppRequest("POST", "https://app.test/event", {"status": "ringing", "n": 1})


def test_a_wsgi_environ_is_what_a_server_would_build() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        seen["body"] = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"ok ", b"done"]

    response = call_wsgi(app, GET)
    assert (response.status, response.text, response.json()) == (201, "ok done", None)
    assert seen["REQUEST_METHOD"] == "GET"
    assert seen["PATH_INFO"] == "/voice app/answer"
    assert seen["QUERY_STRING"] == (
        "lang=en&to=447700900000&speech=%7B%22results%22%3A%5B%5D%7D&flag=true"
    )
    assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == ("app.test", "8000")
    assert seen["HTTP_HOST"] == "app.test:8000"
    assert seen["HTTP_USER_AGENT"] == "trunkline/0.1"
    assert seen["HTTP_X_TRACE"] == "abc"
    assert seen["body"] == b""
    assert "CONTENT_TYPE" not in seen

    response = call_wsgi(app, POST)
    assert seen["REQUEST_METHOD"] == "POST" and seen["wsgi.url_scheme"] == "https"
    assert seen["CONTENT_TYPE"] == "application/json"
    assert seen["body"] == b'{"status":"ringing","n":1}'
    assert seen["CONTENT_LENGTH"] == str(len(seen["body"]))


def test_an_asgi_scope_is_what_a_server_would_build() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope)
        seen["body"] = (await receive())["body"]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b"[1,", "more_body": True})
        await send({"type": "http.response.body", "body": b"2]"})
        seen["after"] = (await receive())["type"]

    response = asyncio.run(call_asgi(app, GET))
    assert response.json() == [1, 2]
    assert ("content-type", "application/json") in response.headers
    assert seen["path"] == "/voice app/answer" and seen["raw_path"] == b"/voice%20app/answer"
    assert seen["query_string"].startswith(b"lang=en&to=447700900000")
    assert (b"x-trace", b"abc") in seen["headers"]
    assert seen["server"] == ("app.test", 8000)
    assert seen["body"] == b""
    assert seen["after"] == "http.disconnect"

    asyncio.run(call_asgi(app, POST))
    assert seen["method"] == "POST" and seen["scheme"] == "https"
    assert seen["body"] == b'{"status":"ringing","n":1}'


def test_an_asgi_app_that_never_answers_is_an_error() -> None:
    async def silent(scope: dict[str, Any], receive: Any, send: Any) -> None:
        return None

    with pytest.raises(RuntimeError, match="sent no response"):
        asyncio.run(call_asgi(silent, POST))


def test_an_answer_that_is_not_an_ncco_fails_the_call_with_an_error_event(
    voice: VoiceNetwork,
) -> None:
    web = Flask(__name__)
    web.add_url_rule("/answer", "answer", lambda: "<h1>Hello</h1>")
    web.add_url_rule("/event", "event", lambda: ("", 204), methods=["POST"])
    app = voice.application(web)
    call = voice.phone("447700900100").call(app.number)

    call.wait_until("ended")

    assert call.statuses[-1] == "failed"
    [answer] = app.requests_to("/answer")
    assert answer.reply is None and answer.text == "<h1>Hello</h1>"
    assert answer.ncco is None
    assert answer.describe() == "answer GET http://app.test/answer -> HTTP 200"
    [error] = app.events(call, kind="error")
    assert "did not return an NCCO" in error.body["reason"]


def test_flask_exceptions_are_reported_once_and_only_to_the_live_network() -> None:
    web = Flask(__name__)
    web.testing = True  # Flask lets the exception out of the WSGI call

    @web.get("/answer")
    def answer() -> Any:
        raise KeyError("menu")

    web.add_url_rule("/event", "event", lambda: ("", 204), methods=["POST"])
    with VoiceNetwork() as first:
        app = first.application(web)
        call = first.phone("447700900100").call(app.number)
        with pytest.raises(AppError):
            call.wait_until("completed")
        assert len(app.errors) == 1

    web.testing = False  # Flask answers 500; its signal tells the kit
    with VoiceNetwork() as second:
        app = second.application(web)
        call = second.phone("447700900100").call(app.number)
        with pytest.raises(AppError, match="KeyError"):
            call.wait_until("completed")
        assert len(app.errors) == 1
    assert len(first.webhooks.app_errors) == 1  # the closed network heard nothing more


def test_the_same_origin_cannot_be_mounted_twice(voice: VoiceNetwork) -> None:
    voice.application(Flask(__name__))
    with pytest.raises(ValueError, match="already mounted"):
        voice.application(Flask(__name__), base_url="http://APP.test/")
    other = voice.application(Flask(__name__), base_url="https://voice.example.com")
    assert other.answer_url is not None
    assert other.answer_url.address == "https://voice.example.com/answer"
    with pytest.raises(ValueError, match="absolute"):
        voice.application(url="app.test")


def test_a_jsonify_reply_is_what_the_engine_gets(voice: VoiceNetwork) -> None:
    web = Flask(__name__)
    web.add_url_rule("/answer", "answer", lambda: jsonify([{"action": "talk", "text": "Hi"}]))
    app = voice.application(web)
    voice.phone("447700900100").call(app.number).wait_until("completed")
    assert app.nccos == [[{"action": "talk", "text": "Hi"}]]
