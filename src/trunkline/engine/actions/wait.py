"""``wait``: hold the NCCO for ``timeout`` seconds (spec §2.9)."""

from __future__ import annotations

from trunkline.engine.actions.base import ActionRunner
from trunkline.ncco import Wait


class WaitRunner(ActionRunner[Wait]):
    name = "wait"

    def start(self) -> None:
        self.later(min(max(self.action.timeout, 0.1), 7200.0), self.done)
