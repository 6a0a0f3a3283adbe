"""``record`` with ``split: "conversation"`` and more than two channels: a channel a participant.

Vonage records each participant of the conversation the recorded leg is in on a channel
of its own (``channels`` 1…32; participants beyond the last channel are mixed into it).
:class:`ConversationTap` does that on the media pump:

- channel 0 is the recorded leg's inbound audio (what its caller says, muted or not, as
  :func:`~trunkline.media.recording.tap_leg` records it);
- every other leg the recorded leg hears (:meth:`MediaPump.hearing`) gets the next free
  channel the first tick it is heard, and keeps it for the whole recording (a participant
  who leaves and comes back finds its channel again; a channel is never handed to someone
  else). Several newcomers in one tick are ordered by the ``order`` hint (the leg's peers in
  the order they joined the conversation, as the engine lists them), then by uuid. Once
  channels 1…N-1 are taken, later participants all go into the last channel, mixed;
- a participant's channel holds what the recorded leg hears of it: its inbound frame at the
  mixer's level for it while the pump mixes it for the leg (heard, not muted, the recorded
  leg not earmuffed), silence otherwise.

Frames come from the pump's per-leg taps (every leg's inbound frame is shown to its taps
before anything is sent); one row is put into the
:class:`~trunkline.media.recording.RecordingWriter` at the end of every tick (a pump tick
listener, as :class:`~trunkline.media.conference.ConferenceRecording` does), so every
channel stays aligned. Prompts played to the recorded leg belong to no participant and are
not recorded in this layout (with two channels, ``tap_leg`` keeps "what the leg hears",
prompts included, on channel 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from trunkline.media.port import Frame
from trunkline.media.pump import LegMedia, MediaPump
from trunkline.media.recording import RecordingError, RecordingWriter

__all__ = ["ConversationTap", "tap_conversation"]


class ConversationTap:
    """Records leg ``lm`` and the legs it hears into ``writer``, a channel a participant;
    see the module docstring. Starts with the next tick; :meth:`close` stops it."""

    def __init__(
        self,
        pump: MediaPump,
        lm: LegMedia,
        writer: RecordingWriter,
        *,
        order: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        if writer.sample_rate != 8000:
            raise RecordingError("a conversation tap records the pump's 8 kHz frames")
        self.pump = pump
        self.lm = lm
        self.writer = writer
        self.order = order
        #: participant uuid -> channel (1…channels-1; the last one may be shared)
        self.channels: dict[str, int] = {}
        self._next = 1
        self._own: Frame | None = None
        self._frames: dict[str, Frame] = {}
        self._taps: dict[str, tuple[LegMedia, Callable[[], None]]] = {}
        self._seen: frozenset[str] | None = None  # the hearing set _follow last saw
        self._remove_own: Callable[[], None] | None = lm.add_tap(self._heard_own)
        self._remove_listener: Callable[[], None] | None = pump.add_tick_listener(self.commit)
        self._follow()

    def _heard_own(self, frame: Frame) -> None:
        self._own = frame

    def channel_of(self, uuid: str) -> int | None:
        """The channel a participant is recorded on (None: not heard yet)."""
        return self.channels.get(uuid)

    def commit(self) -> None:
        """The pump's tick listener: put this tick's frames into their channels, commit the
        row, then follow who the leg hears from the next tick on."""
        writer, pump, lm = self.writer, self.pump, self.lm
        if self._own is not None:
            writer.put(0, self._own)
            self._own = None
        hears = pump.hearing(lm.uuid)
        # every tapped leg in the pump shows a frame each tick: one missing has left it
        settled = hears is self._seen and len(self._frames) == len(hears)
        if self._frames:
            gain_of = pump.mixer.level_gain
            for uuid, frame in self._frames.items():
                other = pump.get(uuid)
                if lm.earmuffed or uuid not in hears or other is None or other.muted:
                    continue
                gain = gain_of(uuid)
                if gain != 1.0:
                    scaled = np.rint(frame * gain)
                    np.clip(scaled, -32768, 32767, out=scaled)
                    frame = scaled.astype(np.int16)
                writer.put(self.channels[uuid], frame)
            self._frames.clear()
        writer.commit()
        if not settled:
            self._follow()

    def _follow(self) -> None:
        """Tap the legs the recorded leg hears now (new ones get a channel), untap the rest."""
        hears = self._seen = self.pump.hearing(self.lm.uuid)
        for uuid in [u for u in self._taps if u not in hears]:
            self._taps.pop(uuid)[1]()
        new = [uuid for uuid in hears if uuid not in self.channels]
        if new:
            rank = {u: i for i, u in enumerate(self.order())} if self.order is not None else {}
            new.sort(key=lambda u: (rank.get(u, len(rank)), u))
            last = self.writer.channels - 1
            for uuid in new:
                self.channels[uuid] = min(self._next, last)
                self._next += 1
        for uuid in hears:
            other = self.pump.get(uuid)
            tapped = self._taps.get(uuid)
            if tapped is not None and tapped[0] is other:
                continue
            if tapped is not None:  # the leg's media was replaced: tap the new one
                tapped[1]()
                del self._taps[uuid]
            if other is None:
                continue  # not in the pump (yet): tried again next tick

            def heard(frame: Frame, uuid: str = uuid) -> None:
                self._frames[uuid] = frame

            self._taps[uuid] = (other, other.add_tap(heard))

    def close(self) -> None:
        """Stop taking frames (idempotent); the writer keeps what was recorded."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        if self._remove_own is not None:
            self._remove_own()
            self._remove_own = None
        for _, remove in self._taps.values():
            remove()
        self._taps.clear()
        self._frames.clear()
        self._own = None


def tap_conversation(
    pump: MediaPump,
    lm: LegMedia,
    writer: RecordingWriter,
    *,
    order: Callable[[], Iterable[str]] | None = None,
) -> Callable[[], None]:
    """Record leg ``lm`` a channel a participant (:class:`ConversationTap`) from the next
    tick; returns a function that stops it (as :func:`~trunkline.media.recording.tap_leg`)."""
    return ConversationTap(pump, lm, writer, order=order).close
