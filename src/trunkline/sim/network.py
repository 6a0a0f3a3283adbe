"""The simulated phone network: a :class:`~trunkline.engine.ports.Network` driver.

Sim phones call trunkline numbers (inbound calls) and are the targets of outbound
calls and ``connect`` actions. Everything happens on the engine's clock, so on a
virtual clock an hour of calls runs in milliseconds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from trunkline.clock import Clock, TimerHandle
from trunkline.engine.leg import Leg
from trunkline.engine.ports import (
    Prompt,
    RecordedAudio,
    RecordingOptions,
    RecordingSink,
    SpeechOptions,
)
from trunkline.engine.switch import Switch
from trunkline.errors import NotFound
from trunkline.sim.phones import SimPhone, Step, speech_seconds

#: Bytes a second of recording, by format (MP3 32 kbps CBR; WAV 16-bit 16 kHz), per channel.
RECORD_RATE = {"mp3": 4000, "wav": 32000, "ogg": 4000}


class SimCall:
    """One call of a sim phone; the :class:`Channel` of its trunkline leg."""

    def __init__(self, net: SimNetwork, phone: SimPhone, leg: Leg | None, direction: str) -> None:
        self.net = net
        self.phone = phone
        self.leg = leg
        self.direction = direction  # as seen by trunkline: "inbound" = the phone called in
        self.id = leg.uuid if leg else ""
        self.state = "ringing"
        self.timers: list[TimerHandle] = []
        self.playing: dict[int, tuple[TimerHandle | None, Prompt]] = {}
        self.recordings: dict[str, tuple[float, RecordingOptions]] = {}
        self.waiting_steps: list[Step] = []
        self.listening: dict[str, SpeechOptions] = {}  # speech inputs waiting, by listen id

    @property
    def clock(self) -> Clock:
        return self.net.clock

    def note(self, event: str, **detail: Any) -> None:
        self.phone.note(self.clock.now(), event, self.id, **detail)

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        self.timers.append(self.clock.call_later(delay, fn))

    # -- the phone's own moves --------------------------------------------------------------
    def start_script(self) -> None:
        for step in self.phone.script:
            if step.when_heard:
                self.waiting_steps.append(step)
            else:
                self._schedule(step)

    def _schedule(self, step: Step) -> None:
        self._later(step.at, lambda: self.perform(step))

    def perform(self, step: Step) -> None:
        if self.state != "answered":
            return
        if step.press is not None:
            self.press(step.press)
        elif step.say is not None:
            self.say(step.say)
        elif step.hangup:
            self.hang_up()

    def press(self, digits: str) -> None:
        """Press keys; ``p`` waits 500 ms. Digits go out 100 ms apart."""
        if self.state != "answered" or self.leg is None:
            raise NotFound("this phone has no answered call")
        self.note("pressed", digits=digits)
        leg = self.leg
        delay = 0.0
        for ch in digits:
            if ch == "p":
                delay += 0.5
                continue
            self.clock.call_later(delay, functools.partial(leg.on_digits, ch))
            delay += 0.1

    def say(self, text: str) -> None:
        if self.state != "answered" or self.leg is None:
            raise NotFound("this phone has no answered call")
        self.note("said", text=text)
        leg = self.leg
        seconds = speech_seconds(text)
        # halfway through, one interim hypothesis (the whole text) for partialResultsUrl
        self._later(seconds / 2, lambda: self._partial(leg, text))
        # the recogniser reports once the speaker has finished the words
        self.clock.call_later(seconds, lambda: leg.on_speech(text, 0.9))

    def _partial(self, leg: Leg, text: str) -> None:
        for options in list(self.listening.values()):
            if options.partial_results_url:
                leg.on_speech_partial(options, text)

    def hang_up(self) -> None:
        if self.state in ("ended",):
            return
        self.note("hung_up", by="phone")
        self._end()
        if self.leg is not None:
            self.leg.on_hangup()

    def _end(self) -> None:
        self.state = "ended"
        for handle in self.timers:
            handle.cancel()
        self.timers.clear()
        for playing, _ in self.playing.values():
            if playing is not None:
                playing.cancel()
        self.playing.clear()
        self.net.calls.pop(self.id, None)

    # -- Channel: what trunkline does to this call ----------------------------------------------
    def answer(self) -> None:
        self.state = "answered"
        self.note("answered")
        self.start_script()

    def reject(self, status: str) -> None:
        self.note("call_failed", status=status)
        self._end()

    def hangup(self) -> None:
        if self.state == "ended":
            return
        if self.state == "ringing":
            self.note("missed_call" if self.direction == "outbound" else "call_failed")
        else:
            self.note("hung_up", by="trunkline")
        self._end()

    def play(self, play_id: int, prompt: Prompt) -> None:
        if prompt.kind == "tts":
            self.note("heard_talk", text=prompt.text, language=prompt.language, loop=prompt.loop)
            one = speech_seconds(prompt.text)
            self._heard(prompt.text)
        else:
            self.note("heard_stream", url=prompt.text, loop=prompt.loop)
            one = self.net.stream_seconds
        handle: TimerHandle | None = None
        if prompt.loop > 0:
            leg = self.leg

            def finished() -> None:
                self.playing.pop(play_id, None)
                if leg is not None:
                    leg.on_play_done(play_id)

            handle = self.clock.call_later(one * prompt.loop, finished)
        self.playing[play_id] = (handle, prompt)

    def _heard(self, text: str) -> None:
        lowered = text.lower()
        for step in list(self.waiting_steps):
            if step.when_heard and step.when_heard.lower() in lowered:
                self.waiting_steps.remove(step)
                self._schedule(step)

    def stop_play(self, play_id: int) -> None:
        entry = self.playing.pop(play_id, None)
        if entry is None:
            return
        handle, prompt = entry
        if handle is not None:
            handle.cancel()
        self.note("prompt_stopped", kind=prompt.kind, text=prompt.text)

    def send_dtmf(self, digits: str) -> None:
        self.note("heard_dtmf", digits=digits)

    def start_recording(self, rec_id: str, options: RecordingOptions) -> None:
        self.recordings[rec_id] = (self.clock.now(), options)
        if options.beep_start:
            self.note("heard_beep")

    def stop_recording(self, rec_id: str) -> None:
        entry = self.recordings.pop(rec_id, None)
        if entry is None or self.leg is None:
            return
        started, options = entry
        seconds = self.clock.now() - started
        leg = self.leg
        sink = self.net.recordings
        if sink is not None:
            # a real file of the recorded length (faint noise: a sim phone has no voice)
            audio = RecordedAudio(
                file_id=options.file_id or rec_id,
                format=options.format,
                sample_rate=options.sample_rate,
                channels=max(1, options.channels),
                seconds=seconds,
                application_id=leg.record.application_id,
                call_uuid=leg.uuid,
                conversation_uuid=leg.conversation_uuid,
            )
            sink.save(audio, lambda size: leg.on_recording_done(rec_id, size))
            return
        size = int(seconds * RECORD_RATE.get(options.format, 4000) * max(1, options.channels))
        self.clock.call_soon(lambda: leg.on_recording_done(rec_id, size))

    def conversation_changed(self, conversation_uuid: str | None, peers: list[str]) -> None:
        names = [self.net.describe_leg(uuid) for uuid in peers]
        self.note("hears", conversation_uuid=conversation_uuid, peers=names)

    def set_audio(self, *, muted: bool, earmuffed: bool) -> None:
        self.note("audio", muted=muted, earmuffed=earmuffed)

    def start_speech(self, listen_id: str, options: SpeechOptions) -> None:
        """A sim phone's script says what it says (see :meth:`say`); the options are kept
        for the interim result :meth:`say` posts to ``partial_results_url``."""
        self.listening[listen_id] = options

    def stop_speech(self, listen_id: str) -> None:
        self.listening.pop(listen_id, None)


class SimConversationRecorder:
    """The :class:`~trunkline.engine.ports.ConversationRecorder` of sim conversations.

    Sim phones have no voice: the file is a real one of the recorded length (faint noise,
    through the :class:`RecordingSink`) or, with no sink, just its size from the duration.
    """

    def __init__(self, clock: Clock, recordings: RecordingSink | None = None) -> None:
        self.clock = clock
        self.recordings = recordings
        #: rec id -> (started at, options, conversation uuid, application id)
        self.active: dict[str, tuple[float, RecordingOptions, str, str | None]] = {}
        #: rec id -> the members it mixes now (what a test can look at)
        self.members: dict[str, list[str]] = {}

    def start(
        self,
        conversation_uuid: str,
        rec_id: str,
        options: RecordingOptions,
        *,
        application_id: str | None = None,
    ) -> None:
        self.active[rec_id] = (self.clock.now(), options, conversation_uuid, application_id)
        self.members[rec_id] = []

    def set_members(self, rec_id: str, legs: list[str]) -> None:
        if rec_id in self.active:
            self.members[rec_id] = list(legs)

    def stop(self, rec_id: str, done: Callable[[int], None]) -> None:
        entry = self.active.pop(rec_id, None)
        if entry is None:
            self.clock.call_soon(lambda: done(0))
            return
        started, options, conv_uuid, app_id = entry
        seconds = self.clock.now() - started
        if self.recordings is not None:
            audio = RecordedAudio(
                file_id=options.file_id or rec_id,
                format=options.format,
                sample_rate=options.sample_rate,
                channels=max(1, options.channels),
                seconds=seconds,
                application_id=app_id,
                conversation_uuid=conv_uuid,
            )
            self.recordings.save(audio, done)
            return
        size = int(seconds * RECORD_RATE.get(options.format, 4000) * max(1, options.channels))
        self.clock.call_soon(lambda: done(size))


def _beep(greeting: float | None, timeout: float, leg: Leg) -> tuple[float, Callable[[], None]]:
    """When a sim answering machine's beep is heard (or detection gives up), and the event."""
    if greeting is not None and greeting < timeout:
        return greeting, lambda: leg.on_machine("machine", "beep_start")
    return timeout, lambda: leg.on_machine("machine", "beep_timeout")


