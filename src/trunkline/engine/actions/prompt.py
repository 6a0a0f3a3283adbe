"""What talk and stream share: a prompt played ``loop`` times, barge-in aware (spec §1.2)."""

from __future__ import annotations

from abc import abstractmethod
from typing import TypeVar

from trunkline.engine.actions.base import ActionRunner
from trunkline.engine.ports import Prompt
from trunkline.ncco import Stream, Talk

P = TypeVar("P", Talk, Stream)


class PromptRunner(ActionRunner[P]):
    """Synchronous unless barge-in: then the next action (an input) starts at once and
    the first digit or speech stops the prompt. Once barge-in is on it stays on for the
    prompts that follow until an input is reached.
    """

    play_id: int | None = None

    @abstractmethod
    def prompt(self) -> Prompt:
        """The audio this action plays."""

    def start(self) -> None:
        flow = self.flow
        barge = flow.barge_mode or (self.action.barge_in and flow.input_follows())
        if barge:
            flow.barge_mode = True
            flow.prompts.enqueue(self.prompt(), None, barge_in=True)
            self.done()
        else:
            self.play_id = flow.prompts.enqueue(self.prompt(), self.done)

    def on_cancel(self) -> None:
        if self.play_id is not None:
            self.flow.prompts.cancel(self.play_id)
