"""The testing kit's webhook port: in-process web apps or real URLs, every request recorded.

:class:`KitWebhooks` implements the engine's ``Webhooks`` port. A webhook whose URL
points at an app registered in-process (by origin, ``http://app.test``) is handed to
that app through WSGI (called inline) or ASGI (a task on the event loop that drives
virtual time, counted as outside work so that virtual time waits for it). Any other
URL goes over real HTTP through :class:`~trunkline.call.webhooks.HttpWebhooks`.

Events are stored before delivery, as the real platform does, and every request
becomes an :class:`Exchange`: what was sent, at what virtual time, and what came back.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from trunkline.clock import VirtualClock
from trunkline.domain import EventRecord, TimelineEntry
from trunkline.engine.hooks import NCCO_KINDS, Hook, HookResult
from trunkline.store.base import Store
from trunkline.testing.inprocess import (
    AppKind,
    AppRequest,
    AppResponse,
    ASGIApp,
    call_asgi,
    call_wsgi,
)

if TYPE_CHECKING:  # the HTTP path loads aiohttp: only when an app is given as a URL
    from trunkline.call.webhooks import HttpWebhooks
    from trunkline.webhooks.client import WebhookRequest, WebhookResponse

log = logging.getLogger(__name__)

OnResult = Callable[[HookResult], None]


@dataclass
class Exchange:
    """One webhook request an application was sent, and what it answered.

    ``status`` is the *event's* status field (``"ringing"``, ``"completed"`` …), as an
    app developer reads it; the HTTP status of the answer is ``response_status``.
    ``t`` is the virtual time (POSIX seconds) the request was made.
    """

    index: int
    kind: str  # answer, fallback, status, input, record, notify, connect, error, transfer
    method: str
    url: str
    body: dict[str, Any]
    call_uuid: str | None
    conversation_uuid: str | None
    t: float
    in_process: bool
    response_status: int | None = None
    reply: Any = None
    text: str = ""
    error: str | None = None
    latency: float = 0.0  # wall-clock seconds the app took
    done: bool = False

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def status(self) -> str | None:
        value = self.body.get("status")
        return str(value) if value is not None else None

    @property
    def is_event(self) -> bool:
        return self.kind not in ("answer", "fallback", "transfer")

    @property
    def ncco(self) -> list[Any] | None:
        """The NCCO the app answered with, when it answered one."""
        if self.kind in NCCO_KINDS and isinstance(self.reply, list) and self.reply:
            return self.reply
        return None

    def describe(self) -> str:
        if not self.done:
            answer = "pending"
        elif self.error:
            answer = self.error
        else:
            answer = f"HTTP {self.response_status}"
        return f"{self.kind} {self.method} {self.url} -> {answer}"


@dataclass
class InProcessApp:
    """A WSGI or ASGI app answering every URL of ``origin`` (``scheme://host[:port]``)."""

    name: str
    origin: str
    app: Any
    kind: AppKind


class AppError(AssertionError):
    """The application under test raised an exception while answering a webhook."""


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class KitWebhooks:
    """The ``Webhooks`` port of a :class:`~trunkline.testing.kit.VoiceNetwork`."""

    def __init__(
        self, clock: VirtualClock, store: Store, *, raise_app_exceptions: bool = True
    ) -> None:
        self.clock = clock
        self.store = store
        self.raise_app_exceptions = raise_app_exceptions
        self.apps: dict[str, InProcessApp] = {}
        self.exchanges: list[Exchange] = []
        self.app_errors: list[tuple[Exchange, BaseException]] = []
        self.unraised: list[tuple[Exchange, BaseException]] = []
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop driving time now
        self.io_loop: asyncio.AbstractEventLoop | None = None  # where outside work last ran
        self.http: HttpWebhooks | None = None
        self.http_loop: asyncio.AbstractEventLoop | None = None
        self._queue: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # plain events reach an ASGI app in order per call, as HttpWebhooks delivers them
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._http_waiting: dict[int, deque[Exchange]] = {}
        self._flask_raised: list[BaseException] = []

    # -- wiring --------------------------------------------------------------------------
    def mount(self, app: InProcessApp) -> None:
        self.apps[app.origin] = app
        flask = sys.modules.get("flask")
        if flask is not None and isinstance(app.app, flask.Flask):
            # Flask answers 500 and keeps the exception to itself unless app.testing is
            # set; its got_request_exception signal tells us (weakly held receiver).
            flask.got_request_exception.connect(self._flask_exception, sender=app.app)

    def _flask_exception(self, sender: object, exception: BaseException, **extra: Any) -> None:
        self._flask_raised.append(exception)

    def unmount_all(self) -> None:
        flask = sys.modules.get("flask")
        for app in self.apps.values():
            if flask is not None and isinstance(app.app, flask.Flask):
                flask.got_request_exception.disconnect(self._flask_exception, sender=app.app)
        self.apps.clear()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """``loop`` now drives virtual time: start the work that waited for one."""
        if self.clock.io_pending > 0 and self.io_loop is not None and self.io_loop is not loop:
            raise RuntimeError(
                "webhooks are still in flight on another event loop; in an async test, "
                "use the *_async methods (await call.wait_until_async(...)) throughout"
            )
        self.loop = loop
        queued, self._queue = self._queue, []
        for start in queued:
            start()

    def unbind(self) -> None:
        self.loop = None

    def _soon(self, start: Callable[[], None]) -> None:
        if self.loop is None:
            self._queue.append(start)
        else:
            start()

    @property
    def failed(self) -> bool:
        """An in-process app raised, and the kit is to raise it."""
        return bool(self.unraised) and self.raise_app_exceptions

    def take_error(self) -> AppError | None:
        if not self.failed:
            return None
        ex, exc = self.unraised[0]
        self.unraised.clear()
        err = AppError(
            f"the application raised {type(exc).__name__}: {exc} while answering "
            f"{ex.method} {ex.url} (webhook {ex.kind!r}, body {ex.body})"
        )
        err.__cause__ = exc
        return err

    # -- the port ------------------------------------------------------------------------------
    def send(self, hook: Hook, on_result: OnResult | None = None) -> None:
        app = self.apps.get(origin_of(hook.url))
        ex = Exchange(
            index=len(self.exchanges),
            kind=hook.kind,
            method=(hook.method or "POST").upper(),
            url=hook.url,
            body=hook.body,
            call_uuid=hook.call_uuid,
            conversation_uuid=hook.conversation_uuid,
            t=self.clock.now(),
            in_process=app is not None,
        )
        self.exchanges.append(ex)
        if app is None:
            self._soon(lambda: self._send_http(hook, ex, on_result))
            return
        event = self._store_event(hook)
        request = AppRequest(ex.method, hook.url, hook.body, hook.headers)
        if app.kind == "wsgi":
            started = time.perf_counter()
            self._flask_raised.clear()
            try:
                response: AppResponse | None = call_wsgi(app.app, request)
            except Exception as exc:
                self._app_raised(ex, exc)
                response = None
            if self._flask_raised and response is not None:
                self._app_raised(ex, self._flask_raised[0])
            self._flask_raised.clear()
            self._finish(ex, hook, event, response, time.perf_counter() - started, on_result)
        else:
            self._soon(lambda: self._start_asgi(app, request, hook, ex, event, on_result))

    def _start_asgi(
        self,
        app: InProcessApp,
        request: AppRequest,
        hook: Hook,
        ex: Exchange,
        event: EventRecord | None,
        on_result: OnResult | None,
    ) -> None:
        loop = self.loop
        assert loop is not None
        self.clock.io_begin()
        self.io_loop = loop
        lane = hook.call_uuid if on_result is None else None
        before = self._lanes.get(lane) if lane else None
        task = loop.create_task(self._asgi(app, request, hook, ex, event, on_result, before))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if lane:
            self._lanes[lane] = task

            def release(done: asyncio.Task[None], key: str = lane) -> None:
                if self._lanes.get(key) is done:
                    del self._lanes[key]

            task.add_done_callback(release)

    async def _asgi(
        self,
        app: InProcessApp,
        request: AppRequest,
        hook: Hook,
        ex: Exchange,
        event: EventRecord | None,
        on_result: OnResult | None,
        before: asyncio.Task[None] | None = None,
    ) -> None:
        if before is not None:
            await asyncio.wait([before])  # the call's previous event first
        started = time.perf_counter()
        response: AppResponse | None = None
        try:
            asgi: ASGIApp = app.app
            response = await call_asgi(asgi, request)
        except Exception as exc:
            self._app_raised(ex, exc)
        finally:
            try:
                self._finish(ex, hook, event, response, time.perf_counter() - started, on_result)
            finally:
                self.clock.io_end()

    def _app_raised(self, ex: Exchange, exc: BaseException) -> None:
        log.error("the application failed on %s %s: %r", ex.method, ex.url, exc)
        self.app_errors.append((ex, exc))
        if self.raise_app_exceptions:
            self.unraised.append((ex, exc))

    def _store_event(self, hook: Hook) -> EventRecord | None:
        if not hook.is_event:
            return None
        event = EventRecord(
            call_uuid=hook.call_uuid,
            conversation_uuid=hook.conversation_uuid,
            kind=hook.kind,
            url=hook.url,
            method=hook.method,
            body=dict(hook.body),
            created_at=self.clock.now(),
        )
        self.store.add_event(event)  # stored before it is sent
        return event

    def _finish(
        self,
        ex: Exchange,
        hook: Hook,
        event: EventRecord | None,
        response: AppResponse | None,
        latency: float,
        on_result: OnResult | None,
    ) -> None:
        if response is None:  # the app raised: a server answers 500
            result = HookResult(status=500, error=None, latency=latency)
            ex.text = "(the application raised an exception)"
        else:
            result = HookResult(status=response.status, json=response.json(), latency=latency)
            ex.text = response.text
        ex.response_status, ex.reply, ex.latency, ex.done = (
            result.status,
            result.json,
            latency,
            True,
        )
        now = self.clock.now()
        if event is not None:
            event.attempts += 1
            event.response_status = result.status
            event.state = "delivered" if result.ok else "failed"
            event.delivered_at = now if result.ok else None
            self.store.update_event(event)
        self.store.add_timeline(
            TimelineEntry(
                t=now,
                kind="webhook",
                summary=(
                    f"{ex.method} {hook.url} -> {result.describe()} in {latency * 1000:.1f} ms"
                ),
                call_uuid=hook.call_uuid,
                conversation_uuid=hook.conversation_uuid,
                data={
                    "kind": hook.kind,
                    "method": ex.method,
                    "url": hook.url,
                    "status": result.status,
                    "error": None,
                    "latency_ms": round(latency * 1000, 2),
                    "exchange": ex.index,
                },
            )
        )
        if on_result is not None:
            self.clock.call_soon(lambda: on_result(result))

    # -- real HTTP ---------------------------------------------------------------------------
    def _send_http(self, hook: Hook, ex: Exchange, on_result: OnResult | None) -> None:
        loop = self.loop
        assert loop is not None
        if self.http is None:
            from trunkline.call.webhooks import HttpWebhooks
            from trunkline.testing.http_client import RecordingClient

            self.http = HttpWebhooks(self.clock, self.store, client=RecordingClient(self))
            self.http_loop = loop
        elif self.http_loop is not loop:
            raise RuntimeError(
                "this network already sent webhooks over HTTP from another event loop; "
                "in an async test, use the *_async methods throughout"
            )
        self.io_loop = loop
        self._http_waiting.setdefault(id(hook.body), deque()).append(ex)
        self.http.send(hook, on_result)

    def http_answered(self, req: WebhookRequest, res: WebhookResponse) -> None:
        waiting = self._http_waiting.get(id(req.body))
        if not waiting:
            return
        ex = waiting.popleft()
        if not waiting:
            del self._http_waiting[id(req.body)]
        ex.response_status, ex.reply, ex.text = res.status, res.json, res.text
        ex.error, ex.latency, ex.done = res.error, res.latency, True

    # -- closing -------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Wait for in-process requests in flight on this loop; close the HTTP client."""
        loop = asyncio.get_running_loop()
        mine = [t for t in self._tasks if t.get_loop() is loop]
        if mine:
            await asyncio.gather(*mine, return_exceptions=True)
        if self.http is not None and self.http_loop is loop:
            http, self.http = self.http, None
            await http.aclose()
