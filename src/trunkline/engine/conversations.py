"""Named conversations (conferences) per application (spec §2.5).

Who hears whom follows ``canHear``/``canSpeak``, mute and earmuff; the network
driver gets the list of legs each leg hears (the mixer that acts on it lives in
``media/``). A moderated conversation (``startOnEnter: false`` attendees) plays
music on hold until a member with ``startOnEnter: true`` arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from trunkline.clock import iso
from trunkline.domain import Application
from trunkline.engine.ports import Prompt
from trunkline.ids import conversation_uuid

if TYPE_CHECKING:
    from trunkline.engine.leg import Leg
    from trunkline.engine.switch import Switch


@dataclass(frozen=True)
class Membership:
    start_on_enter: bool = True
    end_on_exit: bool = False
    music_on_hold_url: str | None = None
    can_hear: tuple[str, ...] | None = None
    can_speak: tuple[str, ...] | None = None
    mute: bool = False


@dataclass
class NamedConversation:
    key: tuple[str | None, str]
    uuid: str
    started: bool = False
    members: dict[str, tuple[Leg, Membership]] = field(default_factory=dict)
    hold_music: dict[str, int] = field(default_factory=dict)  # leg uuid -> play id

    @property
    def name(self) -> str:
        return self.key[1]


class Conversations:
    def __init__(self, switch: Switch) -> None:
        self.switch = switch
        self.by_key: dict[tuple[str | None, str], NamedConversation] = {}

    def get(self, app: Application | None, name: str) -> NamedConversation | None:
        return self.by_key.get((app.id if app else None, name))

    def find(self, app: Application | None, ident: str) -> NamedConversation | None:
        """A conversation of ``app`` by name or by its ``CON-`` uuid."""
        conv = self.get(app, ident)
        if conv is not None:
            return conv
        app_id = app.id if app else None
        for c in self.by_key.values():
            if c.uuid == ident and c.key[0] == app_id:
                return c
        return None

    def join(self, leg: Leg, name: str, membership: Membership) -> NamedConversation:
        key = (leg.app.id if leg.app else None, name)
        conv = self.by_key.get(key)
        if conv is None:
            conv = NamedConversation(key=key, uuid=conversation_uuid(self.switch.ids))
            self.by_key[key] = conv
        if leg.named_conversation is not None and leg.named_conversation != key:
            self.leave(leg)
        old = leg.conversation_uuid
        if old != conv.uuid:
            leg.record.conversation_uuid = conv.uuid
            self.switch.recorder.save_call(leg.record)
            leg.emit(
                "transfer",
                {
                    "uuid": leg.uuid,
                    "conversation_uuid_from": old,
                    "conversation_uuid_to": conv.uuid,
                    "timestamp": iso(self.switch.clock.now()),
                },
            )
        conv.members[leg.uuid] = (leg, membership)
        leg.named_conversation = key
        if membership.mute:
            self.switch.set_audio(leg, muted=True)
        leg.journal("conversation", f"joined {name!r} ({len(conv.members)} member(s))")
        if membership.start_on_enter and not conv.started:
            conv.started = True
            for uuid, play_id in list(conv.hold_music.items()):
                member = conv.members.get(uuid)
                if member is not None and member[0].channel is not None:
                    member[0].channel.stop_play(play_id)
            conv.hold_music.clear()
        elif not conv.started and membership.music_on_hold_url:
            conv.hold_music[leg.uuid] = self.switch.play_outside_ncco(
                leg, Prompt(kind="stream", text=membership.music_on_hold_url, loop=0)
            )
        self.remix(conv)
        return conv

    def leave(self, leg: Leg) -> None:
        key = leg.named_conversation
        conv = self.by_key.get(key) if key is not None else None
        leg.named_conversation = None
        if conv is None:
            return
        entry = conv.members.pop(leg.uuid, None)
        play_id = conv.hold_music.pop(leg.uuid, None)
        if play_id is not None and leg.channel is not None:
            leg.channel.stop_play(play_id)
        leg.journal("conversation", f"left {conv.name!r}")
        if leg.channel is not None and leg.alive:
            leg.channel.conversation_changed(None, [])
        if entry is not None and entry[1].end_on_exit:
            for other, _ in list(conv.members.values()):
                other.hangup("platform")
        if not conv.members:
            self.by_key.pop(conv.key, None)
        else:
            self.remix(conv)

    def hears(self, conv: NamedConversation, listener: str) -> list[str]:
        """Leg uuids whose audio ``listener`` hears in ``conv``."""
        if not conv.started or listener not in conv.members:
            return []
        leg, mine = conv.members[listener]
        if leg.earmuffed:
            return []
        out = []
        for uuid, (other, theirs) in conv.members.items():
            if uuid == listener or other.muted:
                continue
            if mine.can_hear is not None and uuid not in mine.can_hear:
                continue
            if theirs.can_speak is not None and listener not in theirs.can_speak:
                continue
            out.append(uuid)
        return out

    def remix(self, conv: NamedConversation) -> None:
        for uuid, (leg, _) in conv.members.items():
            if leg.channel is not None:
                leg.channel.conversation_changed(conv.uuid, self.hears(conv, uuid))
