"""Recording whole conversations on real audio (``conversation`` with ``record: true``).

:class:`ConferenceRecorder` is the :class:`~trunkline.engine.ports.ConversationRecorder`
of the media pump's legs. Each recording taps the inbound frame of every member (the
pump's per-leg taps) and, at the end of every tick (a pump tick listener), mixes the
frames of the members that are not muted into one mono
:class:`~trunkline.media.recording.RecordingWriter` row — what the conversation sounds
like, each voice once. A muted member is left out for as long as it is muted, as the
pump leaves it out of what the others hear. Members whose media is not in the pump yet
are tapped as soon as it is. On stop, the writer goes to the
:class:`~trunkline.engine.ports.RecordingSink`, which encodes and stores it off the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from trunkline.clock import Clock
from trunkline.engine.ports import RecordedAudio, RecordingOptions, RecordingSink
from trunkline.media.port import Frame
from trunkline.media.pump import MediaPump
from trunkline.media.recording import RecordingWriter

__all__ = ["ConferenceRecorder", "ConferenceRecording"]

log = logging.getLogger(__name__)

#: The media pump's sample rate.
PUMP_RATE = 8000


class ConferenceRecording:
    """One conversation being recorded: taps on its members, one mixed row a tick."""

    def __init__(self, pump: MediaPump, writer: RecordingWriter) -> None:
        self.pump = pump
        self.writer = writer
        self.wanted: set[str] = set()
        self._taps: dict[str, Callable[[], None]] = {}
        self._frames: dict[str, Frame] = {}
        self._remove_listener: Callable[[], None] | None = pump.add_tick_listener(self.commit)

    @property
    def members(self) -> frozenset[str]:
        """The legs whose audio is being tapped now."""
        return frozenset(self._taps)

    def set_members(self, legs: list[str]) -> None:
        """Record ``legs`` from the next tick on (departed members' taps are removed)."""
        self.wanted = set(legs)
        for uuid in list(self._taps):
            if uuid not in self.wanted:
                self._taps.pop(uuid)()
                self._frames.pop(uuid, None)
        self._attach()

    def _attach(self) -> None:
        for uuid in self.wanted:
            if uuid in self._taps:
                continue
            lm = self.pump.get(uuid)
            if lm is None:
                continue  # its media starts later: tried again every tick

            def heard(frame: Frame, uuid: str = uuid) -> None:
                self._frames[uuid] = frame

            self._taps[uuid] = lm.add_tap(heard)

    def commit(self) -> None:
        """The pump's tick listener: one row, the sum of the unmuted members' frames."""
        writer = self.writer
        for uuid, frame in self._frames.items():
            lm = self.pump.get(uuid)
            if lm is not None and not lm.muted:
                writer.put(0, frame)
        self._frames.clear()
        writer.commit()
        if len(self._taps) < len(self.wanted):
            self._attach()

    def close(self) -> None:
        """Stop taking frames (idempotent)."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        for remove in self._taps.values():
            remove()
        self._taps.clear()
        self._frames.clear()


class ConferenceRecorder:
    """Records conversations of pump legs; see the module docstring."""

    def __init__(
        self,
        pump: MediaPump,
        recordings: RecordingSink,
        clock: Clock,
        *,
        max_seconds: float = 7200.0,
    ) -> None:
        self.pump = pump
        self.clock = clock
        self.recordings = recordings
        self.max_seconds = max_seconds
        self.active: dict[str, tuple[ConferenceRecording, RecordingOptions, str, str | None]] = {}

    def start(
        self,
        conversation_uuid: str,
        rec_id: str,
        options: RecordingOptions,
        *,
        application_id: str | None = None,
    ) -> None:
        if rec_id in self.active:
            return
        writer = RecordingWriter(
            1, PUMP_RATE, file_rate=options.sample_rate, max_seconds=self.max_seconds
        )
        recording = ConferenceRecording(self.pump, writer)
        self.active[rec_id] = (recording, options, conversation_uuid, application_id)

    def set_members(self, rec_id: str, legs: list[str]) -> None:
        entry = self.active.get(rec_id)
        if entry is not None:
            entry[0].set_members(legs)

    def stop(self, rec_id: str, done: Callable[[int], None]) -> None:
        entry = self.active.pop(rec_id, None)
        if entry is None:
            log.info("conversation recording %s is not running", rec_id)
            self.clock.call_soon(lambda: done(0))
            return
        recording, options, conversation_uuid, application_id = entry
        recording.close()
        writer = recording.writer
        audio = RecordedAudio(
            file_id=options.file_id or rec_id,
            format=options.format,
            sample_rate=writer.file_rate,
            channels=writer.channels,
            seconds=writer.seconds,
            pcm=writer.pcm,
            application_id=application_id,
            conversation_uuid=conversation_uuid,
        )
        self.recordings.save(audio, done)
