"""``/v2/applications``: the Application API v2 with the voice capability (spec §9).

Create, list, get, update (a full replace, as Vonage's PUT is) and delete. Creating an
application returns its key pair (``keys.private_key`` is shown this once) unless the
request brings its own ``keys.public_key``. Requests authenticate with the account's API
key and secret (basic auth, as the SDK sends them) or with any application's JWT.
Capabilities other than ``voice`` are accepted and not kept: trunkline is a voice
platform. Webhook timeouts are milliseconds on the wire and seconds in the domain.

trunkline extension: ``capabilities.voice.trunkline.tts`` (``"espeak"`` or ``"piper"``) is
the TTS engine of the application's talk actions. It is shown only when it is not the
default (so responses stay byte for byte Vonage's otherwise; the SDKs ignore the unknown
key), and a ``PUT`` without it keeps the application's engine (the SDKs cannot send it).
"""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.api.auth import Authenticator, AuthError
from trunkline.api.problems import problem
from trunkline.api.schemas import invalid_parameters, parse_json
from trunkline.domain import DEFAULT_TTS, Application, TtsName, Webhook
from trunkline.keys import generate_key_pair, is_public_key
from trunkline.store.base import Store

Region = Literal["na-east", "na-west", "eu-west", "eu-east", "apac-sng", "apac-australia"]
Method = Annotated[
    Literal["GET", "POST"], BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v)
]


def _http(value: Any) -> Any:
    if isinstance(value, str) and not value.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    return value


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class HookIn(_In):
    address: Annotated[str, BeforeValidator(_http)] = Field(min_length=10, max_length=2048)
    http_method: Method | None = None
    connect_timeout: int | None = Field(
        None,
        ge=300,
        le=1000,
        validation_alias=AliasChoices("connect_timeout", "connection_timeout"),
    )
    socket_timeout: int | None = Field(None, ge=1000, le=10000)


class VoiceWebhooksIn(_In):
    answer_url: HookIn | None = None
    fallback_answer_url: HookIn | None = None
    event_url: HookIn | None = None


class TrunklineVoiceIn(_In):
    """trunkline's own voice settings (an extension: Vonage has no such key)."""

    tts: TtsName | None = None


class VoiceIn(_In):
    webhooks: VoiceWebhooksIn | None = None
    trunkline: TrunklineVoiceIn | None = None
    signed_callbacks: bool | None = None
    conversations_ttl: int | None = Field(None, ge=1, le=9000)
    leg_persistence_time: int | None = Field(None, ge=1, le=31)
    region: Region | None = None


class CapabilitiesIn(_In):
    voice: VoiceIn | None = None


class KeysIn(_In):
    public_key: str | None = None


class PrivacyIn(_In):
    improve_ai: bool | None = None


class ApplicationIn(_In):
    name: str = Field(min_length=1, max_length=255)
    capabilities: CapabilitiesIn | None = None
    keys: KeysIn | None = None
    privacy: PrivacyIn | None = None


class ListQuery(_In):
    page_size: int = Field(100, ge=1, le=100)
    page: int = Field(1, ge=1)


# -- domain <-> wire ---------------------------------------------------------------------


def _hook_out(hook: Webhook) -> dict[str, Any]:
    return {
        "address": hook.address,
        "http_method": hook.http_method,
        "socket_timeout": round(hook.socket_timeout * 1000),
        "connect_timeout": round(hook.connect_timeout * 1000),
    }


def application_json(app: Application, *, private_key: str | None = None) -> dict[str, Any]:
    """An application as the Application API v2 returns it (fixtures in spec/fixtures)."""
    keys: dict[str, str] = {}
    if app.public_key:
        keys["public_key"] = app.public_key
    if private_key:
        keys["private_key"] = private_key
    capabilities: dict[str, Any] = {}
    hooks = {
        name: _hook_out(hook)
        for name, hook in (
            ("event_url", app.event_url),
            ("answer_url", app.answer_url),
            ("fallback_answer_url", app.fallback_answer_url),
        )
        if hook is not None
    }
    if hooks or app.tts != DEFAULT_TTS:
        voice: dict[str, Any] = {
            "webhooks": hooks,
            "signed_callbacks": app.signed_callbacks,
            "conversations_ttl": app.conversations_ttl,
            "leg_persistence_time": app.leg_persistence_time,
        }
        if app.region:
            voice["region"] = app.region
        if app.tts != DEFAULT_TTS:
            voice["trunkline"] = {"tts": app.tts}
        capabilities["voice"] = voice
    return {
        "id": app.id,
        "name": app.name,
        "keys": keys,
        "privacy": {"improve_ai": app.improve_ai},
        "capabilities": capabilities,
        "_links": {"self": {"href": f"/v2/applications/{app.id}"}},
    }


def _hook_in(hook: HookIn | None, method: str, socket_ms: int) -> Webhook | None:
    if hook is None:
        return None
    return Webhook(
        address=hook.address,
        http_method=hook.http_method or method,
        connect_timeout=(hook.connect_timeout or 1000) / 1000,
        socket_timeout=(hook.socket_timeout or socket_ms) / 1000,
    )


