"""The seeds' call centre as a Flask app.

A caller is told they are being connected and is connected to the main agent with a
*synchronous* ``connect``: when that agent is busy, rejects or does not answer, the
connect's event webhook is asked what to do and answers with an NCCO that tries the
next agent. It is an ordinary Vonage voice app (an answer webhook and an event
webhook) and runs unchanged against Vonage or trunkline.

Run it for real with ``flask --app examples.callcentre_flask run``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request, url_for

CALL_CENTRE = "447700900000"
MAIN_AGENT = "447700900001"
NEXT_AGENT = "447700900002"
FAILURES = {"busy", "unanswered", "timeout", "failed", "rejected", "cancelled"}


def create_app(main_agent: str = MAIN_AGENT, next_agent: str = NEXT_AGENT) -> Flask:
    app = Flask(__name__)
    events: list[dict[str, Any]] = []
    app.config["EVENTS"] = events

    def connect(agent: str, endpoint: str) -> dict[str, Any]:
        return {
            "action": "connect",
            "from": CALL_CENTRE,
            "timeout": 10,
            "eventType": "synchronous",
            "eventUrl": [url_for(endpoint, _external=True)],
            "endpoint": [{"type": "phone", "number": agent}],
        }

    @app.route("/answer", methods=["GET", "POST"])
    def answer() -> Response:
        return jsonify(
            [
                {"action": "talk", "text": "Thanks for calling. Connecting you to an agent."},
                connect(main_agent, "main_agent_event"),
            ]
        )

    @app.post("/event/main-agent")
    def main_agent_event() -> Response | tuple[str, int]:
        body = request.get_json()
        events.append(body)
        if body.get("status") in FAILURES:
            return jsonify(
                [
                    {"action": "talk", "text": "All agents are busy. Trying the next agent."},
                    connect(next_agent, "next_agent_event"),
                ]
            )
        return "", 204

    @app.post("/event/next-agent")
    def next_agent_event() -> Response | tuple[str, int]:
        body = request.get_json()
        events.append(body)
        if body.get("status") in FAILURES:
            return jsonify([{"action": "talk", "text": "Sorry, nobody is free. Goodbye."}])
        return "", 204

    @app.route("/event", methods=["GET", "POST"])
    def event() -> tuple[str, int]:
        if request.method == "POST":
            events.append(request.get_json())
        return "", 204

    return app
