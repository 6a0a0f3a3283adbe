"""Test a Vonage voice app end to end on a virtual clock: the testing kit's Python API.

::

    voice = VoiceNetwork()
    app = voice.application(my_flask_or_asgi_app)      # or url="http://127.0.0.1:5000"
    agent = voice.phone("447700900101", answer="busy")
    call = voice.phone("447700900001", script=[press("1", when_heard="Press 1")]).call(app.number)
    call.wait_until("completed")                        # virtual time: returns at once
    assert call.heard("Connecting you to an agent")
    assert agent.rang() and not agent.answered()
    assert app.statuses(call) == ["started", "ringing", "answered", "completed"]

A whole trunkline runs in-process (engine, sim phone network, in-memory store) on a
:class:`~trunkline.clock.VirtualClock`. The app is a WSGI or ASGI application called
in-process without a socket, or any URL over real HTTP. Waiting helpers run virtual
time, so an hour of call flow takes milliseconds. The sync API works in scripts,
notebooks and tests, inside a running event loop too; async tests that serve their
app on their own loop use the ``*_async`` twins. pytest users get all of this as the
``voice`` fixture (:mod:`trunkline.testing.plugin`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from trunkline.call.platform import Platform
from trunkline.clock import VirtualClock
from trunkline.domain import (
    Application,
    CallRecord,
    TimelineEntry,
    answer_webhook,
    event_webhook,
)
from trunkline.engine.switch import EngineSettings
from trunkline.errors import NotFound
from trunkline.ids import SeededIds
from trunkline.sim.phones import Step
from trunkline.store.memory import MemoryStore
from trunkline.testing.exchanges import Exchange, InProcessApp, KitWebhooks, origin_of
from trunkline.testing.handles import DEFAULT_TIMEOUT, App, Call, Phone
from trunkline.testing.inprocess import AppKind, app_kind
from trunkline.testing.timeline import format_conversation, group_stories, webhook_details

T = TypeVar("T")
log = logging.getLogger(__name__)

#: The number the first application answers on unless told otherwise; later ones
#: get 447700901000, 447700902000, …
FIRST_APP_NUMBER = 447700900000

ScriptStep = Step | Mapping[str, Any]


# -- the script vocabulary -------------------------------------------------------------------
def press(digits: str, *, at: float = 0.0, when_heard: str | None = None) -> Step:
    """Press keys (``0-9 * #``, ``p`` pauses 500 ms) ``at`` seconds after the call is
    answered — or after hearing a prompt that contains ``when_heard``."""
    return Step(at=at, press=digits, when_heard=when_heard)


def say(text: str, *, at: float = 0.0, when_heard: str | None = None) -> Step:
    """Say words (speech input hears them once they are spoken)."""
    return Step(at=at, say=text, when_heard=when_heard)


def hang_up(*, at: float = 0.0, when_heard: str | None = None) -> Step:
    """Hang up."""
    return Step(at=at, hangup=True, when_heard=when_heard)


def _step(step: ScriptStep) -> Step:
    return step if isinstance(step, Step) else Step(**dict(step))


class KitStore(MemoryStore):
    """The in-memory store, also keeping every status each leg went through, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[str]] = {}
        self.legs: list[str] = []  # leg uuids in the order they were created

    def save_call(self, call: CallRecord) -> None:
        super().save_call(call)
        seen = self.history.get(call.uuid)
        if seen is None:
            self.history[call.uuid] = [call.status]
            self.legs.append(call.uuid)
        elif seen[-1] != call.status:
            seen.append(call.status)


