"""The WebSocket media protocol, sans I/O (spec/VOICE-API.md §4).

Text messages both ways, the L16 frame codec, and :class:`Playout`: the bounded
queue of audio the application sends, played 20 ms a tick, with ``notify`` marks
answered once the audio queued before them has played.

Decisions on the points the spec leaves open (§11.7):

* Wrong-size binary frames are re-chunked: bytes are appended to the stream and cut
  into 20 ms frames (an odd trailing byte waits for the next message). Each such
  message is counted in ``stats.odd_frames``.
* The buffer holds :data:`MAX_QUEUED_FRAMES` frames (60 s, the later docs' figure);
  frames beyond it are dropped and counted in ``stats.overflow``.
* ``clear`` drops the queued audio; ``notify`` marks waiting behind it are answered
  at once (the audio before them is gone), after the ``websocket:cleared`` ack.
* Handshake headers: only ``Authorization``; ``headers`` go in the first message.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from trunkline.errors import TrunklineError
from trunkline.media.port import SILENCE, Frame
from trunkline.wsdoor.resample import StreamResampler

#: The pump's rate and frame: 20 ms at 8 kHz.
PUMP_RATE: Final = 8000
PUMP_FRAME: Final = 160
PTIME: Final = 0.02

RATES: Final = {
    "audio/l16;rate=8000": 8000,
    "audio/l16;rate=16000": 16000,
    "audio/l16;rate=24000": 24000,
}
DEFAULT_CONTENT_TYPE: Final = "audio/l16;rate=16000"

#: 3072 frames = ~60 s (spec §4.3 CONFLICT: 1024 or 3072; we take the larger).
MAX_QUEUED_FRAMES: Final = 3072

VALID_DIGITS: Final = frozenset("0123456789*#")


class WebSocketProtocolError(TrunklineError):
    """The endpoint asked for something the media protocol does not have."""


def rate_of(content_type: str) -> int:
    """The sample rate of ``audio/l16;rate=N`` (spaces and case ignored)."""
    key = content_type.replace(" ", "").lower()
    try:
        return RATES[key]
    except KeyError:
        raise WebSocketProtocolError(
            f"unsupported websocket content-type {content_type!r}; "
            f"expected one of {', '.join(RATES)}"
        ) from None


def frame_bytes(rate: int) -> int:
    """Bytes in one 20 ms L16 frame at ``rate`` (320 / 640 / 960)."""
    return rate // 50 * 2


# -- text messages, trunkline -> application -------------------------------------------------
def _dump(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def connected_message(content_type: str, headers: dict[str, Any]) -> str:
    """The first message: the endpoint's ``headers`` copied to the top level (§4.2.1)."""
    message = dict(headers)
    message["event"] = "websocket:connected"
    message["content-type"] = content_type
    return _dump(message)


def dtmf_message(digit: str, duration_ms: int) -> str:
    """One key press (§4.2.3): ``{"event": "websocket:dtmf", "digit": "5", "duration": 260}``."""
    if digit not in VALID_DIGITS:
        raise WebSocketProtocolError(f"{digit!r} is not a DTMF digit")
    return _dump({"event": "websocket:dtmf", "digit": digit, "duration": int(duration_ms)})


def cleared_message() -> str:
    return _dump({"event": "websocket:cleared"})


def notify_message(payload: Any) -> str:
    return _dump({"event": "websocket:notify", "payload": payload})


# -- text messages, application -> trunkline -------------------------------------------------
@dataclass(frozen=True)
class Clear:
    """``{"action": "clear"}``: drop queued audio, answer ``websocket:cleared``."""


@dataclass(frozen=True)
class Notify:
    """``{"action": "notify", "payload": …}``: answer once the audio before it has played."""

    payload: Any


@dataclass(frozen=True)
class Ignored:
    """Anything else (unknown actions, malformed JSON): ignored, with the reason kept."""

    why: str


AppMessage = Clear | Notify | Ignored


