"""A call leg: its state machine (spec/VOICE-API.md §7.2) and what drivers report on it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trunkline.clock import TimerHandle, iso
from trunkline.domain import FINAL_STATUSES, Application, CallRecord, TimelineEntry
from trunkline.engine.hooks import Hook
from trunkline.engine.ports import Channel, SpeechOptions
from trunkline.ncco import Action

if TYPE_CHECKING:
    from trunkline.engine.flow import CallFlow
    from trunkline.engine.switch import Switch

log = logging.getLogger(__name__)

#: A named conversation is keyed by (application id, name).
ConvKey = tuple[str | None, str]

FAILURES = frozenset({"busy", "cancelled", "failed", "rejected", "timeout", "unanswered"})

#: Leg status transitions, one table (STYLE rule 2). ``machine``/``human`` are events
#: reported on an answered leg, not states of their own.
TRANSITIONS: dict[str, frozenset[str]] = {
    "started": frozenset({"ringing", "answered"} | FAILURES),
    "ringing": frozenset({"answered"} | FAILURES),
    "answered": frozenset({"completed"}),
}

#: SIP-style codes Vonage reports with final statuses (``sip_code``).
SIP_CODES = {
    "completed": 200,
    "busy": 486,
    "rejected": 603,
    "unanswered": 480,
    "timeout": 487,
    "cancelled": 487,
    "failed": 500,
}


class LegStateError(Exception):
    """An impossible leg transition: a bug in a driver or the engine."""


@dataclass(frozen=True)
class EventTarget:
    """Where a leg's status events go."""

    url: str | None
    method: str = "POST"
    connect_timeout: float = 1.0
    read_timeout: float = 10.0


