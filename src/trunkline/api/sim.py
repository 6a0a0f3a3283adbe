"""``/sim/v1``: create sim phones, place calls from them, press keys, read their logs.

Mounted only when the sim is enabled (a production box exposes none of it).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.api.problems import problem
from trunkline.call.runtime import Runtime
from trunkline.errors import NotFound
from trunkline.sim.phones import ANSWERS, Step


class StepBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: float = Field(0.0, ge=0)
    press: str | None = Field(None, pattern=r"^[0-9*#p]+$")
    say: str | None = Field(None, min_length=1)
    hangup: bool = False
    when_heard: str | None = None


class PhoneBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(pattern=r"^\+?[0-9]{3,15}$")
    answer: Literal["human", "machine", "busy", "reject", "no_answer", "unanswered", "fail"] = (
        "human"
    )
    ring: float = Field(2.0, ge=0, le=600)
    script: list[StepBody] = []
    user: str | None = None
    uri: str | None = None

    @field_validator("number")
    @classmethod
    def strip_plus(cls, v: str) -> str:
        return v.lstrip("+")


class CallBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1)
    headers: dict[str, Any] = {}


class PressBody(BaseModel):
    digits: str = Field(pattern=r"^[0-9*#p]+$")


class SayBody(BaseModel):
    text: str = Field(min_length=1)


class AdvanceBody(BaseModel):
    seconds: float = Field(ge=0, le=86400)


async def _body(request: Request, model: type[BaseModel]) -> BaseModel | Response:
    try:
        raw = await request.body()
        data = json.loads(raw) if raw else {}
        return model.model_validate(data)
    except json.JSONDecodeError as exc:
        return problem(400, f"The request body is not valid JSON: {exc.msg}")
    except ValidationError as exc:
        params = [
            {"name": ".".join(str(p) for p in err["loc"]) or "body", "reason": err["msg"]}
            for err in exc.errors()
        ]
        return problem(400, "The request failed validation", invalid_parameters=params)


def routes(rt: Runtime) -> list[Route]:
    sim = rt.platform.sim

    async def list_phones(request: Request) -> Response:
        return JSONResponse({"phones": [p.as_json() for p in sim.phones.values()]})

    async def create_phone(request: Request) -> Response:
        body = await _body(request, PhoneBody)
        if isinstance(body, Response):
            return body
        assert isinstance(body, PhoneBody)
        steps = []
        for i, s in enumerate(body.script):
            try:
                steps.append(Step(**s.model_dump()))
            except ValueError as exc:
                return problem(
                    400,
                    "Invalid script",
                    invalid_parameters=[{"name": f"script.{i}", "reason": str(exc)}],
                )
        phone = sim.add_phone(
            body.number,
            answer=body.answer,
            ring=body.ring,
            script=steps,
            user=body.user,
            uri=body.uri,
        )
        return JSONResponse(phone.as_json(), status_code=201)

    async def get_phone(request: Request) -> Response:
        return JSONResponse(sim.phone(request.path_params["number"]).as_json())

    async def delete_phone(request: Request) -> Response:
        sim.remove_phone(request.path_params["number"])
        return Response(status_code=204)

    async def phone_log(request: Request) -> Response:
        phone = sim.phone(request.path_params["number"])
        return JSONResponse({"number": phone.number, "log": [e.as_json() for e in phone.log]})

    async def place_call(request: Request) -> Response:
        body = await _body(request, CallBody)
        if isinstance(body, Response):
            return body
        assert isinstance(body, CallBody)
        call = sim.call(
            request.path_params["number"], body.to.lstrip("+"), headers=body.headers or None
        )
        await rt.settle()
        if not call.id:
            return problem(404, f"Number {body.to} is not linked to any application")
        return JSONResponse({"uuid": call.id, "state": call.state}, status_code=201)

    async def act(request: Request, model: type[BaseModel], move: str) -> Response:
        """A move of the phone's call in progress (press, say), its body checked first."""
        body = await _body(request, model)
        if isinstance(body, Response):
            return body
        call = sim.active_call(request.path_params["number"])
        if isinstance(body, PressBody):
            call.press(body.digits)
        elif isinstance(body, SayBody):
            call.say(body.text)
        else:
            raise TypeError(f"no sim move {move!r}")
        await rt.settle()
        return Response(status_code=204)

    async def press(request: Request) -> Response:
        return await act(request, PressBody, "press")

    async def say(request: Request) -> Response:
        return await act(request, SayBody, "say")

    async def hangup(request: Request) -> Response:
        sim.active_call(request.path_params["number"]).hang_up()
        await rt.settle()
        return Response(status_code=204)

    async def timeline(request: Request) -> Response:
        uuid = request.path_params["uuid"]
        rec = rt.store.get_call(uuid)
        if rec is None:
            raise NotFound(f"call {uuid} does not exist")
        # the call's own lines and those of every leg in its conversation (connect legs)
        entries = {
            (e.t, e.kind, e.summary, e.call_uuid): e
            for e in [
                *rt.store.timeline(call_uuid=uuid),
                *rt.store.timeline(conversation_uuid=rec.conversation_uuid),
            ]
        }
        ordered = sorted(entries.values(), key=lambda e: e.t)
        return JSONResponse(
            {
                "uuid": uuid,
                "conversation_uuid": rec.conversation_uuid,
                "timeline": [
                    {
                        "t": e.t,
                        "kind": e.kind,
                        "summary": e.summary,
                        "call_uuid": e.call_uuid,
                        "data": e.data,
                    }
                    for e in ordered
                ],
            }
        )

    async def clock(request: Request) -> Response:
        return JSONResponse({"now": rt.clock.now(), "virtual": rt.virtual is not None})

    async def advance(request: Request) -> Response:
        if rt.virtual is None:
            return problem(
                409, 'The sim runs on the real clock; start with [sim] clock = "virtual"'
            )
        body = await _body(request, AdvanceBody)
        if isinstance(body, Response):
            return body
        assert isinstance(body, AdvanceBody)
        await rt.virtual.advance_async(body.seconds)
        return JSONResponse({"now": rt.clock.now()})

    return [
        Route("/sim/v1/phones", list_phones, methods=["GET"]),
        Route("/sim/v1/phones", create_phone, methods=["POST"]),
        Route("/sim/v1/phones/{number}", get_phone, methods=["GET"]),
        Route("/sim/v1/phones/{number}", delete_phone, methods=["DELETE"]),
        Route("/sim/v1/phones/{number}/log", phone_log, methods=["GET"]),
        Route("/sim/v1/phones/{number}/calls", place_call, methods=["POST"]),
        Route("/sim/v1/phones/{number}/press", press, methods=["POST"]),
        Route("/sim/v1/phones/{number}/say", say, methods=["POST"]),
        Route("/sim/v1/phones/{number}/hangup", hangup, methods=["POST"]),
        Route("/sim/v1/calls/{uuid}/timeline", timeline, methods=["GET"]),
        Route("/sim/v1/clock", clock, methods=["GET"]),
        Route("/sim/v1/clock/advance", advance, methods=["POST"]),
    ]


__all__ = ["ANSWERS", "routes"]