def parse_app_message(text: str) -> AppMessage:
    """What a text message from the application asks for (§4.3)."""
    try:
        message = json.loads(text)
    except ValueError:
        return Ignored("not JSON")
    if not isinstance(message, dict):
        return Ignored("not a JSON object")
    action = message.get("action")
    if action == "clear":
        return Clear()
    if action == "notify":
        return Notify(message.get("payload", {}))
    return Ignored(f"unknown action {action!r}")


# -- audio ---------------------------------------------------------------------------------------
class Encoder:
    """Pump frames (8 kHz) to binary L16 frames of exactly 20 ms at the socket's rate."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._up = StreamResampler(PUMP_RATE, rate)
        self._silence = bytes(frame_bytes(rate))

    def encode(self, frame: Frame) -> bytes:
        if frame is SILENCE:  # the pump's shared silent frame: no work to do
            self._up.reset()
            return self._silence
        return self._up.process(frame).astype("<i2", copy=False).tobytes()


@dataclass
class PlayoutStats:
    frames_in: int = 0  # 20 ms frames queued from the application
    frames_played: int = 0
    odd_frames: int = 0  # binary messages that were not exactly one frame
    overflow: int = 0  # frames dropped because the buffer was full
    cleared: int = 0  # frames dropped by ``clear``
    ran_dry: int = 0  # times the queue emptied while audio was playing


@dataclass
class _Mark:
    payload: Any


@dataclass
class Playout:
    """Audio from the application, queued and handed out 20 ms (8 kHz) at a time."""

    rate: int
    max_frames: int = MAX_QUEUED_FRAMES
    stats: PlayoutStats = field(default_factory=PlayoutStats)

    def __post_init__(self) -> None:
        self._frame_bytes = frame_bytes(self.rate)
        self._partial = b""
        self._queue: deque[Frame | _Mark] = deque()
        self._frames = 0
        self._down = StreamResampler(self.rate, PUMP_RATE)
        self._playing = False

    @property
    def queued_frames(self) -> int:
        return self._frames

    @property
    def queued_notifies(self) -> int:
        return sum(isinstance(item, _Mark) for item in self._queue)

    def push_audio(self, data: bytes) -> None:
        """A binary message from the application."""
        size = self._frame_bytes
        if len(data) != size or self._partial:
            self.stats.odd_frames += len(data) != size
            data = self._partial + data
            whole = len(data) - len(data) % size
            self._partial = data[whole:]
            data = data[:whole]
        for start in range(0, len(data), size):
            if self._frames >= self.max_frames:
                self.stats.overflow += (len(data) - start) // size
                break
            samples = np.frombuffer(data, dtype="<i2", count=size // 2, offset=start)
            self._queue.append(self._down.process(samples.astype(np.int16)))
            self._frames += 1
            self.stats.frames_in += 1

    def push_notify(self, payload: Any) -> None:
        self._queue.append(_Mark(payload))

    def clear(self) -> list[Any]:
        """Drop queued audio; returns the payloads of the notify marks to answer now."""
        due = [item.payload for item in self._queue if isinstance(item, _Mark)]
        self.stats.cleared += self._frames
        self._queue.clear()
        self._frames = 0
        self._partial = b""
        self._down.reset()
        self._playing = False
        return due

    def pop(self) -> tuple[Frame | None, list[Any]]:
        """This tick's frame (None when nothing is queued) and the notifies now due.

        A mark is due once every frame queued before it has been handed out and had
        its 20 ms: it is answered on the tick after the frame before it.
        """
        queue = self._queue
        due: list[Any] = []
        while queue and isinstance(queue[0], _Mark):
            due.append(queue.popleft().payload)  # type: ignore[union-attr]
        if not queue:
            if self._playing:
                self.stats.ran_dry += 1
                self._playing = False
            return None, due
        frame = queue.popleft()
        assert not isinstance(frame, _Mark)
        self._frames -= 1
        self._playing = True
        self.stats.frames_played += 1
        return frame, due
