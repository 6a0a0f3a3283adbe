"""``/v1/calls``: the Voice REST API (spec/VOICE-API.md §5), shaped as Vonage shapes it.

Every request needs the application's JWT (:mod:`trunkline.api.auth`); a call is
visible only to the application that owns it (another application gets 404, as for
a call in another region). Bodies are validated by :mod:`trunkline.api.schemas` and
errors are problem documents naming the parameter at fault. The commands go to the
engine's :class:`~trunkline.engine.switch.Switch`; after each one the runtime settles
the virtual clock so what is due now has happened before the response.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.api.auth import Authenticator, AuthError, RateLimited
from trunkline.api.problems import problem
from trunkline.api.schemas import (
    CreateCall,
    DtmfBody,
    ListQuery,
    ModifyCall,
    StreamBody,
    TalkBody,
    invalid_parameters,
    ncco_parameters,
    parse_json,
)
from trunkline.call.runtime import Runtime
from trunkline.clock import iso
from trunkline.domain import Application, CallRecord
from trunkline.engine.ports import Prompt
from trunkline.engine.switch import CallOptions
from trunkline.errors import CallStateError, NccoError, NotFound
from trunkline.ncco import Action, parse_endpoint, parse_ncco
from trunkline.ncco.models import ENDPOINT_ADAPTER

Handler = Callable[[Request, Application], Awaitable[Response]]

#: The keys that identify an endpoint in a call object (spec §7.1).
_ENDPOINT_KEYS = ("number", "uri", "user", "extension")


def call_json(rec: CallRecord) -> dict[str, Any]:
    """A call object as ``GET /v1/calls/{uuid}`` returns it (strings where Vonage has them)."""
    body: dict[str, Any] = {
        "_links": {"self": {"href": f"/v1/calls/{rec.uuid}"}},
        "uuid": rec.uuid,
        "conversation_uuid": rec.conversation_uuid,
        "direction": rec.direction,
        "status": rec.status,
        "to": endpoint_json(rec.to),
        "from": endpoint_json(rec.from_),
    }
    if rec.rate is not None:
        body["rate"] = rec.rate
    if rec.price is not None:
        body["price"] = rec.price
    if rec.duration is not None:
        body["duration"] = str(rec.duration)
    if rec.start_time is not None:
        body["start_time"] = iso(rec.start_time)
    if rec.end_time is not None:
        body["end_time"] = iso(rec.end_time)
    if rec.network is not None:
        body["network"] = rec.network
    return body


def endpoint_json(ep: dict[str, Any]) -> dict[str, Any]:
    """``{type, number}`` (or uri/user/extension), as in the call object fixtures."""
    kind = str(ep.get("type") or "phone")
    out: dict[str, Any] = {"type": kind}
    for key in _ENDPOINT_KEYS:
        if ep.get(key):
            out[key] = str(ep[key])
            break
    else:
        if kind == "phone":
            out["number"] = ""
    return out


class CallsApi:
    """The handlers, sharing the runtime, the authenticator and the plays to stop."""

    def __init__(self, rt: Runtime, auth: Authenticator) -> None:
        self.rt = rt
        self.auth = auth
        # play ids started by PUT …/talk and …/stream, per call, so DELETE can stop them
        self._plays: dict[tuple[str, str], list[int]] = {}

    def routes(self) -> list[Route]:
        return [
            Route("/v1/calls", self._authed(self.create), methods=["POST"]),
            Route("/v1/calls", self._authed(self.list), methods=["GET"]),
            Route("/v1/calls/{uuid}", self._authed(self.get), methods=["GET"]),
            Route("/v1/calls/{uuid}", self._authed(self.modify), methods=["PUT"]),
            Route("/v1/calls/{uuid}/talk", self._authed(self.talk), methods=["PUT"]),
            Route("/v1/calls/{uuid}/talk", self._authed(self.stop_talk), methods=["DELETE"]),
            Route("/v1/calls/{uuid}/stream", self._authed(self.stream), methods=["PUT"]),
            Route("/v1/calls/{uuid}/stream", self._authed(self.stop_stream), methods=["DELETE"]),
            Route("/v1/calls/{uuid}/dtmf", self._authed(self.dtmf), methods=["PUT"]),
        ]

    def _authed(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                app = self.auth.application(request.headers.get("authorization"))
            except AuthError as exc:
                return problem(401, str(exc))
            try:
                return await handler(request, app)
            except NotFound:
                uuid = request.path_params.get("uuid", "")
                return _not_found(uuid)
            except CallStateError as exc:
                return problem(400, str(exc))

        return endpoint

    # -- create and read ----------------------------------------------------------------
    async def create(self, request: Request, app: Application) -> Response:
        body = await _validated(request, CreateCall)
        if isinstance(body, Response):
            return body
        assert isinstance(body, CreateCall)
        try:
            endpoint = parse_endpoint(body.to[0], "/to/0")
        except NccoError as exc:
            return _bad("The to endpoint is invalid", ncco_parameters("", exc.issues))
        ncco: tuple[Action, ...] | None = None
        if body.ncco is not None:
            try:
                ncco = parse_ncco(body.ncco).actions
            except NccoError as exc:
                return _bad("The NCCO is invalid", ncco_parameters("ncco", exc.issues))
        if body.event_url is None and (app.event_url is None):
            return _bad(
                "No event_url: give one, or set the application's event_url",
                [{"name": "event_url", "reason": "is required (the application has none)"}],
            )
        switch = self.rt.platform.switch
        if body.from_ is not None:
            from_ = {"type": "phone", "number": body.from_.number}
        else:
            number = switch.random_number(app)
            if number is None:
                return _bad(
                    "random_from_number: no number is linked to the application",
                    [{"name": "random_from_number", "reason": "no number linked to the app"}],
                )
            from_ = {"type": "phone", "number": number}
        try:
            self.auth.admit_call(app)
        except RateLimited as exc:
            return problem(429, str(exc))
        amd = body.advanced_machine_detection
        to = ENDPOINT_ADAPTER.dump_python(endpoint, by_alias=True, exclude_none=True)
        leg = switch.create_call(
            app,
            CallOptions(
                to=to,
                from_=from_,
                ncco=ncco,
                answer_url=body.answer_url[0] if body.answer_url else None,
                answer_method=body.answer_method,
                event_url=body.event_url[0] if body.event_url else None,
                event_method=body.event_method,
                machine_detection=amd.behavior if amd is not None else body.machine_detection,
                amd_mode=amd.mode if amd is not None else None,
                beep_timeout=float(amd.beep_timeout) if amd is not None else 45.0,
                length_timer=float(body.length_timer),
                ringing_timer=float(body.ringing_timer),
            ),
        )
        created = {
            "uuid": leg.uuid,
            "status": "started",
            "direction": "outbound",
            "conversation_uuid": leg.conversation_uuid,
        }
        await self.rt.settle()
        return JSONResponse(created, status_code=201)

    async def list(self, request: Request, app: Application) -> Response:
        from trunkline.store.base import CallFilter

        try:
            query = ListQuery.model_validate(dict(request.query_params))
        except ValidationError as exc:
            return _bad("The query failed validation", invalid_parameters(exc))
        dates: dict[str, float | None] = {}
        for name in ("date_start", "date_end"):
            text = getattr(query, name)
            try:
                dates[name] = _parse_date(text) if text else None
            except ValueError:
                return _bad(
                    f"{name} is not an ISO-8601 time",
                    [{"name": name, "reason": "must be ISO-8601, e.g. 2016-11-14T07:45:14Z"}],
                )
        flt = CallFilter(
            status=query.status,
            date_start=dates["date_start"],
            date_end=dates["date_end"],
            conversation_uuid=query.conversation_uuid,
            application_id=app.id,
            page_size=query.page_size,
            record_index=query.record_index,
            order=query.order,
        )
        count, calls = self.rt.store.list_calls(flt)
        base = str(request.base_url).rstrip("/") + "/v1/calls"
        kept = {
            k: v
            for k, v in query.model_dump().items()
            if v is not None
            and k not in ("page_size", "record_index")
            and k in request.query_params
        }
        links = _page_links(base, kept, query.page_size, query.record_index, count)
        return JSONResponse(
            {
                "count": count,
                "page_size": query.page_size,
                "record_index": query.record_index,
                "_links": links,
                "_embedded": {"calls": [call_json(c) for c in calls]},
            }
        )

    async def get(self, request: Request, app: Application) -> Response:
        rec = self._owned(request, app)
        if isinstance(rec, Response):
            return rec
        return JSONResponse(call_json(rec))

    # -- modify ---------------------------------------------------------------------------
    async def modify(self, request: Request, app: Application) -> Response:
        checked = await self._command(request, app, ModifyCall)
        if isinstance(checked, Response):
            return checked
        rec, body = checked
        assert isinstance(body, ModifyCall)
        switch = self.rt.platform.switch
        if body.action == "hangup":
            switch.hangup(rec.uuid)
        elif body.action in ("mute", "unmute"):
            switch.mute(rec.uuid, body.action == "mute")
        elif body.action in ("earmuff", "unearmuff"):
            switch.earmuff(rec.uuid, body.action == "earmuff")
        else:
            dest = body.destination
            assert dest is not None
            if dest.ncco is not None:
                try:
                    actions = parse_ncco(dest.ncco).actions
                except NccoError as exc:
                    return _bad(
                        "The transfer NCCO is invalid",
                        ncco_parameters("destination.ncco", exc.issues),
                    )
                switch.transfer(rec.uuid, ncco=actions)
            else:
                assert dest.url is not None
                switch.transfer(rec.uuid, url=dest.url[0])
        await self.rt.settle()
        return Response(status_code=204)

    async def talk(self, request: Request, app: Application) -> Response:
        body = await _validated(request, TalkBody)
        if isinstance(body, Response):
            return body
        assert isinstance(body, TalkBody)
        prompt = Prompt(
            kind="tts",
            text=body.text,
            language=body.language,
            style=body.style,
            premium=body.premium,
            level=body.level,
            loop=body.loop,
            engine=app.tts,
        )
        return await self._play(request, app, "talk", prompt, "Talk started")

    async def stream(self, request: Request, app: Application) -> Response:
        body = await _validated(request, StreamBody)
        if isinstance(body, Response):
            return body
        assert isinstance(body, StreamBody)
        prompt = Prompt(kind="stream", text=body.stream_url[0], level=body.level, loop=body.loop)
        return await self._play(request, app, "stream", prompt, "Stream started")

    async def _play(
        self, request: Request, app: Application, kind: str, prompt: Prompt, message: str
    ) -> Response:
        rec = self._owned(request, app)
        if isinstance(rec, Response):
            return rec
        ended = self._ended(rec)
        if ended is not None:
            return ended
        play_id = self.rt.platform.switch.play(rec.uuid, prompt)
        self._plays.setdefault((rec.uuid, kind), []).append(play_id)
        await self.rt.settle()
        return JSONResponse({"message": message, "uuid": rec.uuid})

    async def stop_talk(self, request: Request, app: Application) -> Response:
        return await self._stop(request, app, "talk", "Talk stopped")

    async def stop_stream(self, request: Request, app: Application) -> Response:
        return await self._stop(request, app, "stream", "Stream stopped")

    async def _stop(self, request: Request, app: Application, kind: str, message: str) -> Response:
        rec = self._owned(request, app)
        if isinstance(rec, Response):
            return rec
        ended = self._ended(rec)
        if ended is not None:
            self._forget(rec.uuid)
            return ended
        switch = self.rt.platform.switch
        for play_id in self._plays.pop((rec.uuid, kind), []):
            switch.stop_play(rec.uuid, play_id)
        await self.rt.settle()
        return JSONResponse({"message": message, "uuid": rec.uuid})

    async def dtmf(self, request: Request, app: Application) -> Response:
        checked = await self._command(request, app, DtmfBody)
        if isinstance(checked, Response):
            return checked
        rec, body = checked
        assert isinstance(body, DtmfBody)
        self.rt.platform.switch.send_dtmf(rec.uuid, body.digits)
        await self.rt.settle()
        return JSONResponse({"message": "DTMF sent", "uuid": rec.uuid})

    # -- helpers --------------------------------------------------------------------------
    async def _command(
        self, request: Request, app: Application, model: type[Any]
    ) -> tuple[CallRecord, Any] | Response:
        """A command on one of the application's calls: the call, its body checked,
        and the call still live (in that order, so the first problem found is reported)."""
        rec = self._owned(request, app)
        if isinstance(rec, Response):
            return rec
        body = await _validated(request, model)
        if isinstance(body, Response):
            return body
        ended = self._ended(rec)
        if ended is not None:
            return ended
        return rec, body

    def _owned(self, request: Request, app: Application) -> CallRecord | Response:
        uuid = request.path_params["uuid"]
        rec = self.rt.store.get_call(uuid)
        if rec is None or rec.application_id != app.id:
            return _not_found(uuid)
        return rec

    def _ended(self, rec: CallRecord) -> Response | None:
        if rec.is_final or rec.uuid not in self.rt.platform.switch.legs:
            self._forget(rec.uuid)
            return problem(
                400,
                f"Call {rec.uuid} has ended (status {rec.status}); it can no longer be changed",
                invalid_parameters=[{"name": "uuid", "reason": f"the call is {rec.status}"}],
            )
        return None

    def _forget(self, uuid: str) -> None:
        for kind in ("talk", "stream"):
            self._plays.pop((uuid, kind), None)


async def _validated(request: Request, model: type[Any]) -> Any:
    try:
        data = parse_json(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return problem(400, f"The request body is not valid JSON: {msg}")
    if not isinstance(data, dict):
        return problem(400, "The request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return _bad("The request failed validation", invalid_parameters(exc))


def _bad(detail: str, params: list[dict[str, str]]) -> Response:
    return problem(400, detail, invalid_parameters=params)


def _not_found(uuid: str) -> Response:
    return problem(404, f"ID '{uuid}' does not exist, or you do not have access")


def _parse_date(text: str) -> float:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError("no time zone")
    return dt.timestamp()


def _page_links(
    base: str, kept: dict[str, Any], page_size: int, record_index: int, count: int
) -> dict[str, dict[str, str]]:
    """HAL links; absolute hrefs (docs/compatibility.md: the Node SDK follows ``next``)."""

    def href(index: int | None) -> str:
        params = {**kept, "page_size": page_size}
        if index is not None:
            params["record_index"] = index
        return f"{base}?{urlencode(params)}"

    last = max(0, (count - 1) // page_size * page_size) if count else 0
    links = {
        "self": {"href": href(record_index)},
        "first": {"href": href(None)},
        "last": {"href": href(last)},
    }
    if record_index + page_size < count:
        links["next"] = {"href": href(record_index + page_size)}
    if record_index > 0:
        links["prev"] = {"href": href(max(0, record_index - page_size))}
    return links
