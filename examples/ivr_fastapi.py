"""An IVR as a FastAPI app: a menu answered by a key press or by voice.

"For sales, press 1 or say sales. For support, press 2 or say support." The input
takes one digit or one spoken word; the choice connects the caller to that team. A
timeout or an answer the menu does not know replays the menu, twice at most, then
the app says goodbye. Webhook bodies are parsed with pydantic models, as FastAPI apps
usually do.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

IVR_NUMBER = "447700900000"
TEAMS = {"1": "sales", "2": "support"}
AGENTS = {"sales": "447700900201", "support": "447700900202"}
MENU = "For sales, press 1 or say sales. For support, press 2 or say support."
WELCOME = "Welcome to Acme."
MAX_TRIES = 3


class Dtmf(BaseModel):
    digits: str | None = None
    timed_out: bool = False


class SpeechResult(BaseModel):
    text: str
    confidence: str | float | None = None


class Speech(BaseModel):
    results: list[SpeechResult] = []
    timeout_reason: str | None = None
    error: str | None = None


class InputEvent(BaseModel):
    uuid: str
    conversation_uuid: str
    dtmf: Dtmf | None = None
    speech: Speech | None = None


def choice(event: InputEvent) -> str | None:
    """The team the caller chose, by key or by voice; None if neither is a team."""
    if event.dtmf and event.dtmf.digits:
        return TEAMS.get(event.dtmf.digits[0])
    if event.speech and event.speech.results:
        said = event.speech.results[0].text.lower()
        return next((team for team in AGENTS if team in said), None)
    return None


def create_app(agents: dict[str, str] | None = None) -> FastAPI:
    agents = agents or AGENTS
    app = FastAPI(title="Acme IVR")
    tries: dict[str, int] = {}  # leg uuid -> menus played
    app.state.choices = {}  # leg uuid -> team chosen

    def menu(request: Request, prefix: str) -> list[dict[str, Any]]:
        return [
            {"action": "talk", "text": f"{prefix} {MENU}".strip(), "bargeIn": True},
            {
                "action": "input",
                "type": ["dtmf", "speech"],
                "dtmf": {"maxDigits": 1, "timeOut": 5},
                "speech": {"context": list(agents), "endOnSilence": 1, "startTimeout": 5},
                "eventUrl": [str(request.url_for("menu_choice"))],
            },
        ]

    @app.get("/answer")
    async def answer(
        request: Request, uuid: str, caller: str = Query("", alias="from")
    ) -> list[dict[str, Any]]:
        tries[uuid] = 1
        return menu(request, WELCOME)

    @app.post("/ivr/menu", name="menu_choice")
    async def menu_choice(request: Request, event: InputEvent) -> list[dict[str, Any]]:
        team = choice(event)
        if team is not None:
            app.state.choices[event.uuid] = team
            return [
                {"action": "talk", "text": f"Connecting you to {team}."},
                {
                    "action": "connect",
                    "from": IVR_NUMBER,
                    "endpoint": [{"type": "phone", "number": agents[team]}],
                },
            ]
        tries[event.uuid] = tries.get(event.uuid, 1) + 1
        if tries[event.uuid] > MAX_TRIES:
            return [{"action": "talk", "text": "Sorry, I could not help you. Goodbye."}]
        return menu(request, "Sorry, I did not get that.")

    @app.post("/event", status_code=204)
    async def event() -> Response:
        return Response(status_code=204)

    return app