class Leg:
    """One party of a call. Drivers call the ``on_*`` methods; the engine the rest."""

    def __init__(
        self,
        switch: Switch,
        record: CallRecord,
        app: Application | None,
        events: EventTarget,
        *,
        headers: dict[str, Any] | None = None,
    ) -> None:
        self.switch = switch
        self.record = record
        self.app = app
        self.events = events
        self.headers = headers or {}
        self.channel: Channel | None = None
        self.flow: CallFlow | None = None
        self.parent: Leg | None = None  # the leg whose connect action created this one
        self.bridged: set[Leg] = set()  # legs this one is connected to by a connect action
        self.observers: list[Callable[[Leg, str], None]] = []  # told of every status change
        self.timers: dict[str, TimerHandle] = {}
        self.muted = False
        self.earmuffed = False
        self.named_conversation: ConvKey | None = None  # key of the named conversation joined
        self.machine_detection: str | None = None  # behavior: "continue" | "hangup"
        #: advanced machine detection's mode ("default" | "detect" | "detect_beep"); None is
        #: the standard detection (a verdict event, no beep)
        self.amd_mode: str | None = None
        self.beep_timeout = 45.0
        #: the NCCO start a synchronous detection holds until its verdict (or beep)
        self.held_flow: Callable[[], None] | None = None
        self.dtmf_listener: Callable[[str], None] | None = None  # asynchronous input
        # what events put in "from"/"to": fixed for the life of the leg
        self.from_str = endpoint_str(record.from_)
        self.to_str = endpoint_str(record.to)
        # connect with eventType synchronous: the failure event's reply NCCO goes here
        self.failure_reply: Callable[[Sequence[Action] | None], None] | None = None
        self.disconnected = False  # a WebSocket leg whose application closed the socket

    # -- identity ---------------------------------------------------------------------
    @property
    def uuid(self) -> str:
        return self.record.uuid

    @property
    def conversation_uuid(self) -> str:
        return self.record.conversation_uuid

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def direction(self) -> str:
        return self.record.direction

    @property
    def alive(self) -> bool:
        return self.record.status not in FINAL_STATUSES

    @property
    def answered(self) -> bool:
        return self.record.status == "answered"

    def __repr__(self) -> str:
        return f"<Leg {self.uuid[:8]} {self.direction} {self.to_str} {self.status}>"

    # -- state ------------------------------------------------------------------------
    def set_status(self, new: str, **extra: Any) -> None:
        """The one place a leg changes state: check, record, store, journal, emit."""
        old = self.record.status
        if new not in TRANSITIONS.get(old, frozenset()):
            raise LegStateError(f"leg {self.uuid}: {old} -> {new} is not a valid transition")
        now = self.switch.clock.now()
        rec = self.record
        rec.status = new
        if new == "answered":
            rec.start_time = now
        if new in FINAL_STATUSES:
            rec.end_time = now
            if new == "completed":
                start = rec.start_time if rec.start_time is not None else now
                rec.duration = max(0, round(now - start))
                rec.rate = self.switch.settings.rate
                rec.price = _price(self.switch.settings.rate, rec.duration)
                rec.network = self.switch.settings.network
                rec.disconnected_by = extra.get("disconnected_by", "platform")
            for handle in self.timers.values():
                handle.cancel()
            self.timers.clear()
        log.debug("leg %s: %s -> %s", self.uuid, old, new)
        self.switch.recorder.save_call(rec)
        data = {k: v for k, v in extra.items() if v is not None}
        if self.events.url:
            data["event_url"] = self.events.url
        self.journal("leg", f"{old} -> {new}", **data)
        if new in FAILURES and self.failure_reply is not None:
            self.switch.ask(
                self, "connect", self.status_body(new, **extra), self.events, self.failure_reply
            )
        else:
            self.emit_status(new, **extra)
        for observer in list(self.observers):
            observer(self, new)
        if new in FINAL_STATUSES:
            self.switch.leg_ended(self)

    def status_body(self, status: str, **extra: Any) -> dict[str, Any]:
        """A status event as Vonage sends it (spec §3.3–3.4)."""
        now = self.switch.clock.now()
        rec = self.record
        body: dict[str, Any] = {
            "from": self.from_str,
            "to": self.to_str,
            "uuid": rec.uuid,
            "conversation_uuid": rec.conversation_uuid,
            "status": status,
            "direction": rec.direction,
            "timestamp": iso(now),
        }
        if status == "answered":
            body.update(start_time=None, rate=None, network=None)
        elif status == "completed":
            body.update(
                start_time=iso(rec.start_time if rec.start_time is not None else now),
                end_time=iso(rec.end_time if rec.end_time is not None else now),
                duration=str(rec.duration or 0),
                rate=rec.rate,
                price=rec.price,
                network=rec.network,
                disconnected_by=rec.disconnected_by,
            )
        if status in SIP_CODES:
            body["sip_code"] = extra.get("sip_code") or SIP_CODES[status]
        if extra.get("detail"):
            body["detail"] = extra["detail"]
        if self.headers:
            body["headers"] = dict(self.headers)
        return body

    def emit_status(self, status: str, **extra: Any) -> None:
        # the status change itself is the timeline line; no second one for its event
        self.emit("status", self.status_body(status, **extra), journal=False)

    def emit(
        self,
        kind: str,
        body: dict[str, Any],
        target: EventTarget | None = None,
        *,
        journal: bool = True,
    ) -> None:
        """Send an event that may not change the flow (its reply is ignored)."""
        tgt = target or self.events
        if not tgt.url:
            return
        if journal:
            self.journal("event", f"{kind} {body.get('status', '')}".strip(), url=tgt.url)
        self.switch.webhooks.send(
            self.switch.effective_hook(self.event_hook(kind, body, tgt), self)
        )

    def event_hook(self, kind: str, body: dict[str, Any], target: EventTarget) -> Hook:
        """The request for an event of this leg sent to ``target``."""
        return Hook(
            kind=kind,
            url=target.url or "",
            method=target.method,
            body=body,
            call_uuid=self.uuid,
            conversation_uuid=self.conversation_uuid,
            connect_timeout=target.connect_timeout,
            read_timeout=target.read_timeout,
        )

    def emit_error(self, reason: str) -> None:
        """An error event (spec §3.10): no status, a reason naming what went wrong."""
        self.journal("error", reason)
        self.emit(
            "error",
            {
                "reason": reason,
                "conversation_uuid": self.conversation_uuid,
                "uuid": self.uuid,
                "timestamp": iso(self.switch.clock.now()),
            },
        )

    def journal(self, kind: str, summary: str, **data: Any) -> None:
        self.switch.recorder.add_timeline(
            TimelineEntry(
                t=self.switch.clock.now(),
                kind=kind,
                summary=summary,
                call_uuid=self.uuid,
                conversation_uuid=self.conversation_uuid,
                data=data,
            )
        )

    def start_timer(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self.cancel_timer(name)
        self.timers[name] = self.switch.clock.call_later(delay, callback)

    def cancel_timer(self, name: str) -> None:
        handle = self.timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    # -- engine-facing commands ---------------------------------------------------------
    def attach(self, channel: Channel) -> None:
        self.channel = channel

    def hangup(self, by: str = "platform") -> None:
        """End the leg: ``completed`` once answered, ``cancelled`` before."""
        if not self.alive:
            return
        if self.channel is not None:
            self.channel.hangup()
        if self.answered:
            self.set_status("completed", disconnected_by=by)
        else:
            self.set_status("cancelled")

    def fail(self, status: str, detail: str | None = None) -> None:
        """The platform gives up on a leg that has not answered (ringing timeout)."""
        if self.alive and not self.answered:
            if self.channel is not None:
                self.channel.hangup()
            self.set_status(status, detail=detail)

    def play(self, play_id: int, prompt: Any) -> None:
        if self.channel is not None and self.alive:
            self.channel.play(play_id, prompt)

    # -- driver-facing events -------------------------------------------------------------
    def on_ringing(self) -> None:
        if self.status == "started":
            self.set_status("ringing")

    def on_answered(self) -> None:
        if self.status in ("started", "ringing"):
            self.set_status("answered")

    def on_failed(
        self, status: str, detail: str | None = None, sip_code: int | None = None
    ) -> None:
        if status not in FAILURES:
            raise LegStateError(f"{status!r} is not a failure status")
        if self.alive and not self.answered:
            self.set_status(status, detail=detail, sip_code=sip_code)

    def on_hangup(self) -> None:
        """The far end hung up."""
        if not self.alive:
            return
        if self.answered:
            self.set_status("completed", disconnected_by="user")
        else:
            self.set_status("cancelled")

    def on_disconnected(self, reason: str = "") -> None:
        """A WebSocket leg's application closed the socket (spec §3.9, §4.3).

        A ``disconnected`` event goes to the leg's event URL (its reply may carry an NCCO
        for the caller when the connect is ``eventType: synchronous``: ``failure_reply``
        gets it), then the leg completes, ended by the far end.
        """
        if not self.alive:
            return
        if not self.answered:
            self.on_failed("failed", "cannot_route")
            return
        self.disconnected = True
        self.journal("leg", f"disconnected{': ' + reason if reason else ''}")
        body = self.status_body("disconnected")
        body.pop("direction", None)  # absent from the documented payload
        if self.failure_reply is not None:
            self.switch.ask(self, "connect", body, self.events, self.failure_reply)
        else:
            self.emit("status", body, journal=False)
        self.set_status("completed", disconnected_by="user")

    def on_digits(self, digits: str) -> None:
        if not self.answered:
            return
        for digit in digits:
            self.journal("dtmf", f"received {digit}")
            if self.dtmf_listener is not None:
                self.dtmf_listener(digit)
            if self.flow is not None:
                self.flow.on_digit(digit)

    def on_speech(self, text: str, confidence: float = 0.9) -> None:
        if self.answered and self.flow is not None:
            self.journal("speech", f"heard {text!r}")
            self.flow.on_speech(text, confidence)

    def on_voice(self) -> None:
        """The far end's voice was heard (real media: voice activity on the leg's audio)."""
        if self.answered and self.flow is not None:
            self.flow.on_voice()

    def on_speech_started(self) -> None:
        """The recogniser heard the caller start to speak (barge-in; no start timeout now)."""
        if self.answered and self.flow is not None:
            self.flow.on_speech_started()

    def on_speech_result(
        self,
        results: Sequence[tuple[str, float]],
        timeout_reason: str = "end_on_silence_timeout",
        recording_url: str | None = None,
    ) -> None:
        """A recogniser's result: alternatives ``(text, confidence)`` best first (may be
        empty), why the utterance ended (spec §3.6 ``timeout_reason``) and the saved audio."""
        if self.answered and self.flow is not None:
            top = repr(results[0][0]) if results else "nothing"
            self.journal("speech", f"heard {top} ({timeout_reason})")
            self.flow.on_speech_result(list(results), timeout_reason, recording_url)

    def on_speech_partial(self, options: SpeechOptions, text: str) -> None:
        """An interim hypothesis while the caller speaks (trunkline's ``partialResultsUrl``):
        a ``speech_partial`` event to ``options.partial_results_url``, stored before it is
        delivered like every event; its reply is ignored. Without a URL it is only journaled."""
        if not self.answered or not text:
            return
        url = options.partial_results_url
        self.journal("speech", f"partial {text!r}", **({"url": url} if url else {}))
        if url:
            body = {
                "uuid": self.uuid,
                "conversation_uuid": self.conversation_uuid,
                "speech": {"partial": text},
                "timestamp": iso(self.switch.clock.now()),
            }
            target = EventTarget(url=url, method=options.partial_results_method)
            self.emit("speech_partial", body, target, journal=False)

    def on_speech_error(self, reason: str) -> None:
        """Recognition could not run (unsupported language, engine failure): an error event
        (spec §3.10), and the waiting ``input`` completes with ``speech.error``."""
        if not self.answered:
            return
        self.emit_error(reason)
        if self.flow is not None:
            self.flow.on_speech_error(reason)

    def on_play_done(self, play_id: int) -> None:
        if self.flow is not None:
            self.flow.on_play_done(play_id)

    def on_recording_done(self, rec_id: str, size: int) -> None:
        self.switch.recording_done(self, rec_id, size)

    def on_machine(self, verdict: str, sub_state: str | None = None) -> None:
        """Machine detection verdict: ``human`` or ``machine`` (spec §4.4)."""
        self.switch.machine_detected(self, verdict, sub_state)


def endpoint_str(ep: dict[str, Any]) -> str:
    """The string Vonage puts in an event's ``from``/``to`` for an endpoint."""
    for key in ("number", "uri", "user", "extension"):
        value = ep.get(key)
        if value:
            return str(value)
    return ""


def _price(rate: str, duration: int) -> str:
    return f"{float(rate) * duration / 60:.8f}"
