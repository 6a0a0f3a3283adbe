"""The NCCO runner of one leg: actions in order, replacement by webhook replies."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from trunkline.engine.prompts import PromptQueue
from trunkline.ncco import Action, summarize

if TYPE_CHECKING:
    from trunkline.engine.actions.base import ActionRunner
    from trunkline.engine.leg import Leg

log = logging.getLogger(__name__)


class CallFlow:
    """Runs one leg's NCCO. One action is current; some keep running in the background
    (asynchronous record, asynchronous input) until they end or the leg does.
    """

    def __init__(self, leg: Leg) -> None:
        self.leg = leg
        self.switch = leg.switch
        self.pending: deque[Action] = deque()
        self.current: ActionRunner[Any] | None = None
        self.background: list[ActionRunner[Any]] = []
        self.prompts = PromptQueue(self._play, self._stop)
        self.executed = 0  # actions started, for the timeline
        self.finished = False
        self.barge_mode = False  # a bargeIn prompt ran and no input has started since
        #: called instead of ending the leg when the NCCO runs out (connect's onAnswer)
        self.on_run_out: Callable[[], None] | None = None
        self._stepping = False
        self._again = False

    # -- driving ---------------------------------------------------------------------------
    def start(self, actions: Iterable[Action]) -> None:
        self.pending = deque(actions)
        self._step()

    def replace(self, actions: Iterable[Action]) -> None:
        """A new NCCO replaces whatever is left (webhook reply, REST transfer)."""
        if self.current is not None:
            cur, self.current = self.current, None
            cur.cancel()
        self.prompts.clear()
        self.barge_mode = False
        self.pending = deque(actions)
        self.finished = False
        self._step()

    def input_follows(self) -> bool:
        """Is the next action that is not a talk or stream an input? (spec §1.2)"""
        for action in self.pending:
            if action.action in ("talk", "stream"):
                continue
            return action.action == "input"
        return False

    def action_done(
        self, runner: ActionRunner[Any], replace: Iterable[Action] | None = None
    ) -> None:
        """An action finished; ``replace`` is an NCCO from its webhook reply."""
        if runner in self.background:
            self.background.remove(runner)
        if runner is not self.current:
            if replace is not None:
                self.replace(replace)
            return
        self.current = None
        if replace is not None:
            self.pending = deque(replace)
        self._step()

    def to_background(self, runner: ActionRunner[Any]) -> None:
        """``runner`` keeps going, but the NCCO moves on (asynchronous actions)."""
        self.background.append(runner)
        if runner is self.current:
            self.current = None
            self._step()

    def _step(self) -> None:
        # Actions that finish at once call back into here; loop instead of recursing.
        if self._stepping:
            self._again = True
            return
        self._stepping = True
        try:
            self._again = True
            while self._again:
                self._again = False
                if self.current is not None or not self.leg.alive:
                    return
                if not self.pending:
                    self._run_out()
                    return
                self._start(self.pending.popleft())
        finally:
            self._stepping = False

    def _start(self, action: Action) -> None:
        from trunkline.engine.actions import runner_for

        self.executed += 1
        runner = runner_for(action)(self, action, self.executed)
        self.current = runner
        self.leg.journal("action", f"#{self.executed} {summarize(action)}", action=action.action)
        runner.start()
        self._again = self._again or self.current is None

    def _run_out(self) -> None:
        """The NCCO is done. The leg ends unless something else holds it."""
        if self.finished:
            return
        self.finished = True
        self.leg.journal("action", "NCCO finished")
        if self.on_run_out is not None:
            then, self.on_run_out = self.on_run_out, None
            then()
            return
        self.switch.flow_finished(self)

    # -- what happens on the leg ---------------------------------------------------------------
    def on_digit(self, digit: str) -> None:
        for runner in self._listeners():
            runner.on_digit(digit)

    def on_speech(self, text: str, confidence: float) -> None:
        for runner in self._listeners():
            runner.on_speech(text, confidence)

    def on_speech_started(self) -> None:
        for runner in self._listeners():
            runner.on_speech_started()

    def on_voice(self) -> None:
        for runner in self._listeners():
            runner.on_voice()

    def on_speech_result(
        self, results: list[tuple[str, float]], timeout_reason: str, recording_url: str | None
    ) -> None:
        for runner in self._listeners():
            runner.on_speech_result(results, timeout_reason, recording_url)

    def on_speech_error(self, reason: str) -> None:
        for runner in self._listeners():
            runner.on_speech_error(reason)

    def on_play_done(self, play_id: int) -> None:
        self.prompts.on_play_done(play_id)

    def stop(self) -> None:
        """The leg ended, or left this flow for good: cancel everything."""
        runners = ([self.current] if self.current else []) + list(self.background)
        self.current = None
        self.background.clear()
        self.pending.clear()
        for runner in runners:
            runner.cancel()
        self.prompts.clear()

    def _listeners(self) -> list[ActionRunner[Any]]:
        out = list(self.background)
        if self.current is not None:
            out.append(self.current)
        return out

    # -- the prompt queue's port --------------------------------------------------------------
    def _play(self, play_id: int, prompt: object) -> None:
        self.leg.play(play_id, prompt)

    def _stop(self, play_id: int) -> None:
        if self.leg.channel is not None:
            self.leg.channel.stop_play(play_id)
