"""``stream``: play an audio file to the leg (spec §2.2)."""

from __future__ import annotations

from trunkline.engine.actions.prompt import PromptRunner
from trunkline.engine.ports import Prompt
from trunkline.ncco import Stream


class StreamRunner(PromptRunner[Stream]):
    name = "stream"

    def prompt(self) -> Prompt:
        a = self.action
        return Prompt(kind="stream", text=a.stream_url[0], level=a.level, loop=a.loop)
