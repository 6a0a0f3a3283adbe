"""The real-media doors of a running trunkline: the media pump, SIP and WebSocket legs.

:class:`Doors` is entered by the :class:`~trunkline.call.runtime.Runtime`. It starts the
process's one :class:`~trunkline.media.pump.MediaPump`, the SIP door when ``[sip]`` is
enabled, and the WebSocket door, and plugs them into the platform's router so that the
engine's ``connect`` and ``POST /v1/calls`` reach them. Every task it starts belongs to
its task group and ends when the runtime closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import TracebackType

from trunkline.call.platform import Platform
from trunkline.clock import Clock, VirtualClock
from trunkline.config import Config
from trunkline.door.driver import SipDoor
from trunkline.door.prompts import PromptAudio
from trunkline.engine.ports import ConversationRecorder, RecordingSink
from trunkline.media.conference import ConferenceRecorder
from trunkline.media.piper import PiperEngine
from trunkline.media.pump import MediaPump
from trunkline.media.tts import AsyncTts
from trunkline.store.base import Store
from trunkline.webhooks.guard import UrlGuard
from trunkline.webhooks.signing import WebhookSigner
from trunkline.wsdoor.network import WebSocketDriver

__all__ = ["Doors"]

log = logging.getLogger(__name__)


class Doors:
    """``async with Doors(...)``: media pump, SIP door and WebSocket door, running."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock,
        platform: Platform,
        store: Store,
        recordings: RecordingSink,
        guard: UrlGuard,
        signer: WebhookSigner | None = None,
        tts: AsyncTts | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.platform = platform
        self.store = store
        self.recordings = recordings
        self.guard = guard
        self.pump = MediaPump()
        # applications with tts = "piper": its worker process is warmed at start when one
        # is configured, else it starts at the first such prompt
        self.piper = PiperEngine()
        piper = AsyncTts(self.piper)
        self.prompts = PromptAudio(tts or AsyncTts(), guard=guard, engines={"piper": piper})
        self.sip: SipDoor | None = None
        self.websocket = WebSocketDriver(
            self.pump,
            clock,
            guard,
            render=self.prompts.render,
            signer=signer,
            recordings=recordings,
        )
        # conversations with record: true mix the members' real audio (media/conference.py)
        self.conferences = ConferenceRecorder(self.pump, recordings, clock)
        self._sim_conferences: ConversationRecorder | None = None
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Doors:
        try:
            return await self._start()
        except BaseException:
            await self._stack.aclose()
            await self.prompts.aclose()
            raise

    async def _start(self) -> Doors:
        group = await self._stack.enter_async_context(asyncio.TaskGroup())
        self._stack.push_async_callback(self._cancel)
        pump_ready = asyncio.Event()
        self._tasks.append(group.create_task(self.pump.run(pump_ready)))
        await pump_ready.wait()
        ws_ready = asyncio.Event()
        self._tasks.append(group.create_task(self.websocket.run(ws_ready)))
        await ws_ready.wait()
        self.platform.router.websocket = self.websocket
        if not isinstance(self.clock, VirtualClock):
            # real audio is recorded on the real clock; on a virtual one the sim's recorder
            # (which measures virtual time) stays
            conversations = self.platform.switch.conversations
            self._sim_conferences = conversations.recorder
            conversations.recorder = self.conferences
        if any(app.tts == "piper" for app in self.store.list_applications()):
            # the voice takes about a second to load: not on the first caller's time
            self._tasks.append(group.create_task(self._warm(self.piper.warm)))
        if self.config.sip.enabled:
            self.sip = SipDoor(
                settings=self.config.sip,
                clock=self.clock,
                switch=self.platform.switch,
                store=self.store,
                pump=self.pump,
                prompts=self.prompts,
                recordings=self.recordings,
                guard=self.guard,
            )
            sip_ready = asyncio.Event()
            self._tasks.append(group.create_task(self.sip.serve(sip_ready)))
            await sip_ready.wait()
            self.platform.router.sip = self.sip
            self.sip.websocket = self.websocket  # callers' keys reach the bots they talk to
        return self

    async def _warm(self, load: Callable[[], None]) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, load)
        except Exception:  # a voice that cannot load is reported when it is first used
            log.warning("warming a speech engine failed", exc_info=True)

    @property
    def sip_address(self) -> tuple[str, int] | None:
        """Where SIP listens (host, port), once bound; None with SIP off."""
        return self.sip.server.address if self.sip is not None else None

    async def _cancel(self) -> None:
        self.platform.router.sip = None
        self.platform.router.websocket = None
        if self.platform.switch.conversations.recorder is self.conferences:
            self.platform.switch.conversations.recorder = self._sim_conferences
        await self.websocket.aclose()
        for task in self._tasks:
            task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._stack.__aexit__(exc_type, exc, tb)
        finally:
            await self.prompts.aclose()
