"""``record``: record the leg (spec §2.4, §3.7).

Synchronous only with ``endOnSilence`` or ``endOnKey`` (the 2021 recording guide;
``timeOut`` alone caps an asynchronous recording — see docs/compatibility.md).
An asynchronous recording runs in the background until its ``timeOut`` or the end
of the call, and the ``record`` event is sent whenever it stops.
"""

from __future__ import annotations

from trunkline.clock import TimerHandle, iso
from trunkline.engine.actions.base import ActionRunner
from trunkline.engine.ports import RecordingOptions
from trunkline.ncco import Record


class RecordRunner(ActionRunner[Record]):
    name = "record"

    def start(self) -> None:
        a = self.action
        switch = self.switch
        self.recording_uuid = switch.ids.uuid()
        self.file_id = switch.ids.uuid()
        self.started_at = switch.clock.now()
        self.stopped_at: float | None = None
        self.silence_timer: TimerHandle | None = None
        self.synchronous = a.end_on_silence is not None or a.end_on_key is not None
        channels = a.channels or (2 if a.split else 1)
        fmt = a.format if a.format else ("wav" if channels > 2 else "mp3")
        switch.recordings[self.recording_uuid] = self._recording_done
        if self.leg.channel is not None:
            self.leg.channel.start_recording(
                self.recording_uuid,
                RecordingOptions(
                    format=fmt,
                    split=a.split,
                    channels=channels,
                    beep_start=a.beep_start,
                    file_id=self.file_id,
                ),
            )
        self.leg.journal("record", f"recording {self.recording_uuid} started ({fmt})")
        self.later(a.time_out, self._stop)
        self._arm_silence()
        if not self.synchronous:
            self.flow.to_background(self)

    def _arm_silence(self) -> None:
        if self.action.end_on_silence is None:
            return
        if self.silence_timer is not None:
            self.silence_timer.cancel()
        self.silence_timer = self.later(self.action.end_on_silence, self._stop)

    def on_digit(self, digit: str) -> None:
        if self.action.end_on_key is not None and digit == self.action.end_on_key:
            self._stop()
        else:
            self._arm_silence()

    def on_speech(self, text: str, confidence: float) -> None:
        self._arm_silence()

    def on_voice(self) -> None:
        self._arm_silence()  # endOnSilence counts from the last sound of the caller's voice

    def on_cancel(self) -> None:
        # The call ended or the NCCO was replaced: the recording still stops and is reported.
        self._stop()

    def _stop(self) -> None:
        if self.stopped_at is not None:
            return
        self.stopped_at = self.switch.clock.now()
        self._clear_timers()
        if self.leg.channel is not None:
            self.leg.channel.stop_recording(self.recording_uuid)
        else:
            self._recording_done(0)

    def _recording_done(self, size: int) -> None:
        self.switch.recordings.pop(self.recording_uuid, None)
        a = self.action
        end = self.stopped_at if self.stopped_at is not None else self.switch.clock.now()
        body = {
            "start_time": iso(self.started_at),
            "end_time": iso(end),
            "recording_url": self.switch.file_url(self.file_id),
            "size": size,
            "recording_uuid": self.recording_uuid,
            "conversation_uuid": self.leg.conversation_uuid,
            "timestamp": iso(self.switch.clock.now()),
        }
        self.leg.journal("record", f"recording {self.recording_uuid} stopped, {size} bytes")
        self.leg.emit("record", body, self.target(a.event_url, a.event_method))
        if self.active:
            self.done()