def application_from(body: ApplicationIn, app_id: str, public_key: str | None) -> Application:
    voice = body.capabilities.voice if body.capabilities else None
    hooks = voice.webhooks if voice and voice.webhooks else VoiceWebhooksIn()
    extra: dict[str, Any] = {}
    if voice is not None:
        for key in ("signed_callbacks", "conversations_ttl", "leg_persistence_time", "region"):
            value = getattr(voice, key)
            if value is not None:
                extra[key] = value
        if voice.trunkline is not None and voice.trunkline.tts is not None:
            extra["tts"] = voice.trunkline.tts
    if body.privacy is not None and body.privacy.improve_ai is not None:
        extra["improve_ai"] = body.privacy.improve_ai
    return Application(
        id=app_id,
        name=body.name,
        answer_url=_hook_in(hooks.answer_url, "GET", 5000),
        event_url=_hook_in(hooks.event_url, "POST", 10000),
        fallback_answer_url=_hook_in(hooks.fallback_answer_url, "GET", 5000),
        public_key=public_key,
        **extra,
    )


class ApplicationsApi:
    def __init__(self, store: Store, auth: Authenticator) -> None:
        self.store = store
        self.auth = auth

    def routes(self) -> list[Route]:
        return [
            Route("/v2/applications", self.list, methods=["GET"]),
            Route("/v2/applications", self.create, methods=["POST"]),
            Route("/v2/applications/{id}", self.get, methods=["GET"]),
            Route("/v2/applications/{id}", self.update, methods=["PUT"]),
            Route("/v2/applications/{id}", self.delete, methods=["DELETE"]),
        ]

    def _check(self, request: Request) -> Response | None:
        try:
            self.auth.account_or_application(request.headers.get("authorization"))
        except AuthError as exc:
            return problem(401, str(exc))
        return None

    async def _body(self, request: Request) -> ApplicationIn | Response:
        try:
            data = parse_json(await request.body())
        except (ValueError, UnicodeDecodeError):
            return problem(400, "The request body is not valid JSON")
        if not isinstance(data, dict):
            return problem(400, "The request body must be a JSON object")
        try:
            body = ApplicationIn.model_validate(data)
        except ValidationError as exc:
            return problem(400, "Invalid request", invalid_parameters=invalid_parameters(exc))
        key = body.keys.public_key if body.keys else None
        if key is not None and not is_public_key(key):
            return problem(
                400,
                "Invalid request",
                invalid_parameters=[{"name": "keys.public_key", "reason": "not an RSA public key"}],
            )
        return body

    async def list(self, request: Request) -> Response:
        denied = self._check(request)
        if denied is not None:
            return denied
        try:
            query = ListQuery.model_validate(dict(request.query_params))
        except ValidationError as exc:
            return problem(400, "Invalid request", invalid_parameters=invalid_parameters(exc))
        apps = self.store.list_applications()
        size, page = query.page_size, query.page
        total_pages = max(1, math.ceil(len(apps) / size))
        shown = apps[(page - 1) * size : page * size]

        def href(p: int | None) -> dict[str, str]:
            tail = f"&page={p}" if p is not None else ""
            return {"href": f"/v2/applications?page_size={size}{tail}"}

        links = {"self": href(page), "first": href(None), "last": href(total_pages)}
        if page < total_pages:
            links["next"] = href(page + 1)
        if page > 1:
            links["prev"] = href(page - 1)
        return JSONResponse(
            {
                "page_size": size,
                "page": page,
                "total_items": len(apps),
                "total_pages": total_pages,
                "_embedded": {"applications": [application_json(a) for a in shown]},
                "_links": links,
            }
        )

    async def create(self, request: Request) -> Response:
        denied = self._check(request)
        if denied is not None:
            return denied
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        private_key = None
        public_key = body.keys.public_key if body.keys else None
        if public_key is None:
            pair = generate_key_pair()
            public_key, private_key = pair.public_key, pair.private_key
        app = application_from(body, str(uuid.uuid4()), public_key)
        self.store.put_application(app)
        return JSONResponse(application_json(app, private_key=private_key), status_code=201)

    async def get(self, request: Request) -> Response:
        denied = self._check(request)
        if denied is not None:
            return denied
        app = self.store.get_application(request.path_params["id"])
        if app is None:
            return _missing(request.path_params["id"])
        return JSONResponse(application_json(app))

    async def update(self, request: Request) -> Response:
        denied = self._check(request)
        if denied is not None:
            return denied
        old = self.store.get_application(request.path_params["id"])
        if old is None:
            return _missing(request.path_params["id"])
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        public_key = body.keys.public_key if body.keys and body.keys.public_key else old.public_key
        app = application_from(body, old.id, public_key)
        if app.call_rate_limit is None and old.call_rate_limit is not None:
            app = Application(**{**vars(app), "call_rate_limit": old.call_rate_limit})
        if not _sets_tts(body):
            app = Application(**{**vars(app), "tts": old.tts})
        self.store.put_application(app)
        return JSONResponse(application_json(app))

    async def delete(self, request: Request) -> Response:
        denied = self._check(request)
        if denied is not None:
            return denied
        if not self.store.delete_application(request.path_params["id"]):
            return _missing(request.path_params["id"])
        return Response(status_code=204)


def _sets_tts(body: ApplicationIn) -> bool:
    voice = body.capabilities.voice if body.capabilities else None
    return voice is not None and voice.trunkline is not None and voice.trunkline.tts is not None


def _missing(app_id: str) -> Response:
    return problem(404, f"Application '{app_id}' does not exist, or you do not have access")
