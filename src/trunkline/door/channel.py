"""One SIP call leg as the engine's :class:`~trunkline.engine.ports.Channel`.

A :class:`SipChannel` ties three things together: the engine's leg, the SIP dialog (by
Call-ID, through the door's :class:`~trunkline.transport.server.SipServer`) and the
leg's RTP socket driven by the media pump. The engine calls it (answer, hang up, play,
record, DTMF, who hears whom); it calls the engine back with what happened on the
wire (ringing, answered, failed, hung up, digits, recordings done, machine verdicts).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from trunkline.door.progress import failure_status, refusal_code
from trunkline.door.prompts import PromptPlayer
from trunkline.engine.leg import Leg
from trunkline.engine.ports import Prompt, RecordingOptions, SpeechOptions
from trunkline.media.amd import Beep, MachineDetector, Vad, frames_for_seconds
from trunkline.media.asr import (
    SpeechError,
    SpeechEvent,
    SpeechListener,
    SpeechPartial,
    SpeechStarted,
)
from trunkline.media.port import Frame
from trunkline.media.pump import LegMedia
from trunkline.media.recording import RecordingWriter, tap_leg
from trunkline.media.rtpleg import RtpLeg
from trunkline.media.split import tap_conversation
from trunkline.sip.core import Answer, Decision, Reject
from trunkline.sip.sdp import AudioSession, Direction, NegotiatedAudio, SdpError, parse_sdp
from trunkline.transport.server import Answered, Ended, Failed, OutboundEvent, Progress

if TYPE_CHECKING:
    from trunkline.door.driver import SipDoor

__all__ = ["SipChannel"]

#: The media pump's sample rate.
PUMP_RATE = 8000

log = logging.getLogger(__name__)


class _Recording:
    """A recording in progress: its writer, and how to stop its taps."""

    def __init__(self, options: RecordingOptions) -> None:
        self.options = options
        channels = max(options.channels, 2 if options.split else 1)
        self.writer = RecordingWriter(channels, PUMP_RATE, file_rate=options.sample_rate)
        self.stop_taps: Callable[[], None] | None = None

    def attach(self, media: LegMedia, on_voice: Callable[[], None], channel: SipChannel) -> None:
        if self.stop_taps is None:
            split = self.writer.channels >= 2
            if self.options.split and self.writer.channels > 2:  # a channel a participant
                stop_writer = tap_conversation(
                    channel.door.pump, media, self.writer, order=lambda: channel.hearing
                )
            else:
                stop_writer = tap_leg(media, self.writer, split=split)
            stop_vad = media.add_tap(_VoiceWatch(on_voice))

            def stop() -> None:
                stop_writer()
                stop_vad()

            self.stop_taps = stop

    def stop(self) -> None:
        if self.stop_taps is not None:
            self.stop_taps()
            self.stop_taps = None


class _VoiceWatch:
    """Tells the engine the caller is speaking (for record's endOnSilence), at most every
    200 ms while they do: webrtcvad on each inbound frame."""

    EVERY = 10  # frames

    def __init__(self, on_voice: Callable[[], None]) -> None:
        self.on_voice = on_voice
        self.vad = Vad()
        self.quiet_for = self.EVERY

    def __call__(self, frame: Frame) -> None:
        if self.vad.is_speech(frame):
            if self.quiet_for >= self.EVERY:
                self.on_voice()
                self.quiet_for = 0
            self.quiet_for += 1
        else:
            self.quiet_for = self.EVERY


class SipChannel:
    """The network side of one SIP leg (inbound or outbound)."""

    def __init__(
        self,
        door: SipDoor,
        leg: Leg | None,
        *,
        direction: str,
        rtp: RtpLeg | None = None,
        audio: AudioSession | None = None,
    ) -> None:
        self.door = door
        self.leg = leg
        self.direction = direction
        self.rtp = rtp
        self.audio = audio
        self.call_id = ""
        self.media: LegMedia | None = None
        self.state = "new"  # new → ringing → answered → ended
        self.decision: asyncio.Future[Decision] | None = None
        self.answer_sdp: bytes = b""
        self.answer_wanted = False
        self.player: PromptPlayer | None = None
        self.recordings: dict[str, _Recording] = {}
        self.hearing: list[str] = []
        self.muted = False
        self.earmuffed = False
        self._amd_remove: Callable[[], None] | None = None
        self.listeners: dict[
            str, tuple[SpeechListener, Callable[[], None] | None, SpeechOptions]
        ] = {}

    # -- the engine's commands -------------------------------------------------------------
    def answer(self) -> None:
        """Inbound: the NCCO is ready — send 200 OK with our SDP answer."""
        if self.decision is not None and not self.decision.done():
            if not self.answer_sdp:
                self.answer_wanted = True  # the RTP socket is still opening: answer then
                return
            self.decision.set_result(Answer(self.answer_sdp))
            self._start_media()

    def reject(self, status: str) -> None:
        code, reason = refusal_code(status)
        self._refuse(code, reason)

    def hangup(self) -> None:
        if self.state == "ended":
            return
        if self.decision is not None and not self.decision.done():
            self._refuse(480, "Temporarily Unavailable")
            return
        server = self.door.server
        if self.state == "answered":
            server.hangup(self.call_id)
        elif self.call_id:
            server.cancel(self.call_id)
        self._end()

    def play(self, play_id: int, prompt: Prompt) -> None:
        if self.state != "ended" and self.leg is not None:
            self._player(self.leg).play(play_id, prompt)

    def stop_play(self, play_id: int) -> None:
        if self.player is not None:
            self.player.stop(play_id)

    def _player(self, leg: Leg) -> PromptPlayer:
        if self.player is None:
            self.player = PromptPlayer(
                leg,
                self.door.prompts.render,
                self.door.spawn,
                lambda: self.media if self.state != "ended" else None,
            )
        return self.player

    def send_dtmf(self, digits: str) -> None:
        if self.rtp is not None and self.state == "answered":
            self.rtp.send_dtmf(digits)

    def start_recording(self, rec_id: str, options: RecordingOptions) -> None:
        rec = _Recording(options)
        self.recordings[rec_id] = rec
        if self.media is None:
            return
        rec.attach(self.media, self._voice, self)
        if options.beep_start:
            self.media.play(self.door.beep, loop=1)

    def stop_recording(self, rec_id: str) -> None:
        rec = self.recordings.pop(rec_id, None)
        if rec is None:
            return
        rec.stop()
        self.door.store_recording(self, rec_id, rec.options, rec.writer)

    def start_speech(self, listen_id: str, options: SpeechOptions) -> None:
        """Recognise what the caller says (an ``input`` with speech) from the leg's audio."""
        leg = self.leg
        if leg is None or self.state == "ended":
            return
        try:
            listener = SpeechListener(
                self.door.speech_engine(),
                options,
                functools.partial(self._on_speech, listen_id),
                on_error=lambda exc: self._speech_failed(listen_id, exc),
                executor=self.door.speech_executor,
            )
        except SpeechError as exc:
            leg.on_speech_error(str(exc))
            return
        remove = self.media.add_tap(listener.feed) if self.media is not None else None
        self.listeners[listen_id] = (listener, remove, options)

    def stop_speech(self, listen_id: str) -> None:
        entry = self.listeners.pop(listen_id, None)
        if entry is None:
            return
        listener, remove, _ = entry
        listener.close()
        if remove is not None:
            remove()

    def _on_speech(self, listen_id: str, event: SpeechEvent) -> None:
        leg = self.leg
        entry = self.listeners.get(listen_id)
        if leg is None or entry is None:
            return
        if isinstance(event, SpeechStarted):
            leg.on_speech_started()
        elif isinstance(event, SpeechPartial):
            leg.on_speech_partial(entry[2], event.text)
        else:
            options = entry[2]
            self.stop_speech(listen_id)
            url = None
            if options.save_audio and event.audio is not None:
                url = self.door.store_utterance(leg, event.audio)
            leg.on_speech_result(list(event.results), event.timeout_reason, url)

    def _speech_failed(self, listen_id: str, exc: Exception) -> None:
        self.stop_speech(listen_id)
        log.warning("leg %s: speech recognition failed: %s", self.uuid, exc)
        if self.leg is not None:
            self.leg.on_speech_error(f"speech recognition failed: {exc}")

    def conversation_changed(self, conversation_uuid: str | None, peers: list[str]) -> None:
        self.hearing = list(peers)
        if self.media is not None:
            self.door.pump.set_hearing(self.uuid, peers)

    def set_audio(self, *, muted: bool, earmuffed: bool) -> None:
        self.muted = muted
        self.earmuffed = earmuffed
        if self.media is not None:
            self.media.muted = muted
            self.media.earmuffed = earmuffed

    # -- the wire's events -------------------------------------------------------------------
    @property
    def uuid(self) -> str:
        return self.leg.uuid if self.leg is not None else self.call_id

    def on_outbound(self, event: OutboundEvent) -> None:
        """Progress of an INVITE we sent."""
        leg = self.leg
        if leg is None or self.state == "ended":
            if isinstance(event, Answered):
                self.door.server.hangup(self.call_id)  # answered after we gave up
            return
        if isinstance(event, Progress):
            if event.status in (180, 183) and self.state == "new":
                self.state = "ringing"
                leg.on_ringing()
            if event.sdp and self._apply_answer(event.sdp) and self.state != "answered":
                self._start_media()  # early media (183): ringback from the far end
        elif isinstance(event, Answered):
            if not leg.alive:
                self.door.server.hangup(self.call_id)
                self._end()
                return
            if not self._apply_answer(event.sdp):
                self.door.server.hangup(self.call_id)
                self._end()
                leg.on_failed("failed", "no common codec", 488)
                return
            self.state = "answered"
            self._start_media()
            leg.on_answered()
            self._watch_machine()
        elif isinstance(event, Failed):
            self._end()
            status = failure_status(event.status)
            if status == "cancelled":
                leg.on_hangup()
            else:
                leg.on_failed(status, event.reason, event.status)
        elif isinstance(event, Ended):
            self._end()
            leg.on_hangup()

    def remote_ended(self) -> None:
        """The far end hung up (BYE), cancelled, or never acknowledged our 200."""
        if self.decision is not None and not self.decision.done():
            self.decision.cancel()
        self._end()
        if self.leg is not None:
            self.leg.on_hangup()

    def _voice(self) -> None:
        if self.leg is not None and self.state == "answered":
            self.leg.on_voice()

    def on_digit(self, digit: str) -> None:
        if self.leg is not None and self.state == "answered":
            self.leg.on_digits(digit)
            self.door.relay_dtmf(self.leg.uuid, digit)

    def reoffer(self, body: bytes) -> bytes | None:
        """A re-INVITE: answer the new offer (hold, resume, a new address or codec)."""
        if self.audio is None or self.rtp is None:
            return None
        try:
            answer, negotiated = self.audio.receive_offer(parse_sdp(body))
        except SdpError as exc:
            log.info("leg %s: re-offer refused: %s", self.uuid, exc)
            return None
        self._apply(negotiated)
        if self.leg is not None:
            self.leg.journal("sip", "on hold" if negotiated.on_hold else "off hold")
        return str(answer).encode()

    # -- inside ------------------------------------------------------------------------------
    def _refuse(self, code: int, reason: str) -> None:
        if self.decision is not None and not self.decision.done():
            self.decision.set_result(Reject(code, reason))
        self._end()

    def _apply_answer(self, body: bytes) -> bool:
        if self.audio is None:
            return False
        try:
            negotiated = self.audio.receive_answer(parse_sdp(body))
        except SdpError as exc:
            log.info("leg %s: unusable SDP answer: %s", self.uuid, exc)
            return False
        self._apply(negotiated)
        return True

    def _apply(self, negotiated: NegotiatedAudio) -> None:
        if self.rtp is None:
            return
        self.rtp.set_remote(
            negotiated.remote_address,
            negotiated.remote_port,
            payload_type=negotiated.payload_type,
            dtmf_payload_type=negotiated.dtmf_payload_type,
        )
        self.rtp.hold(not negotiated.direction.sends or negotiated.direction is Direction.INACTIVE)

    def _start_media(self) -> None:
        if self.media is not None or self.rtp is None:
            if self.direction == "inbound" or self.state == "answered":
                self.state = "answered"
            return
        if self.direction == "inbound":
            self.state = "answered"
        self.rtp.on_dtmf = self.on_digit
        self.media = self.door.pump.add(self.rtp)
        self.media.muted = self.muted
        self.media.earmuffed = self.earmuffed
        if self.hearing:
            self.door.pump.set_hearing(self.uuid, self.hearing)
        for rec in self.recordings.values():
            rec.attach(self.media, self._voice, self)
        for listen_id, (listener, _, options) in list(self.listeners.items()):
            self.listeners[listen_id] = (listener, self.media.add_tap(listener.feed), options)

    def _watch_machine(self) -> None:
        """Machine detection on the answered audio (greeting length, pauses, the beep)."""
        leg = self.leg
        if leg is None or leg.machine_detection is None or self.media is None:
            return
        detector = MachineDetector(
            watch_beep=leg.amd_mode in ("default", "detect_beep"),
            beep_timeout_frames=frames_for_seconds(leg.beep_timeout),
        )
        vad = Vad()

        def tap(frame: Frame) -> None:
            for event in detector.push(frame, vad.is_speech(frame)):
                if not leg.alive:
                    break
                if isinstance(event, Beep):
                    leg.on_machine("machine", event.sub_state)
                else:
                    leg.on_machine(event.verdict)
            if detector.done and self._amd_remove is not None:
                self._amd_remove()
                self._amd_remove = None

        self._amd_remove = self.media.add_tap(tap)

    def _end(self) -> None:
        if self.state == "ended":
            return
        self.state = "ended"
        if self.player is not None:
            self.player.close()
        for rec_id in list(self.recordings):
            self.stop_recording(rec_id)
        for listen_id in list(self.listeners):
            self.stop_speech(listen_id)
        if self._amd_remove is not None:
            self._amd_remove()
            self._amd_remove = None
        if self.media is not None:
            self.door.pump.remove(self.uuid)
            self.media = None
        if self.rtp is not None:
            self.rtp.close()
        self.door.forget(self)
