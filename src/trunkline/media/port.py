"""The contract between the media pump and whatever carries a leg's audio.

The pump (:mod:`trunkline.media.pump`) drives every :class:`MediaPort` once per 20 ms tick:
it takes the far end's frame with :meth:`MediaPort.receive` and hands over what the far end
hears with :meth:`MediaPort.send`. An RTP leg (:mod:`trunkline.media.rtpleg`), a WebSocket
leg and the in-memory :class:`FakePort` below implement it.

Frames are mono 16-bit PCM at the pump's rate, 8 kHz: 160 samples for 20 ms.
"""

from __future__ import annotations

from collections import deque
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.int16]  # one 20 ms frame, mono, 8 kHz = 160 samples (the pump's rate)

SAMPLE_RATE: Final = 8000
FRAME_SAMPLES: Final = 160


def silence_frame() -> Frame:
    """A fresh frame of silence (160 zero samples)."""
    return np.zeros(FRAME_SAMPLES, dtype=np.int16)


#: The shared, read-only silent frame. The pump sends this very object when a leg hears
#: nothing, so a port can recognise it by identity (``frame is SILENCE``) and skip work.
SILENCE: Final[Frame] = silence_frame()
SILENCE.flags.writeable = False


class MediaPort(Protocol):
    """What the pump drives each tick: an RTP leg, a WebSocket leg, a test fake."""

    @property
    def uuid(self) -> str: ...

    def receive(self) -> Frame | None:
        """The far end's audio for this tick (8 kHz), or ``None`` for silence/nothing."""
        ...

    def send(self, frame: Frame) -> None:
        """What the far end hears this tick. The frame may be shared: do not modify it."""
        ...


class ClockedPort(MediaPort, Protocol):
    """A port with a media clock of its own (an RTP leg). Optional: the pump calls
    ``skip_ticks`` on ports that have it when its loop stalled and ticks were skipped."""

    def skip_ticks(self, count: int) -> None: ...


class FakePort:
    """An in-memory :class:`MediaPort`: frames queued with :meth:`push` come out of
    :meth:`receive` one per tick (``None`` once the queue is empty); every frame the pump
    sends is kept in :attr:`sent`, in order."""

    def __init__(self, uuid: str) -> None:
        self._uuid = uuid
        self.inbound: deque[Frame | None] = deque()
        self.sent: list[Frame] = []

    @property
    def uuid(self) -> str:
        return self._uuid

    def push(self, *frames: Frame | None) -> None:
        """Queue frames the far end "sends" (``None`` for a tick with nothing)."""
        self.inbound.extend(frames)

    def receive(self) -> Frame | None:
        return self.inbound.popleft() if self.inbound else None

    def send(self, frame: Frame) -> None:
        self.sent.append(frame.copy())
