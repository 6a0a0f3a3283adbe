"""The engine's Webhooks port, made real.

:class:`HttpWebhooks` stores every event in the store's outbox before it is
sent, delivers plain events in order per call, makes NCCO fetches at once, and
hands results back to the engine through the clock (so virtual time waits for
real HTTP). :class:`InProcessWebhooks` calls a Python function instead — for
unit tests and benchmarks of the engine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from trunkline.clock import Clock
from trunkline.domain import EventRecord, TimelineEntry
from trunkline.engine.hooks import Hook, HookResult
from trunkline.store.base import Store
from trunkline.webhooks.client import WebhookClient, WebhookRequest

log = logging.getLogger(__name__)

OnResult = Callable[[HookResult], None]


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


class HttpWebhooks:
    def __init__(self, clock: Clock, store: Store, client: WebhookClient | None = None) -> None:
        self.clock = clock
        self.store = store
        self.client = client or WebhookClient()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lanes: dict[str, asyncio.Future[None]] = {}

    def send(self, hook: Hook, on_result: OnResult | None = None) -> None:
        event: EventRecord | None = None
        if hook.is_event:
            event = outbox_record(hook, self.clock.now())
            self.store.add_event(event)  # stored before it is sent
        self.clock.io_begin()
        lane_key = hook.call_uuid if (on_result is None and hook.call_uuid) else None
        previous = self._lanes.get(lane_key) if lane_key else None
        task = asyncio.get_running_loop().create_task(
            self._deliver(hook, event, on_result, previous)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if lane_key:
            lane: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._lanes[lane_key] = lane

            def release(
                _: asyncio.Task[None], key: str = lane_key, fut: asyncio.Future[None] = lane
            ) -> None:
                if not fut.done():
                    fut.set_result(None)
                if self._lanes.get(key) is fut:
                    del self._lanes[key]

            task.add_done_callback(release)

    async def _deliver(
        self,
        hook: Hook,
        event: EventRecord | None,
        on_result: OnResult | None,
        previous: asyncio.Future[None] | None,
    ) -> None:
        try:
            if previous is not None:
                await asyncio.shield(previous)
            req = WebhookRequest(
                url=hook.url,
                method=hook.method.upper() if hook.method else "POST",
                body=hook.body,
                kind=hook.kind,
                connect_timeout=hook.connect_timeout,
                read_timeout=hook.read_timeout,
                headers=dict(hook.headers),
            )
            res = await self.client.send(req)
            result = HookResult(
                status=res.status, json=res.json, error=res.error, latency=res.latency
            )
            now = self.clock.now()
            if event is not None:
                event.attempts += 1
                event.response_status = res.status
                event.state = "delivered" if result.ok else "failed"
                event.delivered_at = now if result.ok else None
                self.store.update_event(event)
            self.store.add_timeline(
                TimelineEntry(
                    t=now,
                    kind="webhook",
                    summary=(
                        f"{req.method} {hook.url} -> {result.describe()}"
                        f" in {res.latency * 1000:.1f} ms"
                    ),
                    call_uuid=hook.call_uuid,
                    conversation_uuid=hook.conversation_uuid,
                    data={
                        "kind": hook.kind,
                        "method": req.method,
                        "url": hook.url,
                        "status": res.status,
                        "error": res.error,
                        "latency_ms": round(res.latency * 1000, 2),
                    },
                )
            )
            if on_result is not None:
                self.clock.call_soon(lambda: on_result(result))
        except Exception:
            log.exception("webhook delivery to %s failed", hook.url)
            if on_result is not None:
                failed = HookResult(status=None, error="internal error")
                self.clock.call_soon(lambda: on_result(failed))
        finally:
            self.clock.io_end()

    async def aclose(self) -> None:
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
