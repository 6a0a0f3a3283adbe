"""``conversation``: join a named conversation (spec §2.5).

It never completes: the leg stays until it hangs up, is transferred, or the
conversation ends (a member with ``endOnExit`` left). Actions after it are not run.
With ``record: true`` the whole conversation is recorded and the ``record`` event goes to
the action's ``eventUrl`` (else the call's) when the conversation ends.
"""

from __future__ import annotations

from trunkline.engine.actions.base import ActionRunner
from trunkline.engine.conversations import Membership
from trunkline.ncco import Conversation


class ConversationRunner(ActionRunner[Conversation]):
    name = "conversation"

    def start(self) -> None:
        a = self.action
        self.flow.pending.clear()
        self.switch.conversations.join(
            self.leg,
            a.name,
            Membership(
                start_on_enter=a.start_on_enter,
                end_on_exit=a.end_on_exit,
                music_on_hold_url=a.music_on_hold_url[0] if a.music_on_hold_url else None,
                can_hear=a.can_hear,
                can_speak=a.can_speak,
                mute=a.mute,
                record=a.record,
                record_events=self.target(a.event_url, a.event_method) if a.event_url else None,
            ),
        )

    def on_cancel(self) -> None:
        self.switch.conversations.leave(self.leg)
