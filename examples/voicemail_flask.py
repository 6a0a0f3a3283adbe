"""Record a message: a voicemail box as a Flask app.

The caller hears a greeting and a beep, then speaks; the recording ends when they
press ``#``, after 3 seconds of silence, or after a minute. The ``record`` event
brings the recording's URL, which the app files under the caller's number.
``GET /messages`` lists what was left.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request, url_for

GREETING = "You have reached Sam. Please leave a message after the tone, then press hash."


def create_app() -> Flask:
    app = Flask(__name__)
    callers: dict[str, str] = {}  # conversation_uuid -> caller's number
    messages: list[dict[str, Any]] = []
    app.config["MESSAGES"] = messages

    @app.get("/answer")
    def answer() -> Response:
        callers[request.args["conversation_uuid"]] = request.args.get("from", "unknown")
        return jsonify(
            [
                {"action": "talk", "text": GREETING},
                {
                    "action": "record",
                    "beepStart": True,
                    "endOnKey": "#",
                    "endOnSilence": 3,
                    "timeOut": 60,
                    "format": "mp3",
                    "eventUrl": [url_for("recorded", _external=True)],
                },
                {"action": "talk", "text": "Thank you. Goodbye."},
            ]
        )

    @app.post("/recording")
    def recorded() -> tuple[str, int]:
        body = request.get_json()
        messages.append(
            {
                "from": callers.get(body["conversation_uuid"], "unknown"),
                "recording_url": body["recording_url"],
                "size": body["size"],
                "start_time": body["start_time"],
                "end_time": body["end_time"],
            }
        )
        return "", 204

    @app.get("/messages")
    def list_messages() -> Response:
        return jsonify(messages)

    @app.post("/event")
    def event() -> tuple[str, int]:
        return "", 204

    return app
