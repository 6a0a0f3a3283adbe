"""An outbound reminder campaign with answering-machine detection, as a FastAPI app.

The campaign calls each number on its list (``Campaign.start(dial)``; in production
``dial`` places the call with the Vonage SDK's ``create_call``, asking for
``machine_detection="hangup"`` and this app's answer and event URLs). A person who
answers hears the reminder and presses 1 to confirm or 2 to cancel; an answering
machine is hung up on by the platform and reported by a ``machine`` event; busy,
unanswered and failed calls are kept to retry later. ``GET /campaign`` shows the
outcome of every number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel

CAMPAIGN_NUMBER = "447700900000"
REMINDER = (
    "Hello, this is Acme Dental reminding you of your appointment tomorrow at 10 am. "
    "Press 1 to confirm or 2 to cancel."
)
RETRY_LATER = {"busy", "unanswered", "timeout", "failed", "rejected", "cancelled"}


class StatusEvent(BaseModel):
    uuid: str | None = None
    call_uuid: str | None = None
    to: str = ""
    status: str | None = None


class Dtmf(BaseModel):
    digits: str | None = None
    timed_out: bool = False


class InputEvent(BaseModel):
    uuid: str
    to: str = ""
    dtmf: Dtmf | None = None


class Campaign:
    """The numbers to call and what became of each."""

    def __init__(self, numbers: Iterable[str]) -> None:
        self.numbers = list(numbers)
        self.outcomes: dict[str, str] = {}

    def start(self, dial: Callable[[str], object]) -> None:
        for number in self.numbers:
            self.outcomes[number] = "calling"
            dial(number)

    def settle(self, number: str, outcome: str) -> None:
        """Record an outcome; a final one (confirmed, cancelled, machine) is kept."""
        if self.outcomes.get(number) in ("confirmed", "cancelled", "machine"):
            return
        self.outcomes[number] = outcome


def create_app(campaign: Campaign) -> FastAPI:
    app = FastAPI(title="Acme reminders")
    app.state.campaign = campaign

    @app.get("/answer")
    async def answer(request: Request) -> list[dict[str, Any]]:
        return [
            {"action": "talk", "text": REMINDER, "bargeIn": True},
            {
                "action": "input",
                "type": ["dtmf"],
                "dtmf": {"maxDigits": 1, "timeOut": 5},
                "eventUrl": [str(request.url_for("reply"))],
            },
        ]

    @app.post("/campaign/reply", name="reply")
    async def reply(event: InputEvent) -> list[dict[str, Any]]:
        digits = event.dtmf.digits if event.dtmf else None
        if digits == "1":
            campaign.settle(event.to, "confirmed")
            return [{"action": "talk", "text": "Thank you, your appointment is confirmed."}]
        if digits == "2":
            campaign.settle(event.to, "cancelled")
            return [{"action": "talk", "text": "Your appointment is cancelled. Goodbye."}]
        campaign.settle(event.to, "no reply")
        return [{"action": "talk", "text": "We will call you again. Goodbye."}]

    @app.post("/event")
    async def event(event: StatusEvent) -> Response:
        if event.status == "machine":
            campaign.settle(event.to, "machine")
        elif event.status == "human":
            campaign.settle(event.to, "answered")
        elif event.status in RETRY_LATER:
            campaign.settle(event.to, "retry later")
        return Response(status_code=204)

    @app.get("/campaign")
    async def outcomes() -> dict[str, str]:
        return campaign.outcomes

    return app
