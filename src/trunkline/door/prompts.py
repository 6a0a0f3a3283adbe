"""Prompts as audio: talk through the TTS engine, stream by fetching and decoding the URL.

One :class:`PromptAudio` per process, shared by every real-media driver (SIP, WebSocket).
Talk prompts are spoken by the TTS engine the prompt names (``Prompt.engine``, the
application's ``tts``): one :class:`AsyncTts` per engine, espeak-ng for ``""``/``"espeak"``
unless told otherwise; a name with no engine is a :class:`PromptError`, never a fallback.
Streams are fetched with aiohttp through the URL guard (never link-local or cloud
metadata addresses), decoded from WAV/MP3/FLAC/OGG to 8 kHz, and kept in a small
byte-budgeted cache by URL, so a hold-music loop or a prompt played to a thousand
callers is fetched once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Protocol

import aiohttp
import numpy as np
import numpy.typing as npt
import yarl

from trunkline.domain import DEFAULT_TTS
from trunkline.engine.leg import Leg
from trunkline.engine.ports import Prompt
from trunkline.errors import TrunklineError
from trunkline.media.audio import decode_audio
from trunkline.media.tts import AsyncTts
from trunkline.webhooks.guard import GuardedResolver, UrlGuard

__all__ = ["PlayMedia", "PromptAudio", "PromptError", "PromptPlayer"]

log = logging.getLogger(__name__)

Samples = npt.NDArray[np.int16]

#: The largest stream we fetch (bytes): an hour of 128 kbps MP3.
MAX_STREAM_BYTES = 64 * 1024 * 1024


class PromptError(TrunklineError):
    """A prompt that cannot be played: the message says why (sent in an error event)."""


class PromptAudio:
    """Render a :class:`Prompt` to 8 kHz samples (``level`` is applied by the media pump)."""

    def __init__(
        self,
        tts: AsyncTts,
        *,
        guard: UrlGuard,
        engines: Mapping[str, AsyncTts] | None = None,
        rate: int = 8000,
        cache_bytes: int = 64 * 1024 * 1024,
        timeout: float = 10.0,
    ) -> None:
        self.tts = tts
        #: TTS by engine name (``Prompt.engine``); ``tts`` is the default ("" or "espeak")
        self.engines: dict[str, AsyncTts] = {DEFAULT_TTS: tts, **(engines or {})}
        self.guard = guard
        self.rate = rate
        self.cache_bytes = cache_bytes
        self.timeout = timeout
        self._cache: OrderedDict[str, Samples] = OrderedDict()
        self._cached = 0
        self._inflight: dict[str, asyncio.Future[Samples]] = {}
        self._session: aiohttp.ClientSession | None = None

    async def render(self, prompt: Prompt) -> Samples:
        if prompt.kind == "tts":
            tts = self.engines.get(prompt.engine or DEFAULT_TTS)
            if tts is None:
                raise PromptError(f"the TTS engine {prompt.engine!r} is not available here")
            try:
                return await tts.render(
                    prompt.text, language=prompt.language, style=prompt.style, sample_rate=self.rate
                )
            except TrunklineError as exc:
                raise PromptError(str(exc)) from exc
        if prompt.kind == "stream":
            return await self._stream(prompt.text)
        raise PromptError(f"cannot play a prompt of kind {prompt.kind!r}")

    async def _stream(self, url: str) -> Samples:
        cached = self._cache.get(url)
        if cached is not None:
            self._cache.move_to_end(url)
            return cached
        future = self._inflight.get(url)
        if future is None:
            future = asyncio.ensure_future(self._fetch(url))
            self._inflight[url] = future
            future.add_done_callback(lambda _: self._inflight.pop(url, None))
        return await asyncio.shield(future)

    async def _fetch(self, url: str) -> Samples:
        host = yarl.URL(url).raw_host
        if host is None or yarl.URL(url).scheme not in ("http", "https"):
            raise PromptError(f"stream {url}: not an http(s) URL")
        why = self.guard.host_problem(host)
        if why is not None:
            raise PromptError(f"stream {url}: {why}")
        session = self._client()
        try:
            async with session.get(url) as resp:
                if resp.status != 200:
                    raise PromptError(f"stream {url}: HTTP {resp.status}")
                data = await resp.content.read(MAX_STREAM_BYTES + 1)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise PromptError(f"stream {url}: {exc or type(exc).__name__}") from exc
        if len(data) > MAX_STREAM_BYTES:
            raise PromptError(f"stream {url}: larger than {MAX_STREAM_BYTES} bytes")
        loop = asyncio.get_running_loop()
        try:
            samples = await loop.run_in_executor(None, decode_audio, data, self.rate)
        except TrunklineError as exc:
            raise PromptError(f"stream {url}: {exc}") from exc
        self._remember(url, samples)
        return samples

    def _remember(self, url: str, samples: Samples) -> None:
        if samples.nbytes > self.cache_bytes // 4:
            return
        self._cache[url] = samples
        self._cached += samples.nbytes
        while self._cached > self.cache_bytes and self._cache:
            _, old = self._cache.popitem(last=False)
            self._cached -= old.nbytes

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.guard), limit=100)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
        return self._session

    async def aclose(self) -> None:
        for tts in self.engines.values():
            await tts.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None


class PlayMedia(Protocol):
    """What a player needs of a leg's media (the pump's ``LegMedia``)."""

    def play(
        self,
        samples: Samples,
        *,
        loop: int = 1,
        level: float = 0.0,
        on_done: Callable[[], None] | None = None,
    ) -> int: ...

    def stop_play(self, handle: int) -> None: ...


class PromptPlayer:
    """The engine's ``play``/``stop_play`` for one real-media leg.

    A prompt is rendered (TTS, a fetched stream) in a task ``spawn`` owns, then played
    through the leg's current media (``media()``; None once the leg has ended). The leg
    hears ``on_play_done`` after the last loop, or an error event and ``on_play_done``
    when the prompt cannot be played; ``deliver`` runs those callbacks (on the engine's
    clock, for a driver that needs it). A stopped prompt reports nothing.
    """

    def __init__(
        self,
        leg: Leg,
        render: Callable[[Prompt], Awaitable[Samples]],
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        media: Callable[[], PlayMedia | None],
        *,
        deliver: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.leg = leg
        self.render = render
        self.spawn = spawn
        self.media = media
        self.deliver: Callable[[Callable[[], None]], None] = deliver or _call
        self.plays: dict[int, int] = {}  # engine play id -> the pump's handle
        self.rendering: dict[int, asyncio.Task[None]] = {}

    def play(self, play_id: int, prompt: Prompt) -> None:
        task = self.spawn(self._play(play_id, prompt))
        self.rendering[play_id] = task
        task.add_done_callback(lambda _: self.rendering.pop(play_id, None))

    async def _play(self, play_id: int, prompt: Prompt) -> None:
        leg = self.leg
        try:
            samples = await self.render(prompt)
        except TrunklineError as exc:
            log.info("leg %s: cannot play %s: %s", leg.uuid, prompt.kind, exc)
            reason = f"cannot play {prompt.kind}: {exc}"

            def failed() -> None:
                if leg.alive:
                    leg.emit_error(reason)
                    leg.on_play_done(play_id)

            self.deliver(failed)
            return
        media = self.media()
        if media is None:
            return

        def done() -> None:
            self.plays.pop(play_id, None)
            self.deliver(lambda: leg.on_play_done(play_id))

        self.plays[play_id] = media.play(
            samples, loop=prompt.loop, level=prompt.level, on_done=done
        )

    def stop(self, play_id: int) -> None:
        task = self.rendering.pop(play_id, None)
        if task is not None:
            task.cancel()
        handle = self.plays.pop(play_id, None)
        media = self.media()
        if handle is not None and media is not None:
            media.stop_play(handle)

    def close(self) -> None:
        """The leg ended: abandon prompts still rendering (the pump drops the playing)."""
        for task in list(self.rendering.values()):
            task.cancel()
        self.rendering.clear()
        self.plays.clear()


def _call(fn: Callable[[], None]) -> None:
    fn()