class SimNetwork:
    """The phones, and the driver that connects them with trunkline's switch."""

    def __init__(
        self,
        clock: Clock,
        *,
        stream_seconds: float = 4.0,
        recordings: RecordingSink | None = None,
    ) -> None:
        self.clock = clock
        self.stream_seconds = stream_seconds
        #: stores recordings as files; None: only their size is computed
        self.recordings = recordings
        self.phones: dict[str, SimPhone] = {}
        self.calls: dict[str, SimCall] = {}
        self._switch: Switch | None = None

    def bind(self, switch: Switch) -> None:
        self._switch = switch

    @property
    def switch(self) -> Switch:
        if self._switch is None:
            raise RuntimeError("SimNetwork.bind(switch) has not been called")
        return self._switch

    # -- phones -----------------------------------------------------------------------------
    def add_phone(
        self,
        number: str,
        *,
        answer: str = "human",
        ring: float = 2.0,
        script: Iterable[Step] = (),
        user: str | None = None,
        uri: str | None = None,
        keep_log: bool = True,
        greeting: float | None = 4.0,
    ) -> SimPhone:
        phone = SimPhone(
            number=number,
            answer=answer,
            ring=ring,
            greeting=greeting,
            script=tuple(script),
            user=user,
            uri=uri,
            keep_log=keep_log,
        )
        self.phones[number] = phone
        return phone

    def phone(self, number: str) -> SimPhone:
        try:
            return self.phones[number]
        except KeyError:
            raise NotFound(f"no sim phone {number}") from None

    def remove_phone(self, number: str) -> None:
        self.phone(number)
        del self.phones[number]

    def describe_leg(self, uuid: str) -> str:
        call = self.calls.get(uuid)
        if call is not None:
            return call.phone.number
        leg = self.switch.legs.get(uuid)
        return leg.to_str if leg is not None else uuid

    def active_call(self, number: str) -> SimCall:
        """The phone's most recent call that has not ended."""
        phone = self.phone(number)
        for call in reversed(list(self.calls.values())):
            if call.phone is phone and call.state != "ended":
                return call
        raise NotFound(f"sim phone {number} has no call in progress")

    # -- calling trunkline --------------------------------------------------------------------
    def call(
        self, from_number: str, to_number: str, headers: dict[str, Any] | None = None
    ) -> SimCall:
        """The phone ``from_number`` dials ``to_number`` (a trunkline number)."""
        phone = self.phone(from_number)
        call = SimCall(self, phone, None, "inbound")
        phone.note(self.clock.now(), "dialing", "", to=to_number)
        leg = self.switch.inbound_call(
            from_={"type": "phone", "number": from_number},
            to={"type": "phone", "number": to_number},
            channel=call,
            headers=headers,
        )
        if leg is None:
            phone.note(self.clock.now(), "call_failed", "", status="not_found", to=to_number)
            call.state = "ended"
            return call
        call.leg = leg
        call.id = leg.uuid
        if leg.alive:
            self.calls[call.id] = call
        return call

    # -- Network: trunkline calls a phone ------------------------------------------------------
    def find(self, endpoint: dict[str, Any]) -> SimPhone | None:
        kind = endpoint.get("type")
        if kind == "phone":
            return self.phones.get(str(endpoint.get("number", "")).lstrip("+"))
        for phone in self.phones.values():
            if kind == "app" and phone.user == endpoint.get("user"):
                return phone
            if kind == "sip" and phone.uri and phone.uri == endpoint.get("uri"):
                return phone
        return None

    def dial(self, leg: Leg, endpoint: dict[str, Any], caller: str) -> None:
        phone = self.find(endpoint)
        if phone is None:
            self.clock.call_soon(lambda: leg.on_failed("failed", "cannot_route", 404))
            return
        call = SimCall(self, phone, leg, "outbound")
        leg.attach(call)
        self.calls[call.id] = call

        def ring() -> None:
            if call.state == "ended":
                return
            call.note("ringing", caller=caller)
            leg.on_ringing()
            call._later(phone.ring, settle)

        def settle() -> None:
            if call.state == "ended" or not leg.alive:
                return
            behaviour = phone.answer
            if behaviour in ("human", "machine"):
                call.answer()
                leg.on_answered()
                leg.on_machine(behaviour)
                if behaviour == "machine" and leg.amd_mode in ("default", "detect_beep"):
                    call._later(*_beep(phone.greeting, leg.beep_timeout, leg))
            elif behaviour == "busy":
                call.note("rejected", status="busy")
                call._end()
                leg.on_failed("busy", None, 486)
            elif behaviour == "reject":
                call.note("rejected", status="rejected")
                call._end()
                leg.on_failed("rejected", "declined", 603)
            elif behaviour == "unanswered":
                call.note("missed_call")
                call._end()
                leg.on_failed("unanswered", "unavailable", 480)
            elif behaviour == "fail":
                call.note("call_failed")
                call._end()
                leg.on_failed("failed", "number_out_of_service", 404)
            # "no_answer": keeps ringing until trunkline gives up

        self.clock.call_soon(ring)
