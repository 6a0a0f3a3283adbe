"""A customer's voice application, played by a test: a small recording webhook server.

:class:`WebhookApp` is a Starlette app that records every request it receives and
answers each path with a handler the test sets (an NCCO for the answer URL, nothing for
events, a 503 to provoke a retry, a delay to provoke a timeout). Serve it over real
HTTP with :class:`trunkline.testing.server.ServedApp`::

    app = WebhookApp()
    app.route("/answer", [{"action": "talk", "text": "Hello"}])
    app.route("/event", None)
    async with ServedApp(app.asgi()) as served:
        ...  # point the platform at f"{served.url}/answer"
        [answer] = await app.wait_for("/answer")
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class RecordedRequest:
    """One request the app received (header names in lower case)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    at: float
    body: bytes = b""


@dataclass
class _Route:
    handler: Any
    status: int | None
    delay: float


@dataclass
class _Waiter:
    path: str
    count: int
    event: asyncio.Event = field(default_factory=asyncio.Event)


class WebhookApp:
    """Records every request; answers by route with a handler you set.

    GET and POST are accepted on every route; a path with no route answers 404 (and
    is recorded all the same). An exception raised by a handler answers 500 and is
    kept in :attr:`errors`, so a test can see its own handler's bug.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.errors: list[Exception] = []
        self._routes: dict[str, _Route] = {}
        self._counts: Counter[str] = Counter()
        self._waiters: list[_Waiter] = []
        self._app = Starlette(
            routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST"])]
        )

    def route(
        self,
        path: str,
        handler: Callable[[RecordedRequest], Any] | Any,
        *,
        status: int | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer ``path`` with ``handler`` (replacing any earlier route for it).

        ``handler`` is either a callable, called with the :class:`RecordedRequest`
        (it may be ``async``), or a fixed value. The value decides the answer:

        * a list (an NCCO), dict or other JSON-able value → JSON body;
        * None → empty body, status 204 unless ``status`` says otherwise;
        * ``bytes`` → that raw body (``application/octet-stream``);
        * a Starlette :class:`~starlette.responses.Response` → sent as it is.

        ``status`` is the HTTP status to answer with (default 200, or 204 for no
        body). ``delay`` holds the answer that many real seconds — for timeout tests
        only; it ends early when the client goes away.
        """
        if delay < 0:
            raise ValueError("delay must not be negative")
        self._routes[path] = _Route(handler, status, delay)

    def on(self, path: str, *, status: int | None = None, delay: float = 0.0) -> Callable[[F], F]:
        """Decorator form of :meth:`route`."""

        def register(handler: F) -> F:
            self.route(path, handler, status=status, delay=delay)
            return handler

        return register

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The requests received on ``path``, oldest first."""
        return [r for r in self.requests if r.path == path]

    def asgi(self) -> ASGIApp:
        """The ASGI application to serve."""
        return self._app

    async def wait_for(
        self, path: str, count: int = 1, timeout: float = 5.0
    ) -> list[RecordedRequest]:
        """Wait until ``path`` has received at least ``count`` requests; return them all.

        Raises :class:`TimeoutError` after ``timeout`` real seconds.
        """
        if self._counts[path] >= count:
            return self.requests_to(path)
        waiter = _Waiter(path, count)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter.event.wait()
        except TimeoutError:
            raise TimeoutError(
                f"{path}: wanted {count} request(s), got {self._counts[path]} in {timeout}s"
            ) from None
        finally:
            self._waiters.remove(waiter)
        return self.requests_to(path)

    def _record(self, request: RecordedRequest) -> None:
        self.requests.append(request)
        self._counts[request.path] += 1
        for waiter in self._waiters:
            if self._counts[waiter.path] >= waiter.count:
                waiter.event.set()

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            json=_parse_json(body),
            headers={k.lower(): v for k, v in request.headers.items()},
            at=time.monotonic(),
            body=body,
        )
        self._record(recorded)
        route = self._routes.get(recorded.path)
        if route is None:
            return Response(status_code=404)
        if route.delay > 0 and await _client_left_within(request, route.delay):
            return Response(status_code=499)  # nobody is listening any more
        try:
            handler = route.handler
            # a Response is callable too (it is an ASGI app), but it is a fixed value here
            fixed = isinstance(handler, Response) or not callable(handler)
            value = handler if fixed else handler(recorded)
            if inspect.isawaitable(value):
                value = await value
            return _to_response(value, route.status)
        except Exception as exc:  # also a reply that is not JSON-able
            log.exception("webhook handler for %s failed", recorded.path)
            self.errors.append(exc)
            return Response(f"handler failed: {exc!r}", status_code=500)


def _parse_json(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _to_response(value: Any, status: int | None) -> Response:
    if isinstance(value, Response):
        return value
    if value is None:
        return Response(status_code=204 if status is None else status)
    code = 200 if status is None else status
    if isinstance(value, bytes):
        return Response(value, status_code=code, media_type="application/octet-stream")
    return Response(json.dumps(value), status_code=code, media_type="application/json")


async def _client_left_within(request: Request, delay: float) -> bool:
    """Hold for ``delay`` seconds; True as soon as the client disconnects instead."""
    try:
        async with asyncio.timeout(delay):
            while (await request.receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return False
    return True
