"""``connect``: call an endpoint and bridge it into this leg's conversation (spec §2.6–2.7).

The new leg's status events go to the connect's ``eventUrl`` (else the call's).
When it answers, the legs are bridged and the NCCO waits until the bridge ends
(either party hangs up); then the next action runs. When it fails (busy, rejected,
unanswered, failed, timeout after ``timeout`` s, cancelled) the next action runs at
once — or, with ``eventType: synchronous``, the reply to the failure event may carry
an NCCO that replaces the rest (the call-centre fallback).

A phone endpoint's ``onAnswer`` (spec §2.7): once the callee answers, an NCCO fetched
from ``onAnswer.url`` (as an answer webhook is, for the callee's leg) runs on the callee
— a whisper, a screening question — while the ringback keeps playing to the caller; the
two are bridged when that NCCO runs out. If the fetch fails the callee is hung up (an
error event says why) and the caller goes on with the next action.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trunkline.engine.actions.base import ActionRunner
from trunkline.engine.flow import CallFlow
from trunkline.engine.hooks import Hook
from trunkline.engine.leg import FAILURES, Leg
from trunkline.engine.ports import Prompt
from trunkline.ncco import Action, Connect, dump_action

if TYPE_CHECKING:
    from trunkline.engine.switch import FetchFailure


class ConnectRunner(ActionRunner[Connect]):
    name = "connect"

    def start(self) -> None:
        a = self.action
        switch = self.switch
        endpoint = dict(dump_action(a)["endpoint"][0])  # type: ignore[index]
        caller_id = self._caller_id(endpoint)
        self.ringback: int | None = None
        self.callee: Leg | None = None
        self.bridged = False
        if caller_id is None:
            self.leg.emit_error(
                "connect: randomFromNumber found no number linked to the application"
            )
            self.done()
            return
        callee = switch.new_leg(
            direction="outbound",
            from_={"type": "phone", "number": caller_id},
            to=endpoint,
            app=self.leg.app,
            events=self.target(a.event_url, a.event_method),
            conversation_uuid=self.leg.conversation_uuid,
            headers=endpoint.get("headers") if endpoint.get("type") == "websocket" else None,
        )
        self.callee = callee
        callee.parent = self.leg
        callee.machine_detection = (
            a.advanced_machine_detection.behavior
            if a.advanced_machine_detection is not None
            else a.machine_detection
        )
        if a.advanced_machine_detection is not None:
            callee.amd_mode = a.advanced_machine_detection.mode
            callee.beep_timeout = float(a.advanced_machine_detection.beep_timeout)
        if a.event_type == "synchronous":
            callee.failure_reply = self._failure_reply
        callee.observers.append(self._on_callee)
        ringback = a.ringback_tone
        on_answer = getattr(a.endpoint[0], "on_answer", None)
        if on_answer is not None and on_answer.ringback_tone:
            ringback = on_answer.ringback_tone
        if ringback:
            self.ringback = self.flow.prompts.enqueue(
                Prompt(kind="stream", text=ringback, loop=0), None
            )
        self.later(a.timeout, self._ring_timeout)
        switch.network.dial(callee, endpoint, caller_id)

    def _caller_id(self, endpoint: dict[str, Any]) -> str | None:
        a = self.action
        if a.from_:
            return a.from_
        if a.random_from_number:
            return self.switch.random_number(self.leg.app)
        # Default caller id: the number the caller dialled (inbound) or our own number.
        rec = self.leg.record
        own = rec.to if rec.direction == "inbound" else rec.from_
        return str(own.get("number") or own.get("uri") or own.get("user") or "")

    def _stop_ringback(self) -> None:
        if self.ringback is not None:
            self.flow.prompts.cancel(self.ringback)
            self.ringback = None

    def _ring_timeout(self) -> None:
        callee = self.callee
        if callee is not None and callee.alive and not callee.answered:
            callee.fail("timeout")

    def _on_callee(self, callee: Leg, status: str) -> None:
        if not self.active:
            return
        if status == "answered":
            self._clear_timers()
            if self._on_answer_url() is None:
                self._stop_ringback()
            self._answered(callee)
        elif status in FAILURES:
            self._stop_ringback()
            if callee.failure_reply is None:
                self.done()
            # synchronous: _failure_reply decides once the event's reply is in
        elif status in ("completed", "unbridged") and self.bridged:
            if callee.disconnected and callee.failure_reply is not None:
                return  # synchronous: _failure_reply goes on once the reply is in
            self.done()
        elif status == "completed":
            # hung up while its onAnswer NCCO ran, before the bridge
            self._stop_ringback()
            self.done()

    def _answered(self, callee: Leg) -> None:
        a = self.action
        ep = a.endpoint[0]
        dtmf_answer = getattr(ep, "dtmf_answer", None)
        if dtmf_answer and callee.channel is not None:
            callee.channel.send_dtmf(dtmf_answer)
        callee.start_timer("limit", a.limit, lambda: callee.hangup("platform"))
        url = self._on_answer_url()
        if url is not None:
            self._run_on_answer(callee, url)
            return
        self._bridge(callee)

    def _bridge(self, callee: Leg) -> None:
        self.bridged = True
        self.switch.bridge(self.leg, callee)

    # -- onAnswer: an NCCO for the callee before the bridge -------------------------------
    def _on_answer_url(self) -> str | None:
        on_answer = getattr(self.action.endpoint[0], "on_answer", None)
        return str(on_answer.url) if on_answer is not None else None

    def _run_on_answer(self, callee: Leg, url: str) -> None:
        switch = self.switch
        callee.journal("action", f"onAnswer: fetching the callee's NCCO from {url}")
        hook = Hook(
            kind="answer",
            url=url,
            method="GET",
            body={
                "to": callee.to_str,
                "from": callee.from_str,
                "conversation_uuid": callee.conversation_uuid,
                "uuid": callee.uuid,
                "endpoint_type": str(callee.record.to.get("type", "phone")),
                "region_url": switch.settings.base_url,
            },
            call_uuid=callee.uuid,
            conversation_uuid=callee.conversation_uuid,
            connect_timeout=1.0,
            read_timeout=5.0,
        )

        def fetched(actions: Sequence[Action] | None, failure: FetchFailure | None) -> None:
            if not self.active or not callee.alive:
                return
            if actions is None:
                reason = failure.reason if failure else "no NCCO"
                if failure is None or not failure.reported:
                    callee.emit_error(f"connect onAnswer: {reason}")
                callee.hangup("platform")
                return
            flow = CallFlow(callee)
            flow.on_run_out = lambda: self._on_answer_done(callee)
            callee.flow = flow
            flow.start(actions)

        switch.fetch(callee, hook, fetched, required=True)

    def _on_answer_done(self, callee: Leg) -> None:
        """The callee's onAnswer NCCO ran out: bridge, as a plain connect does at answer."""
        flow = callee.flow
        if flow is not None and flow.finished and not flow.background:
            callee.flow = None  # bridged like a plain callee (a transfer unbridges it)
        if not self.active or not callee.alive:
            return
        self._stop_ringback()
        self._bridge(callee)

    def _failure_reply(self, actions: Sequence[Action] | None) -> None:
        if self.active:
            self.done(actions)

    def on_cancel(self) -> None:
        self._stop_ringback()
        callee = self.callee
        if callee is not None and callee.alive:
            callee.hangup("platform")
