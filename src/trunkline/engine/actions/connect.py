"""``connect``: call an endpoint and bridge it into this leg's conversation (spec §2.6–2.7).

The new leg's status events go to the connect's ``eventUrl`` (else the call's).
When it answers, the legs are bridged and the NCCO waits until the bridge ends
(either party hangs up); then the next action runs. When it fails (busy, rejected,
unanswered, failed, timeout after ``timeout`` s, cancelled) the next action runs at
once — or, with ``eventType: synchronous``, the reply to the failure event may carry
an NCCO that replaces the rest (the call-centre fallback).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trunkline.engine.actions.base import ActionRunner
from trunkline.engine.leg import FAILURES, Leg
from trunkline.engine.ports import Prompt
from trunkline.ncco import Action, Connect, dump_action


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
        )
        self.callee = callee
        callee.parent = self.leg
        callee.machine_detection = (
            a.advanced_machine_detection.behavior
            if a.advanced_machine_detection is not None
            else a.machine_detection
        )
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
            self._stop_ringback()
            self._answered(callee)
        elif status in FAILURES:
            self._stop_ringback()
            if callee.failure_reply is None:
                self.done()
            # synchronous: _failure_reply decides once the event's reply is in
        elif status in ("completed", "unbridged") and self.bridged:
            self.done()

    def _answered(self, callee: Leg) -> None:
        a = self.action
        ep = a.endpoint[0]
        dtmf_answer = getattr(ep, "dtmf_answer", None)
        if dtmf_answer and callee.channel is not None:
            callee.channel.send_dtmf(dtmf_answer)
        callee.start_timer("limit", a.limit, lambda: callee.hangup("platform"))
        self.bridged = True
        self.switch.bridge(self.leg, callee)

    def _failure_reply(self, actions: Sequence[Action] | None) -> None:
        if self.active:
            self.done(actions)

    def on_cancel(self) -> None:
        self._stop_ringback()
        callee = self.callee
        if callee is not None and callee.alive:
            callee.hangup("platform")
