"""The engine's Webhooks port, made real.

:class:`HttpWebhooks` stores every event in the store's outbox before it is sent and
delivers plain events (those whose reply is ignored) at least once, in order per call:
each call has a lane, and an event that fails holds back the later events of its call
(and only of its call) while it waits for its next attempt. How often and how long it
is retried is the :class:`~trunkline.webhooks.outbox.RetryPolicy`'s decision (durable
mode by default: backoff with jitter up to a horizon; or Vonage's bounded retries).
Backoff waits are timers on the clock — virtual time in tests. Each event request
carries ``X-Trunkline-Event-Id`` (the outbox id, the same on every attempt and after a
restart) so that applications can drop duplicates.

NCCO fetches (answer, fallback, transfer, and input/notify events) are made at once, one
attempt each: their retries and fallback are the engine's (``Switch.fetch``). Results go
back to the engine through the clock, so virtual time waits for real HTTP.

When a :class:`~trunkline.webhooks.signing.WebhookSigner` is given, requests for calls
of applications with ``signed_callbacks`` carry a signed JWT (spec §6.2).

:class:`InProcessWebhooks` calls a Python function instead — for unit tests and
benchmarks of the engine.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from trunkline.clock import Clock, TimerHandle
from trunkline.domain import EventRecord, TimelineEntry
from trunkline.engine.hooks import Hook, HookResult
from trunkline.store.base import Store
from trunkline.webhooks.client import WebhookClient, WebhookRequest
from trunkline.webhooks.outbox import RetryPolicy, hook_for, stored_url
from trunkline.webhooks.signing import WebhookSigner

log = logging.getLogger(__name__)

OnResult = Callable[[HookResult], None]

#: The header that names an event: its outbox id, the same on every attempt.
EVENT_ID_HEADER: Final = "X-Trunkline-Event-Id"
#: Which attempt at the event this request is (1 for the first).
ATTEMPT_HEADER: Final = "X-Trunkline-Attempt"
#: Calls whose application id is remembered for signing (one lookup per call).
_APP_CACHE_SIZE: Final = 10_000


def outbox_record(hook: Hook, now: float) -> EventRecord:
    """The stored form of an event, written before it is sent."""
    return EventRecord(
        call_uuid=hook.call_uuid,
        conversation_uuid=hook.conversation_uuid,
        kind=hook.kind,
        url=hook.url,
        method=hook.method,
        body=dict(hook.body),
        created_at=now,
    )


@dataclass
class _Job:
    """A plain event on its way: the request, its outbox record, its retry timer."""

    hook: Hook
    event: EventRecord
    first_attempt_at: float | None = None
    timer: TimerHandle | None = None


class HttpWebhooks:
    """Webhooks over HTTP, with a durable outbox for events (see the module docstring).

    ``policy`` decides retries of plain events; ``signer`` signs requests; ``rng`` draws
    the backoff jitter; ``wall_clock`` gives the signatures' ``iat`` (real time even on
    a virtual clock: receivers compare it with theirs). At most ``max_in_flight``
    event attempts are in flight at once (below the client's per-host pool limit).
    """

    def __init__(
        self,
        clock: Clock,
        store: Store,
        client: WebhookClient | None = None,
        *,
        policy: RetryPolicy | None = None,
        signer: WebhookSigner | None = None,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
        max_in_flight: int = 64,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.clock = clock
        self.store = store
        self.client = client or WebhookClient()
        self.policy = policy or RetryPolicy()
        self.signer = signer
        self.rng = rng or random.Random()
        self.wall_clock = wall_clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._lanes: dict[str, deque[_Job]] = {}
        self._app_of_call: dict[str, str | None] = {}
        self._closed = False
        # plain-event attempts in flight at once; lanes whose next attempt waits for a
        # slot queue here (kept below the client's pool size, so that no attempt spends
        # its connect timeout waiting for a pooled connection)
        self.max_in_flight = max_in_flight
        self._in_flight = 0
        self._waiting: deque[tuple[str, deque[_Job]]] = deque()

    # -- the port -------------------------------------------------------------------------
    def send(self, hook: Hook, on_result: OnResult | None = None) -> None:
        event: EventRecord | None = None
        if hook.is_event:
            event = outbox_record(hook, self.clock.now())
            event.url = stored_url(hook)
            self.store.add_event(event)  # stored before it is sent
        if event is not None and on_result is None:
            self._enqueue(_Job(hook, event))
            return
        self._spawn(self._once(hook, event, on_result))

    # -- restart recovery -----------------------------------------------------------------
    def resume(self, events: list[EventRecord]) -> int:
        """Deliver outbox records left pending (by a previous process), same ids."""
        for event in events:
            if event.id is None or event.state != "pending":
                raise ValueError(f"not a pending stored event: {event!r}")
            self._enqueue(_Job(hook_for(event), event))
        return len(events)

    def recover(self, limit: int = 100_000) -> int:
        """Queue every pending event in the store for delivery; how many there were."""
        events = self.store.pending_events(limit)
        if len(events) == limit:
            log.warning("recovering the first %d pending events only", limit)
        count = self.resume(events)
        if count:
            log.info("delivering %d event(s) left pending by a previous run", count)
        return count

    @property
    def queued(self) -> int:
        """Plain events not yet delivered or given up (in flight or waiting)."""
        return sum(len(lane) for lane in self._lanes.values())

    # -- plain events: lanes ----------------------------------------------------------------
    def _enqueue(self, job: _Job) -> None:
        key = job.hook.call_uuid or f"event-{job.event.id}"
        lane = self._lanes.get(key)
        if lane is not None:
            lane.append(job)  # waits for the events before it
            return
        lane = self._lanes[key] = deque([job])
        self._start(key, lane)

    def _start(self, key: str, lane: deque[_Job]) -> None:
        if self._closed:
            return
        if self._in_flight >= self.max_in_flight:
            self._waiting.append((key, lane))
            return
        self._in_flight += 1
        self._spawn(self._attempt(key, lane, lane[0]))

    async def _attempt(self, key: str, lane: deque[_Job], job: _Job) -> None:
        event = job.event
        done = True
        try:
            if job.first_attempt_at is None:
                job.first_attempt_at = self.clock.now()
            result = await self._exchange(job.hook, event)
            now = self.clock.now()
            event.attempts += 1
            event.response_status = result.status
            delay = None
            if result.ok:
                event.state, event.delivered_at = "delivered", now
            else:
                delay = self.policy.next_delay(
                    job.hook,
                    result,
                    attempts=event.attempts,
                    created_at=event.created_at,
                    first_attempt_at=job.first_attempt_at,
                    now=now,
                    rng=self.rng,
                )
                if delay is None:
                    event.state = "failed"
                    log.warning(
                        "event %s (%s) to %s given up after %d attempt(s): %s",
                        event.id,
                        event.kind,
                        job.hook.url,
                        event.attempts,
                        result.describe(),
                    )
            self.store.update_event(event)
            if delay is not None:
                done = False
                if not self._closed:  # else it stays pending, for the next run
                    job.timer = self.clock.call_later(delay, lambda: self._retry(key, lane, job))
        except Exception:
            # a bug or a failing store, not the network (the client reports those)
            log.exception("event %s to %s could not be sent", event.id, job.hook.url)
            event.state = "failed"
            try:
                self.store.update_event(event)
            except Exception:
                log.exception("event %s could not be marked failed", event.id)
        finally:
            self._in_flight -= 1
            if self._waiting:
                self._start(*self._waiting.popleft())
            if done:
                lane.popleft()
                if lane:
                    self._start(key, lane)
                elif self._lanes.get(key) is lane:
                    del self._lanes[key]
                    self._app_of_call.pop(key, None)

    def _retry(self, key: str, lane: deque[_Job], job: _Job) -> None:
        job.timer = None
        if lane and lane[0] is job:
            self._start(key, lane)

    # -- NCCO fetches: one attempt ----------------------------------------------------------
    async def _once(
        self, hook: Hook, event: EventRecord | None, on_result: OnResult | None
    ) -> None:
        try:
            result = await self._exchange(hook, event)
            if event is not None:
                event.attempts += 1
                event.response_status = result.status
                event.state = "delivered" if result.ok else "failed"
                event.delivered_at = self.clock.now() if result.ok else None
                self.store.update_event(event)
            if on_result is not None:
                self.clock.call_soon(lambda: on_result(result))
        except Exception:
            log.exception("webhook delivery to %s failed", hook.url)
            if on_result is not None:
                failed = HookResult(status=None, error="internal error")
                self.clock.call_soon(lambda: on_result(failed))

    # -- one request ------------------------------------------------------------------------
    def _spawn(self, work: Any) -> None:
        """Run ``work`` (a coroutine) as a task this object owns; virtual time waits for it."""
        self.clock.io_begin()
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.clock.io_end()

    async def _exchange(self, hook: Hook, event: EventRecord | None) -> HookResult:
        headers = dict(hook.headers)
        if event is not None:
            headers[EVENT_ID_HEADER] = str(event.id)
            headers[ATTEMPT_HEADER] = str(event.attempts + 1)
        if self.signer is not None:
            signed, app_id = self._signing(hook)
            if signed:
                headers.update(
                    self.signer.header(
                        hook.body,
                        iat=int(self.wall_clock()),
                        jti=str(uuid.uuid4()),
                        application_id=app_id,
                    )
                )
        req = WebhookRequest(
            url=hook.url,
            method=hook.method.upper() if hook.method else "POST",
            body=hook.body,
            kind=hook.kind,
            connect_timeout=hook.connect_timeout,
            read_timeout=hook.read_timeout,
            headers=headers,
        )
        res = await self.client.send(req)
        result = HookResult(status=res.status, json=res.json, error=res.error, latency=res.latency)
        data: dict[str, Any] = {
            "kind": hook.kind,
            "method": req.method,
            "url": hook.url,
            "status": res.status,
            "error": res.error,
            "latency_ms": round(res.latency * 1000, 2),
        }
        if event is not None:
            data["event_id"] = event.id
            data["attempt"] = event.attempts + 1
        self.store.add_timeline(
            TimelineEntry(
                t=self.clock.now(),
                kind="webhook",
                summary=(
                    f"{req.method} {hook.url} -> {result.describe()} in {res.latency * 1000:.1f} ms"
                ),
                call_uuid=hook.call_uuid,
                conversation_uuid=hook.conversation_uuid,
                data=data,
            )
        )
        return result

    def _signing(self, hook: Hook) -> tuple[bool, str | None]:
        """Whether requests for ``hook``'s call are signed, and its application id."""
        if not hook.call_uuid:
            return False, None
        if hook.call_uuid in self._app_of_call:
            app_id = self._app_of_call[hook.call_uuid]
        else:
            call = self.store.get_call(hook.call_uuid)
            app_id = call.application_id if call is not None else None
            if call is not None:
                if len(self._app_of_call) >= _APP_CACHE_SIZE:
                    self._app_of_call.clear()  # calls without events are never dropped
                self._app_of_call[hook.call_uuid] = app_id
        if app_id is None:
            return False, None
        app = self.store.get_application(app_id)
        return (app is not None and app.signed_callbacks), app_id

    async def aclose(self) -> None:
        """Finish the requests in flight and close; events waiting for a retry (or behind
        one) stay pending in the outbox, for :meth:`recover` in the next run."""
        self._closed = True
        for lane in self._lanes.values():
            for job in lane:
                if job.timer is not None:
                    job.timer.cancel()
                    job.timer = None
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.client.aclose()


Handler = Callable[[Hook], Any]


class InProcessWebhooks:
    """Webhooks answered by a Python function: ``handler(hook)`` returns the JSON reply
    (a list is an NCCO, None an empty 200) or a :class:`HookResult` for full control.
    Events are stored first, as the real thing does; replies arrive ``latency`` later.
    """

    def __init__(
        self,
        clock: Clock,
        handler: Handler,
        store: Store | None = None,
        *,
        latency: float = 0.0,
    ) -> None:
        self.clock = clock
        self.handler = handler
        self.store = store
        self.latency = latency
        self.sent: list[Hook] = []
        self.record = True

    def send(self, hook: Hook, on_result: OnResult | None = None) -> None:
        if self.record:
            self.sent.append(hook)
        if self.store is not None and hook.is_event:
            event = outbox_record(hook, self.clock.now())
            event.state, event.attempts, event.response_status = "delivered", 1, 200
            self.store.add_event(event)
        reply = self.handler(hook)
        result = reply if isinstance(reply, HookResult) else HookResult(status=200, json=reply)
        if on_result is not None:
            if self.latency > 0:
                self.clock.call_later(self.latency, lambda: on_result(result))
            else:
                self.clock.call_soon(lambda: on_result(result))

    def bodies(self, kind: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """Bodies sent so far, optionally only of one kind or one status."""
        return [
            h.body
            for h in self.sent
            if (kind is None or h.kind == kind)
            and (status is None or h.body.get("status") == status)
        ]
