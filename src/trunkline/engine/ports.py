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
    #: the TTS engine for ``kind="tts"`` (the leg's application's ``tts``); "" = the default
    engine: str = ""


@dataclass(frozen=True)
class RecordingOptions:
    format: str = "mp3"
    split: str | None = None
    channels: int = 1
    beep_start: bool = False
    #: the id of the file the recording is stored as (its ``/v1/files/{file_id}`` URL)
    file_id: str = ""
    #: samples per second of the stored file (spec §2.4: 16 kHz; 8 kHz also allowed)
    sample_rate: int = 16000


@dataclass(frozen=True)
class RecordedAudio:
    """A finished recording a driver hands to a :class:`RecordingSink` to be stored.

    ``pcm`` gives the audio as interleaved signed 16-bit little-endian samples at
    ``sample_rate`` with ``channels`` channels; it is called off the event loop. None
    means the driver has no audio (the simulator): ``seconds`` of near-silence.
    """

    file_id: str
    format: str  # "mp3" | "wav" | "ogg"
    sample_rate: int
    channels: int
    seconds: float
    pcm: Callable[[], bytes] | None = None
    application_id: str | None = None
    call_uuid: str | None = None
    conversation_uuid: str | None = None


class RecordingSink(Protocol):
    """Encodes and stores finished recordings (``trunkline.recordings.FileRecordings``)."""

    def save(self, audio: RecordedAudio, done: Callable[[int], None]) -> None:
        """Encode and store ``audio``; later call ``done(size)`` through the clock with
        the stored file's size in bytes (0 if it could not be stored)."""
        ...


class ConversationRecorder(Protocol):
    """Records a whole named conversation (``conversation`` with ``record: true``, spec §2.5).

    The engine starts a recording when the conversation starts, tells it who the members
    are as they join and leave, and stops it when the conversation ends; the driver mixes
    every member's (unmuted) audio into one file and hands it to the
    :class:`RecordingSink`.
    """

    def start(
        self,
        conversation_uuid: str,
        rec_id: str,
        options: RecordingOptions,
        *,
        application_id: str | None = None,
    ) -> None:
        """Start recording; members are given by :meth:`set_members`."""
        ...

    def set_members(self, rec_id: str, legs: list[str]) -> None:
        """The leg uuids whose audio the recording now mixes."""
        ...

    def stop(self, rec_id: str, done: Callable[[int], None]) -> None:
        """Stop; later call ``done(size)`` through the clock with the stored file's size
        in bytes (0 if nothing could be stored). Unknown ids get ``done(0)``."""
        ...


@dataclass(frozen=True)
class SpeechOptions:
    """What an ``input`` with ``type: ["speech"]`` asks the driver to recognise (spec §2.3).

    Times are in seconds; the driver counts them in audio frames from :meth:`Channel.start_speech`.
    """

    language: str = "en-US"
    context: tuple[str, ...] = ()
    end_on_silence: float = 2.0
    start_timeout: float = 10.0
    max_duration: float = 60.0
    save_audio: bool = False
    sensitivity: int = 90
    #: where interim hypotheses go (trunkline's ``partialResultsUrl``); None = nowhere.
    #: The driver hands each one to :meth:`Leg.on_speech_partial` with these options.
    partial_results_url: str | None = None
    partial_results_method: str = "POST"


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

    def start_speech(self, listen_id: str, options: SpeechOptions) -> None:
        """Recognise the leg's incoming audio; report with ``leg.on_speech_started()``, then
        ``leg.on_speech_result(...)`` once, or ``leg.on_speech_error(reason)``. Interim
        hypotheses, if the driver has any, go to ``leg.on_speech_partial(options, text)``."""
        ...

    def stop_speech(self, listen_id: str) -> None:
        """Stop recognising (the input completed or was cancelled); nothing more is reported."""
        ...


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
