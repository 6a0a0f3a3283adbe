"""The seeds' call-centre app: a caller is connected to the main agent; when that
agent is busy (or does not answer) the synchronous connect fails, and the event
handler answers with an NCCO that connects the next agent.

It is an ordinary Vonage voice app — an answer webhook and an event webhook — and
runs unchanged against Vonage or trunkline. ``trunkline demo`` serves it on
127.0.0.1 and calls it from the sim network.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CALL_CENTRE = "447700900000"
MAIN_AGENT = "447700900001"
NEXT_AGENT = "447700900002"
FAILURES = {"busy", "unanswered", "timeout", "failed", "rejected", "cancelled"}


def create_app(
    base_url: str = "",
    *,
    main_agent: str = MAIN_AGENT,
    next_agent: str = NEXT_AGENT,
    caller_id: str = CALL_CENTRE,
) -> Starlette:
    """``base_url`` is where this app is reachable (for the eventUrls it hands out);
    empty: the base URL of each request.
    """
    events: list[dict[str, Any]] = []

    def connect(request: Request, agent: str, event_path: str) -> dict[str, Any]:
        base = base_url or str(request.base_url).rstrip("/")
        return {
            "action": "connect",
            "from": caller_id,
            "timeout": "10",
            "eventType": "synchronous",
            "eventUrl": [f"{base}{event_path}"],
            "endpoint": [{"type": "phone", "number": agent}],
        }

    async def answer(request: Request) -> Response:
        return JSONResponse(
            [
                {"action": "talk", "text": "Thanks for calling. Connecting you to an agent."},
                connect(request, main_agent, "/event/main-agent"),
            ]
        )

    async def main_agent_event(request: Request) -> Response:
        body = await request.json()
        events.append(body)
        if body.get("status") in FAILURES:
            return JSONResponse(
                [
                    {"action": "talk", "text": "All agents are busy. Trying the next agent."},
                    connect(request, next_agent, "/event/next-agent"),
                ]
            )
        return Response(status_code=204)

    async def next_agent_event(request: Request) -> Response:
        body = await request.json()
        events.append(body)
        if body.get("status") in FAILURES:
            return JSONResponse([{"action": "talk", "text": "Sorry, nobody is free. Goodbye."}])
        return Response(status_code=204)

    async def event(request: Request) -> Response:
        if request.method == "POST":
            events.append(await request.json())
        return Response(status_code=204)

    app = Starlette(
        routes=[
            Route("/answer", answer, methods=["GET", "POST"]),
            Route("/event", event, methods=["GET", "POST"]),
            Route("/event/main-agent", main_agent_event, methods=["POST"]),
            Route("/event/next-agent", next_agent_event, methods=["POST"]),
        ]
    )
    app.state.events = events
    return app
