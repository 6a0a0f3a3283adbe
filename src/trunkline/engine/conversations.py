"""Named conversations (conferences) per application (spec §2.5).

Who hears whom follows ``canHear``/``canSpeak``, mute and earmuff; the network
driver gets the list of legs each leg hears (the mixer that acts on it lives in
``media/``). A moderated conversation (``startOnEnter: false`` attendees) plays
music on hold until a member with ``startOnEnter: true`` arrives.

``record: true`` records the whole conversation through the
:class:`~trunkline.engine.ports.ConversationRecorder` port: the recording starts once the
conversation has started and a member asked for it (a moderated conversation: when the
moderator enters), follows the members as they come and go, and stops when the last one
leaves; the ``record`` event (spec §3.7, the record action's body) then goes to the
``eventUrl`` of the conversation action that asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from trunkline.clock import iso
from trunkline.domain import Application
from trunkline.engine.ports import ConversationRecorder, Prompt, RecordingOptions
from trunkline.ids import conversation_uuid

if TYPE_CHECKING:
    from trunkline.engine.leg import EventTarget, Leg
    from trunkline.engine.switch import Switch


@dataclass(frozen=True)
class Membership:
    start_on_enter: bool = True
    end_on_exit: bool = False
    music_on_hold_url: str | None = None
    can_hear: tuple[str, ...] | None = None
    can_speak: tuple[str, ...] | None = None
    mute: bool = False
    record: bool = False
    #: where this member's ``record`` event goes (the action's eventUrl; None: the call's)
    record_events: EventTarget | None = None


@dataclass
class ConversationRecording:
    """A recording of a whole conversation, from start to the record event."""

    rec_id: str
    file_id: str
    leg: Leg  # the member that asked for it: its events carry the record event
    target: EventTarget
    started_at: float
    stopped_at: float | None = None
    #: the recorder it was started on (the same one stops it, even if rewired since)
    recorder: ConversationRecorder | None = None


@dataclass
class NamedConversation:
    key: tuple[str | None, str]
    uuid: str
    started: bool = False
    members: dict[str, tuple[Leg, Membership]] = field(default_factory=dict)
    hold_music: dict[str, int] = field(default_factory=dict)  # leg uuid -> play id
    #: the first member with ``record: true`` (and where its record event goes)
    record_request: tuple[Leg, EventTarget] | None = None
    recording: ConversationRecording | None = None

    @property
    def name(self) -> str:
        return self.key[1]


class Conversations:
    def __init__(self, switch: Switch) -> None:
        self.switch = switch
        self.by_key: dict[tuple[str | None, str], NamedConversation] = {}
        #: records ``record: true`` conversations; wired by the platform (sim) and the
        #: media doors (real audio). None: record events report an empty file.
        self.recorder: ConversationRecorder | None = None

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
        if membership.record and conv.record_request is None:
            conv.record_request = (leg, membership.record_events or leg.events)
        self._start_recording(conv)
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
            self._stop_recording(conv)
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
        rec = conv.recording
        if rec is not None and rec.stopped_at is None and rec.recorder is not None:
            rec.recorder.set_members(rec.rec_id, list(conv.members))

    # -- recording the whole conversation (record: true) ----------------------------------
    def _start_recording(self, conv: NamedConversation) -> None:
        """Start once the conversation has started and a member asked (spec §2.5)."""
        if conv.recording is not None or conv.record_request is None or not conv.started:
            return
        leg, target = conv.record_request
        ids = self.switch.ids
        rec = ConversationRecording(
            rec_id=ids.uuid(),
            file_id=ids.uuid(),
            leg=leg,
            target=target,
            started_at=self.switch.clock.now(),
            recorder=self.recorder,
        )
        conv.recording = rec
        leg.journal("record", f"conversation {conv.name!r} recording {rec.rec_id} started")
        if rec.recorder is not None:
            rec.recorder.start(
                conv.uuid,
                rec.rec_id,
                RecordingOptions(format="mp3", file_id=rec.file_id),
                application_id=conv.key[0],
            )

    def _stop_recording(self, conv: NamedConversation) -> None:
        rec = conv.recording
        if rec is None or rec.stopped_at is not None:
            return
        rec.stopped_at = self.switch.clock.now()

        def done(size: int) -> None:
            self._recording_done(conv, rec, size)

        if rec.recorder is not None:
            rec.recorder.stop(rec.rec_id, done)
        else:
            self.switch.clock.call_soon(lambda: done(0))

    def _recording_done(
        self, conv: NamedConversation, rec: ConversationRecording, size: int
    ) -> None:
        clock = self.switch.clock
        end = rec.stopped_at if rec.stopped_at is not None else clock.now()
        body = {
            "start_time": iso(rec.started_at),
            "end_time": iso(end),
            "recording_url": self.switch.file_url(rec.file_id),
            "size": size,
            "recording_uuid": rec.rec_id,
            "conversation_uuid": conv.uuid,
            "timestamp": iso(clock.now()),
        }
        rec.leg.journal(
            "record", f"conversation {conv.name!r} recording {rec.rec_id}: {size} bytes"
        )
        rec.leg.emit("record", body, rec.target)
