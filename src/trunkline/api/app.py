"""The ASGI application: one port for the REST API, the sim API and health."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.api import openapi, sim
from trunkline.api.applications import ApplicationsApi
from trunkline.api.auth import Account, Authenticator
from trunkline.api.calls import CallsApi
from trunkline.api.files import FilesApi
from trunkline.api.numbers import NumbersApi
from trunkline.api.problems import problem
from trunkline.call.runtime import Runtime
from trunkline.errors import CallStateError, NotFound

log = logging.getLogger(__name__)


def create_app(rt: Runtime, *, auth: Authenticator | None = None) -> Starlette:
    """The API for ``rt``; ``auth`` checks credentials (default: the config's account)."""
    if auth is None:
        cfg = rt.config
        account = Account(cfg.api_key, cfg.api_secret) if cfg.api_key and cfg.api_secret else None
        auth = Authenticator(rt.store, account=account)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "live_calls": len(rt.platform.switch.legs)})

    async def not_found(request: Request, exc: Exception) -> Response:
        return problem(404, str(exc))

    async def conflict(request: Request, exc: Exception) -> Response:
        return problem(409, str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return problem(exc.status_code, str(exc.detail))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "An internal error occurred")

    routes = [Route("/health", health, methods=["GET"])]
    routes += CallsApi(rt, auth).routes()
    routes += ApplicationsApi(rt.store, auth).routes()
    routes += NumbersApi(rt.store, auth).routes()
    routes += FilesApi(rt.files, auth).routes()
    routes += openapi.routes()
    if rt.config.sim_enabled:
        routes += sim.routes(rt)
    return Starlette(
        routes=routes,
        exception_handlers={
            NotFound: not_found,
            CallStateError: conflict,
            HTTPException: http_error,
            Exception: server_error,
        },
    )