class VoiceNetwork:
    """A trunkline, a sim phone network and your app, on a virtual clock.

    ``raise_app_exceptions``: an exception your in-process app raises is raised again
    from the next waiting helper (as Flask's and Starlette's test clients do); when
    False, trunkline sees the HTTP 500 a server would send, and carries on.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        raise_app_exceptions: bool = True,
        base_url: str = "http://trunkline.test",
    ) -> None:
        self.clock = VirtualClock()
        self.started_at = self.clock.now()
        self.store = KitStore()
        self.webhooks = KitWebhooks(
            self.clock, self.store, raise_app_exceptions=raise_app_exceptions
        )
        self.platform = Platform(
            clock=self.clock,
            store=self.store,
            webhooks=self.webhooks,
            ids=SeededIds(seed),
            settings=EngineSettings(base_url=base_url, seed=seed),
        )
        self.switch = self.platform.switch
        self.sim = self.platform.sim
        self.apps: list[App] = []
        self._phones: dict[str, Phone] = {}
        self._calls: dict[str, Call] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._driving = False
        self.closed = False

    # -- building the world ----------------------------------------------------------------------
    def application(
        self,
        app: object | None = None,
        *,
        url: str | None = None,
        number: str | None = None,
        name: str | None = None,
        base_url: str | None = None,
        answer_path: str = "/answer",
        event_path: str = "/event",
        fallback_path: str | None = None,
        answer_method: str = "GET",
        event_method: str = "POST",
        kind: AppKind | None = None,
    ) -> App:
        """Add a voice application and link a number to it.

        Give ``app`` (a WSGI or ASGI app, called in-process at ``base_url``, by
        default ``http://app.test``) or ``url`` (the base URL of an app served
        anywhere). Its webhooks are ``answer_path``, ``event_path`` and, when given,
        ``fallback_path`` under that base. ``kind`` overrides the WSGI/ASGI guess.
        """
        if (app is None) == (url is None):
            raise ValueError("give either an app (WSGI/ASGI) or the url of one")
        n = len(self.apps)
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"url must be an absolute http(s) URL, not {url!r}")
            base = url.rstrip("/")
        else:
            base = (
                base_url or ("http://app.test" if n == 0 else f"http://app{n + 1}.test")
            ).rstrip("/")
            origin = origin_of(base)
            if origin in self.webhooks.apps:
                raise ValueError(f"an application is already mounted at {origin}")
            self.webhooks.mount(
                InProcessApp(name or f"app{n + 1}", origin, app, kind or app_kind(app))
            )
        number = number or str(FIRST_APP_NUMBER + 1000 * n)
        application = Application(
            id=f"00000000-0000-4000-8000-{n + 1:012d}",
            name=name or f"app{n + 1}",
            answer_url=answer_webhook(base + answer_path, answer_method),
            event_url=event_webhook(base + event_path, event_method),
            fallback_answer_url=(
                answer_webhook(base + fallback_path, answer_method) if fallback_path else None
            ),
        )
        self.store.put_application(application)
        self.store.link_number(number, application.id)
        handle = App(self, application, number, base, in_process=url is None)
        self.apps.append(handle)
        return handle

    def phone(
        self,
        number: str,
        *,
        answer: str | None = None,
        ring: float | None = None,
        script: Iterable[ScriptStep] | None = None,
        user: str | None = None,
        uri: str | None = None,
    ) -> Phone:
        """A sim phone; the same number again gives the same phone (and changes what
        is given).

        ``answer``: ``human`` (default), ``machine``, ``busy``, ``reject``,
        ``no_answer`` (rings until trunkline gives up), ``unanswered`` or ``fail``,
        after ``ring`` seconds (default 2). ``script``: steps made with
        :func:`press`, :func:`say` and :func:`hang_up` (or dicts like
        ``{"at": 1, "press": "1"}``). ``user``/``uri``: reachable as an ``app``
        or ``sip`` endpoint too.
        """
        existing = self._phones.get(number)
        if existing is not None:
            sim = existing.sim
            if answer is not None:
                sim.answer = answer
            if ring is not None:
                sim.ring = ring
            if script is not None:
                sim.script = tuple(_step(s) for s in script)
            if user is not None:
                sim.user = user
            if uri is not None:
                sim.uri = uri
            sim.__post_init__()  # validates what changed
            return existing
        sim = self.sim.add_phone(
            number,
            answer=answer or "human",
            ring=2.0 if ring is None else ring,
            script=[_step(s) for s in script or ()],
            user=user,
            uri=uri,
        )
        handle = Phone(self, sim)
        self._phones[number] = handle
        return handle

    @property
    def phones(self) -> list[Phone]:
        return list(self._phones.values())

    def find_phone(self, number: str) -> Phone | None:
        """The phone ``number`` if the network has it (unlike :meth:`phone`, never adds one)."""
        return self._phones.get(number)

    @property
    def calls(self) -> list[Call]:
        """Every leg so far (phones' calls, outbound calls, ``connect`` legs), in order."""
        return [self.call_for(uuid) for uuid in self.store.legs]

    def call_for(self, uuid: str) -> Call:
        """The handle of the leg ``uuid``."""
        handle = self._calls.get(uuid)
        if handle is None:
            if uuid not in self.store.history:
                raise NotFound(f"no call {uuid}")
            handle = Call(self, uuid)
            self._calls[uuid] = handle
        return handle

    @property
    def now(self) -> float:
        """Virtual seconds since this network started."""
        return self.clock.now() - self.started_at

    # -- running virtual time ---------------------------------------------------------------------
    def run(self, *, max_time: float = 86400.0) -> None:
        """Run virtual time until nothing is left to happen (or ``max_time`` passes)."""
        self._drive(self._run_async(None, max_time))

    async def run_async(self, *, max_time: float = 86400.0) -> None:
        await self._run_async(None, max_time)

    def advance(self, seconds: float) -> None:
        """Run ``seconds`` of virtual time."""
        self._drive(self._advance_async(seconds))

    async def advance_async(self, seconds: float) -> None:
        await self._advance_async(seconds)

    def run_until(self, predicate: Callable[[], bool], *, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Run virtual time until ``predicate()`` holds. False if it did not within
        ``timeout`` virtual seconds (which have then passed), or before nothing was
        left to happen (time stops there)."""
        return self._drive(self._wait(predicate, timeout))

    async def run_until_async(
        self, predicate: Callable[[], bool], *, timeout: float = DEFAULT_TIMEOUT
    ) -> bool:
        return await self._wait(predicate, timeout)

    async def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = self.clock.now() + timeout
        await self._run_async(predicate, timeout)
        if predicate():
            return True
        if not self.idle and self.clock.io_pending == 0:
            self.clock.run_until(deadline)  # what is left falls due later: time runs out
        return False

    async def _run_async(self, until: Callable[[], bool] | None, max_time: float) -> None:
        loop = asyncio.get_running_loop()
        if self._driving:
            raise RuntimeError("virtual time is already running (a wait inside a wait?)")
        if self.closed:
            raise RuntimeError("this VoiceNetwork is closed")
        self._driving = True
        self.webhooks.bind(loop)
        webhooks = self.webhooks

        def stop() -> bool:
            return webhooks.failed or (until is not None and until())

        try:
            await self.clock.run_async(until=stop, max_time=max_time)
        finally:
            self.webhooks.unbind()
            self._driving = False
        error = self.webhooks.take_error()
        if error is not None:
            raise error

    async def _advance_async(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        deadline = self.clock.now() + seconds
        await self._run_async(lambda: self.clock.now() >= deadline, seconds)
        if self.clock.now() < deadline and self.clock.io_pending == 0:
            self.clock.run_until(deadline)  # nothing was due: just move the hands

    @property
    def idle(self) -> bool:
        """Nothing is scheduled and no webhook is in flight: time would change nothing."""
        return self.clock.next_deadline() is None and self.clock.io_pending == 0

    def _drive(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion from sync code: on a private event loop, in a
        helper thread when this thread already runs a loop (async tests, notebooks)."""
        if self.closed:
            coro.close()
            raise RuntimeError("this VoiceNetwork is closed")
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        loop = self._loop
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return loop.run_until_complete(coro)
        if self._thread is None:
            self._thread = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="trunkline-kit"
            )
        return self._thread.submit(loop.run_until_complete, coro).result()

    # -- what happened -----------------------------------------------------------------------------
    @property
    def requests(self) -> list[Exchange]:
        """Every webhook request made so far, to any application."""
        return list(self.webhooks.exchanges)

    def timeline(self, call: Call | str | None = None) -> str:
        """The story of ``call`` (of every call when None) as text: legs, actions,
        webhooks with request and reply bodies, events, and what each phone on it
        heard and did.

        A story is a conversation and every conversation its legs moved to (a named
        ``conversation``, a transfer), so a leg's whole life is in one table.
        """
        stories = group_stories(self.store.timeline())
        if call is not None:
            uuid = call.uuid if isinstance(call, Call) else call
            stories = [s for s in stories if any(e.call_uuid == uuid for e in s)]
        return "\n".join(self._story_text(entries) for entries in stories)

    def _story_text(self, entries: list[TimelineEntry]) -> str:
        legs: list[str] = []
        for e in entries:
            if e.call_uuid and e.call_uuid not in legs and e.call_uuid in self.store.history:
                legs.append(e.call_uuid)
        names = {uuid: self.call_for(uuid).label for uuid in legs}
        start = entries[0].t if entries else self.started_at
        phones = []
        for phone in self._phones.values():
            log = [e for e in phone.sim.log if e.call in legs]
            if log:
                phones.append((phone.number, log))
        conversations = list(
            dict.fromkeys(e.conversation_uuid for e in entries if e.conversation_uuid)
        )
        title = (
            f"conversation {' then '.join(conversations)}"
            f" (times from {start - self.started_at:.3f}s)"
        )
        return format_conversation(
            entries,
            names,
            start=start,
            details=webhook_details(entries, self.webhooks.exchanges),
            phones=phones,
            title=title,
        )

    # -- closing ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Finish what is in flight on the private loop and release it."""
        if self.closed:
            return
        try:
            if self._loop is not None and not self._loop.is_closed():
                self._drive(self.webhooks.aclose())
            http_loop = self.webhooks.http_loop
            if self.webhooks.http is not None and http_loop is not None:
                if http_loop.is_running() or http_loop.is_closed():
                    log.warning(
                        "the HTTP webhook client of a VoiceNetwork was left open on an "
                        "event loop that is %s: close it with `await voice.aclose()`",
                        "running" if http_loop.is_running() else "closed",
                    )
                else:
                    http_loop.run_until_complete(self.webhooks.aclose())
        finally:
            self.closed = True
            self.webhooks.unmount_all()
            if self._thread is not None:
                self._thread.shutdown(wait=True)
            if self._loop is not None and not self._loop.is_closed():
                self._loop.close()

    async def aclose(self) -> None:
        """Close from async code: finish the work of this loop, then of the private one."""
        if self.closed:
            return
        await self.webhooks.aclose()
        self.close()

    def __enter__(self) -> VoiceNetwork:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> VoiceNetwork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
