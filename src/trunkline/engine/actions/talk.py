"""``talk``: speak text to the leg (spec §2.1), with the TTS engine its application chose."""

from __future__ import annotations

from trunkline.engine.actions.prompt import PromptRunner
from trunkline.engine.ports import Prompt
from trunkline.ncco import Talk


class TalkRunner(PromptRunner[Talk]):
    name = "talk"

    def prompt(self) -> Prompt:
        a = self.action
        app = self.leg.app
        return Prompt(
            kind="tts",
            text=a.text,
            language=a.language,
            style=a.style,
            premium=a.premium,
            level=a.level,
            loop=a.loop,
            engine=app.tts if app is not None else "",
        )
