"""``notify``: send a payload, wait for the reply, which may replace the NCCO (spec §2.8)."""

from __future__ import annotations

from trunkline.engine.actions.base import ActionRunner
from trunkline.ncco import Notify


class NotifyRunner(ActionRunner[Notify]):
    name = "notify"

    def start(self) -> None:
        a = self.action
        leg = self.leg
        body = {
            "conversation_uuid": leg.conversation_uuid,
            "uuid": leg.uuid,
            "payload": dict(a.payload),
            "timestamp": self.envelope()["timestamp"],
        }
        self.ask("notify", body, self.target(a.event_url, a.event_method), self.done)
