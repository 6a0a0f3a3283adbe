"""``input``: collect DTMF and/or speech, then post the result (spec §2.3, §3.6).

Completion: ``maxDigits`` reached, ``#`` with ``submitOnHash`` (the ``#`` is not part
of ``digits``), or ``timeOut`` seconds without a key. Timers start when the prompts
before the input have finished playing (barge-in prompts may still be playing when
the input starts; a key stops them and starts the clock).

Speech: when listening starts the leg's channel is asked to recognise
(:meth:`~trunkline.engine.ports.Channel.start_speech` with :class:`SpeechOptions`); the
driver reports ``on_speech_started`` (stops barge-in prompts and the start timer),
then one ``on_speech_result`` (alternatives, ``timeout_reason``, recording URL), or
``on_speech_error`` (the result carries ``speech.error``). The engine's own
``startTimeout`` timer also ends an input no driver answers (the simulator's phones
only report finished utterances). Completing or cancelling the input stops recognition.
With trunkline's ``partialResultsUrl`` the options carry that URL, and the driver's
interim hypotheses are posted there while the caller speaks (:meth:`Leg.on_speech_partial`).
Recognition starts with the input when ``bargeIn`` prompts are still playing, so the
caller can talk over them (speech start stops them, as a key does); the driver's start
timeout is then the longest allowed (60 s) and the engine's timer, armed when the prompts
end, applies ``startTimeout``. Otherwise it starts with listening.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trunkline.clock import TimerHandle
from trunkline.engine.actions.base import ActionRunner
from trunkline.engine.ports import SpeechOptions
from trunkline.ncco import Action, Input


class InputRunner(ActionRunner[Input]):
    name = "input"

    def start(self) -> None:
        a = self.action
        self.flow.barge_mode = False
        self.digits = ""
        self.listening = False
        self.completed = False
        self.want_dtmf = "dtmf" in a.type
        self.want_speech = "speech" in a.type
        self.speech_timer: TimerHandle | None = None
        self.dtmf_timer: TimerHandle | None = None
        self.speech_id: str | None = None  # set while the channel recognises for us
        if a.mode == "asynchronous":
            self._start_async()
            return
        if self.want_speech and not self.flow.prompts.idle:
            self._start_recognition(barge_in=True)  # only bargeIn prompts play here
        self.flow.prompts.when_idle(self._listen)

    # -- synchronous ------------------------------------------------------------------------
    def _listen(self) -> None:
        if not self.active or self.listening:
            return
        self.listening = True
        if self.want_speech:
            speech = self.action.speech
            start_timeout = speech.start_timeout if speech else 10.0
            self.speech_timer = self.later(start_timeout, self._speech_start_timeout)
            if self.speech_id is None:
                self._start_recognition()
        elif self.want_dtmf:
            self._arm_dtmf_timer()

    def _arm_dtmf_timer(self) -> None:
        if self.dtmf_timer is not None:
            self.dtmf_timer.cancel()
        self.dtmf_timer = self.later(self.action.dtmf.time_out, self._dtmf_timeout)

    def on_digit(self, digit: str) -> None:
        if not self.active or not self.want_dtmf or self.completed:
            return
        self.flow.prompts.barge()
        self.listening = True
        settings = self.action.dtmf
        if digit == "#" and settings.submit_on_hash:
            self._complete(timed_out=False)
            return
        self.digits += digit
        if len(self.digits) >= settings.max_digits:
            self._complete(timed_out=False)
            return
        if self.speech_timer is not None:
            self.speech_timer.cancel()
        self._arm_dtmf_timer()

    def _start_recognition(self, *, barge_in: bool = False) -> None:
        channel = self.leg.channel
        if channel is None:
            return
        speech = self.action.speech
        options = (
            SpeechOptions(
                language=speech.language,
                context=tuple(speech.context),
                end_on_silence=speech.end_on_silence,
                start_timeout=60.0 if barge_in else speech.start_timeout,
                max_duration=speech.max_duration,
                save_audio=speech.save_audio,
                sensitivity=speech.sensitivity,
                partial_results_url=(
                    speech.partial_results_url[0] if speech.partial_results_url else None
                ),
                partial_results_method=speech.partial_results_method or "POST",
            )
            if speech is not None
            else SpeechOptions(start_timeout=60.0 if barge_in else 10.0)
        )
        self.speech_id = f"{self.leg.uuid}:input:{self.index}"
        channel.start_speech(self.speech_id, options)

    def _stop_recognition(self) -> None:
        speech_id, self.speech_id = self.speech_id, None
        if speech_id is not None and self.leg.channel is not None:
            self.leg.channel.stop_speech(speech_id)

    def on_speech(self, text: str, confidence: float) -> None:
        self.on_speech_result([(text, confidence)], "end_on_silence_timeout", None)

    def on_speech_started(self) -> None:
        if not self.active or not self.want_speech or self.completed or self.digits:
            return
        self.listening = True  # the start timer is not needed any more (nor armed later)
        self.flow.prompts.barge()
        if self.speech_timer is not None:
            self.speech_timer.cancel()
            self.speech_timer = None

    def on_speech_result(
        self, results: list[tuple[str, float]], timeout_reason: str, recording_url: str | None
    ) -> None:
        if not self.active or not self.want_speech or self.completed:
            return
        if self.digits:  # a key was pressed first: DTMF wins
            return
        self.flow.prompts.barge()
        speech: dict[str, Any] = {}
        if recording_url is not None:
            speech["recording_url"] = recording_url
        speech["timeout_reason"] = timeout_reason
        speech["results"] = [
            {"text": text, "confidence": f"{confidence:.7f}".rstrip("0").rstrip(".") or "0"}
            for text, confidence in results
        ]
        self._complete(timed_out=False, speech=speech)

    def on_speech_error(self, reason: str) -> None:
        if not self.active or not self.want_speech or self.completed:
            return
        self._complete(timed_out=False, speech={"error": reason, "results": []})

    def on_cancel(self) -> None:
        self._stop_recognition()

    def _dtmf_timeout(self) -> None:
        self._complete(timed_out=True)

    def _speech_start_timeout(self) -> None:
        if self.digits:
            return
        self._complete(timed_out=False, speech={"timeout_reason": "start_timeout", "results": []})

    def _complete(self, *, timed_out: bool, speech: dict[str, Any] | None = None) -> None:
        self.completed = True
        self._clear_timers()
        self._stop_recognition()
        self.flow.prompts.barge()
        a = self.action
        if a.legacy:
            body: dict[str, Any] = {
                "uuid": self.leg.uuid,
                "conversation_uuid": self.leg.conversation_uuid,
                "timed_out": timed_out,
                "dtmf": self.digits,
                "timestamp": self.envelope()["timestamp"],
            }
        else:
            body = self.envelope()
            body["dtmf"] = {"digits": self.digits or None, "timed_out": timed_out}
            if speech is not None:
                body["speech"] = speech
            elif self.want_speech:
                body["speech"] = {"error": "Speech overridden by DTMF", "results": []}
            else:
                body["speech"] = {"results": []}
        self.leg.journal(
            "input",
            f"digits={self.digits or '-'} timed_out={timed_out}"
            + (f" speech={[r['text'] for r in speech['results']]}" if speech else ""),
        )
        self.ask("input", body, self.target(a.event_url, a.event_method), self._reply)

    def _reply(self, actions: Sequence[Action] | None) -> None:
        self.done(actions)

    # -- asynchronous: every key is posted as it comes; the NCCO moves on ----------------------
    def _start_async(self) -> None:
        a = self.action
        target = self.target(a.event_url, a.event_method)
        leg = self.leg

        def on_key(digit: str) -> None:
            body = self.envelope()
            body["dtmf"] = {"digits": digit, "timed_out": False}
            leg.emit("input", body, target)

        leg.dtmf_listener = on_key
        self.done()
