"""``transfer`` (the NCCO action): move every leg of this conversation into another,
existing named conversation (spec §2.10). Terminal for the current NCCO.
"""

from __future__ import annotations

from trunkline.engine.actions.base import ActionRunner
from trunkline.engine.conversations import Membership
from trunkline.ncco import Transfer


class TransferRunner(ActionRunner[Transfer]):
    name = "transfer"

    def start(self) -> None:
        a = self.action
        conversations = self.switch.conversations
        target = conversations.find(self.leg.app, a.conversation_id)
        if target is None:
            self.leg.emit_error(f"transfer: conversation {a.conversation_id!r} does not exist")
            self.done()
            return
        self.flow.pending.clear()
        membership = Membership(can_hear=a.can_hear, can_speak=a.can_speak, mute=a.mute)
        movers = [self.leg, *sorted(self.leg.bridged, key=lambda leg: leg.uuid)]
        for leg in movers:
            self.switch.unbridge(leg)
        for leg in movers:
            if leg is not self.leg and leg.flow is not None:
                leg.flow.stop()
            conversations.join(leg, target.name, membership)

    def on_cancel(self) -> None:
        self.switch.conversations.leave(self.leg)
