"""The contract every NCCO action runner keeps: start, react, cancel (STYLE rule 4)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from trunkline.clock import TimerHandle, iso
from trunkline.engine.leg import EventTarget
from trunkline.ncco import Action

if TYPE_CHECKING:
    from trunkline.engine.flow import CallFlow

A = TypeVar("A", bound=Action)


class ActionRunner(ABC, Generic[A]):
    """One running NCCO action. It owns its timers: cancelling it cancels them all."""

    name: ClassVar[str] = ""

    def __init__(self, flow: CallFlow, action: A, index: int) -> None:
        self.flow = flow
        self.leg = flow.leg
        self.switch = flow.switch
        self.action = action
        self.index = index
        self.active = True
        self._timers: list[TimerHandle] = []

    # -- the contract ------------------------------------------------------------------
    @abstractmethod
    def start(self) -> None:
        """Begin the action; call :meth:`done` when it completes."""

    def on_digit(self, digit: str) -> None:
        """A DTMF digit arrived on the leg (most actions do not care)."""

    def on_speech(self, text: str, confidence: float) -> None:
        """A speech result arrived on the leg (most actions do not care)."""

    def on_speech_started(self) -> None:
        """A recogniser heard the caller start to speak (most actions do not care)."""

    def on_voice(self) -> None:
        """The caller's voice was heard on a real leg (voice activity, not recognition)."""

    def on_speech_result(
        self, results: list[tuple[str, float]], timeout_reason: str, recording_url: str | None
    ) -> None:
        """A recogniser's full result; by default the best alternative as :meth:`on_speech`."""
        if results:
            self.on_speech(*results[0])

    def on_speech_error(self, reason: str) -> None:
        """Recognition failed on the leg (most actions do not care)."""

    def on_cancel(self) -> None:
        """Release what this action holds (prompts, legs, recordings)."""

    def cancel(self) -> None:
        """Stop at once, without completing: hang-up, transfer, replacement."""
        if not self.active:
            return
        self.active = False
        self._clear_timers()
        self.on_cancel()

    # -- helpers -------------------------------------------------------------------------
    def done(self, replace: Sequence[Action] | None = None) -> None:
        """Finish; ``replace`` (an NCCO from a webhook reply) replaces the rest."""
        if not self.active:
            return
        self.active = False
        self._clear_timers()
        self.flow.action_done(self, replace)

    def later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        def fire() -> None:
            if self.active:
                callback()

        handle = self.switch.clock.call_later(delay, fire)
        self._timers.append(handle)
        return handle

    def _clear_timers(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()

    def target(self, urls: Sequence[str], method: str) -> EventTarget:
        """The action's own eventUrl, else the call's event_url (spec §1)."""
        if urls:
            return EventTarget(url=urls[0], method=method or "POST")
        return self.leg.events

    def envelope(self) -> dict[str, Any]:
        leg = self.leg
        return {
            "from": leg.from_str,
            "to": leg.to_str,
            "uuid": leg.uuid,
            "conversation_uuid": leg.conversation_uuid,
            "timestamp": iso(self.switch.clock.now()),
        }

    def ask(
        self,
        kind: str,
        body: dict[str, Any],
        target: EventTarget,
        then: Callable[[Sequence[Action] | None], None],
    ) -> None:
        """POST an event whose reply may carry an NCCO; ``then`` gets it (or None)."""

        def reply(actions: Sequence[Action] | None) -> None:
            if self.active:
                then(actions)

        self.switch.ask(self.leg, kind, body, target, reply)
