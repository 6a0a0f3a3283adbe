"""A whole trunkline on a virtual clock, with a voice app written as Python functions.

    h = Harness()
    h.answer([{"action": "talk", "text": "Hello"}])
    call = h.sim.call("447700900100", h.number)
    h.run()
    assert h.phone("447700900100").heard() == ["Hello"]

For end-to-end tests over real HTTP use :class:`~trunkline.call.webhooks.HttpWebhooks`
with :class:`~trunkline.testing.webapp.WebhookApp`; this harness is for fast engine tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from trunkline.call.platform import Platform
from trunkline.call.webhooks import InProcessWebhooks
from trunkline.clock import VirtualClock
from trunkline.domain import Application, answer_webhook, event_webhook
from trunkline.engine.hooks import Hook, HookResult
from trunkline.engine.switch import EngineSettings
from trunkline.ids import SeededIds
from trunkline.sim.network import SimNetwork
from trunkline.sim.phones import SimPhone
from trunkline.store.memory import MemoryStore

APP_BASE = "http://app.test"
Reply = Callable[[Hook], Any] | list[Any] | dict[str, Any] | HookResult | None


class ScriptedApp:
    """A voice application as a table of paths → replies (values or functions of the request)."""

    def __init__(self) -> None:
        self.routes: dict[str, Reply] = {}

    def __call__(self, hook: Hook) -> Any:
        path = urlsplit(hook.url).path
        if path not in self.routes:
            return HookResult(status=404, json={"title": "Not Found"})
        reply = self.routes[path]
        return reply(hook) if callable(reply) else reply


class Harness:
    def __init__(self, *, seed: int = 0, fallback: bool = False, latency: float = 0.0) -> None:
        self.clock = VirtualClock()
        self.store = MemoryStore()
        self.app = ScriptedApp()
        self.webhooks = InProcessWebhooks(self.clock, self.app, self.store, latency=latency)
        self.platform = Platform(
            clock=self.clock,
            store=self.store,
            webhooks=self.webhooks,
            ids=SeededIds(seed),
            settings=EngineSettings(base_url="http://trunkline.test"),
        )
        self.switch = self.platform.switch
        self.sim: SimNetwork = self.platform.sim
        self.application = Application(
            id="aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
            name="test-app",
            answer_url=answer_webhook(f"{APP_BASE}/answer"),
            event_url=event_webhook(f"{APP_BASE}/event"),
            fallback_answer_url=answer_webhook(f"{APP_BASE}/fallback") if fallback else None,
        )
        self.number = "447700900000"
        self.store.put_application(self.application)
        self.store.link_number(self.number, self.application.id)
        self.app.routes["/event"] = None

    def answer(self, reply: Reply) -> None:
        self.app.routes["/answer"] = reply

    def on(self, path: str, reply: Reply) -> None:
        self.app.routes[path] = reply

    def phone(self, number: str, **kwargs: Any) -> SimPhone:
        if number in self.sim.phones and not kwargs:
            return self.sim.phones[number]
        return self.sim.add_phone(number, **kwargs)

    def run(self, seconds: float | None = None) -> None:
        """Run virtual time: ``seconds`` of it, or until nothing is left to do."""
        if seconds is None:
            self.clock.run()
        else:
            self.clock.advance(seconds)

    def events(self, kind: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        return self.webhooks.bodies(kind, status)

    def statuses(self, uuid: str) -> list[str]:
        return [
            h.body["status"]
            for h in self.webhooks.sent
            if h.kind in ("status", "connect") and h.body.get("uuid") == uuid
        ]

    def requests_to(self, path: str) -> list[Hook]:
        return [h for h in self.webhooks.sent if urlsplit(h.url).path == path]
