"""The engine's ports: what it needs from the outside, as Protocols.

Network drivers (sim, SIP, WebSocket) provide a :class:`Channel` per leg and a
:class:`Network` to dial; the shell provides :class:`Webhooks` and a
:class:`Recorder` (the store). Each has an in-memory fake for unit tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from trunkline.domain import CallRecord, TimelineEntry
from trunkline.engine.hooks import Hook, HookResult

if TYPE_CHECKING:
    from trunkline.engine.leg import Leg


@dataclass(frozen=True)
class Prompt:
    """Audio to play to a leg: text to speak (``kind="tts"``) or a URL (``kind="stream"``)."""

    kind: str  # "tts" | "stream" | "tone"
    text: str = ""  # tts text (may be SSML), or the stream URL
    language: str = "en-US"
    style: int = 0
    premium: bool = False
    level: float = 0.0
    loop: int = 1  # 0 = until stopped


@dataclass(frozen=True)
class RecordingOptions:
    format: str = "mp3"
    split: str | None = None
    channels: int = 1
    beep_start: bool = False


class Channel(Protocol):
    """The network side of one leg. Drivers call back into the :class:`Leg`."""

    def answer(self) -> None:
        """Accept an inbound call (the far end hears the call connect)."""
        ...

    def reject(self, status: str) -> None:
        """Refuse an inbound call that was never answered (busy, rejected, failed…)."""
        ...

    def hangup(self) -> None:
        """End the leg from the platform side, or cancel it while it rings."""
        ...

    def play(self, play_id: int, prompt: Prompt) -> None:
        """Start playing; the driver calls ``leg.on_play_done(play_id)`` after ``loop`` plays."""
        ...

    def stop_play(self, play_id: int) -> None: ...

    def send_dtmf(self, digits: str) -> None: ...

    def start_recording(self, rec_id: str, options: RecordingOptions) -> None: ...

    def stop_recording(self, rec_id: str) -> None:
        """Stop; the driver calls ``leg.on_recording_done(rec_id, size)`` when the file is ready."""
        ...

    def conversation_changed(self, conversation_uuid: str | None, peers: list[str]) -> None:
        """The leg's audio is now mixed with ``peers`` (leg uuids); None = alone."""
        ...

    def set_audio(self, *, muted: bool, earmuffed: bool) -> None: ...


class Network(Protocol):
    """Places outbound legs: finds the driver for an endpoint and dials."""

    def dial(self, leg: Leg, endpoint: dict[str, Any], caller: str) -> None:
        """Start ringing ``endpoint``; attach a Channel to ``leg`` and report progress on it.

        An endpoint nothing can reach is reported with ``leg.on_failed(...)``.
        """
        ...


class Webhooks(Protocol):
    def send(self, hook: Hook, on_result: Callable[[HookResult], None] | None = None) -> None:
        """Make the request; call ``on_result`` (through the clock) with what came back.

        Without ``on_result`` the request is a plain event: stored, then delivered.
        """
        ...


class Recorder(Protocol):
    """Where the engine writes call records and timeline lines (the store)."""

    def save_call(self, call: CallRecord) -> None: ...

    def add_timeline(self, entry: TimelineEntry) -> None: ...
