"""The conference mixer: one 20 ms frame per participant in, one mixed frame per listener out.

Pure numpy (no sockets, no clock): the media pump calls :meth:`Mixer.mix` once per tick with
the frame each participant sent (16-bit PCM, ``None`` for none this tick) and, for each
listener, the participants they hear — exactly what
:meth:`trunkline.engine.conversations.Conversations.hears` computes from ``canHear``,
``canSpeak``, mute and earmuff. A muted speaker is in nobody's set, an earmuffed listener has
an empty set (and gets silence).

Every mix is N-1: a listener never hears their own frame, even if their set names them.
The sum is exact (int32: room for thousands of full-scale frames even at the top gain) and
clipped to the int16 range once, at the end. The work is shared:

- all heard frames are summed once (``total``);
- a listener who hears every other speaker gets ``total - own`` (one vectorised subtraction
  for all of them at once);
- a custom hearing set (coaching, whisper) is computed the cheaper way: the sum of the
  frames heard, or ``total`` minus the frames not heard.

Per-participant gain (:meth:`Mixer.set_level`) takes the Vonage ``level`` scale, −1…1, and
maps it linearly in decibels to −20 dB … +20 dB: gain ``10 ** level`` (0 is unity, −1 is a
tenth of the amplitude, +1 ten times it, clipped). It scales what the others hear of that
participant.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Final

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]

FRAME_MS: Final = 20
LEVEL_RANGE_DB: Final = 20.0  # level ±1 is ±20 dB
_INT16_MIN: Final = -32768
_INT16_MAX: Final = 32767


def level_to_gain(level: float) -> float:
    """The amplitude factor for a Vonage ``level`` in −1…1: ``10 ** level`` (±20 dB)."""
    if not -1.0 <= level <= 1.0:
        raise ValueError(f"level must be between -1 and 1, got {level}")
    return float(10.0 ** (level * LEVEL_RANGE_DB / 20.0))


class Mixer:
    """N-1 mixing of 20 ms 16-bit frames at ``sample_rate`` (8000 Hz: 160 samples a frame)."""

    def __init__(self, sample_rate: int = 8000) -> None:
        if sample_rate <= 0 or sample_rate % (1000 // FRAME_MS):
            raise ValueError(f"sample rate must be a positive multiple of 50 Hz: {sample_rate}")
        self.sample_rate = sample_rate
        self.frame_samples = sample_rate * FRAME_MS // 1000
        self._gains: dict[str, float] = {}

    def set_level(self, participant: str, level: float) -> None:
        """Scale what others hear of ``participant`` (Vonage ``level``, −1…1; 0 is unity)."""
        gain = level_to_gain(level)
        if gain == 1.0:
            self._gains.pop(participant, None)
        else:
            self._gains[participant] = gain

    def level_gain(self, participant: str) -> float:
        """The amplitude factor applied to ``participant``'s frames (1.0 unless set)."""
        return self._gains.get(participant, 1.0)

    def forget(self, participant: str) -> None:
        """Drop what the mixer holds for a participant who left (their level)."""
        self._gains.pop(participant, None)

    def silence(self) -> Samples:
        """A frame of silence at this mixer's rate."""
        return np.zeros(self.frame_samples, dtype=np.int16)

    def mix(
        self,
        frames: Mapping[str, Samples | None],
        hears: Mapping[str, Collection[str]],
    ) -> dict[str, Samples]:
        """One tick: for each listener in ``hears``, the clipped sum of the frames they hear.

        ``frames`` maps a participant to this tick's frame (int16, ``frame_samples`` long) or
        ``None`` (silence); a speaker absent from ``frames`` is silent too. ``hears`` maps
        each listener to the participants they hear; the listener's own frame is never mixed
        back to them. Every listener in ``hears`` gets a frame (silence if they hear nobody).
        """
        heard: set[str] = set()
        for speakers in hears.values():
            heard.update(speakers)
        # Speakers who also listen come first, in listener order, so that the N-1 mixes of
        # an all-hear conference are ``total - block`` with no reordering.
        order = [uuid for uuid in hears if uuid in heard]
        order += heard.difference(order)
        present = [(uuid, frame) for uuid in order if (frame := frames.get(uuid)) is not None]
        if not present:
            return {listener: self.silence() for listener in hears}

        for uuid, frame in present:
            self._check(uuid, frame)
        block = np.array([frame for _, frame in present], dtype=np.int32)
        index: dict[str, int] = {}
        for row, (uuid, _) in enumerate(present):
            index[uuid] = row
            gain = self._gains.get(uuid)
            if gain is not None:
                block[row] = np.rint(block[row] * gain)
        active = set(index)
        total = block.sum(axis=0)

        n_minus_1: list[str] = []  # listeners who hear every other speaker
        own: list[int] = []  # and the block row of each one's own frame
        custom: list[tuple[str, list[int], bool]] = []  # listener, rows, rows are unheard
        for listener, wanted in hears.items():
            speakers = active.intersection(wanted)
            speakers.discard(listener)
            mine = index.get(listener)
            if mine is not None and len(speakers) == len(active) - 1:
                n_minus_1.append(listener)
                own.append(mine)
            elif 2 * len(speakers) <= len(active):  # fewer frames to add than to take away
                custom.append((listener, [index[s] for s in speakers], False))
            else:
                custom.append((listener, [index[s] for s in active - speakers], True))

        out: dict[str, Samples] = {}
        if n_minus_1:
            mine_first = own == list(range(len(own)))
            others = total - (block[: len(own)] if mine_first else block[own])
            out.update(zip(n_minus_1, _saturate(others), strict=True))
        if custom:
            mixed = np.empty((len(custom), self.frame_samples), dtype=np.int32)
            for row, (_, rows, unheard) in enumerate(custom):
                if unheard:
                    np.subtract(total, block[rows].sum(axis=0), out=mixed[row])
                elif rows:
                    block[rows].sum(axis=0, out=mixed[row])
                else:
                    mixed[row] = 0
            out.update(zip((listener for listener, _, _ in custom), _saturate(mixed), strict=True))
        return {listener: out[listener] for listener in hears}

    def _check(self, uuid: str, frame: Samples) -> None:
        if frame.dtype != np.int16 or frame.shape != (self.frame_samples,):
            raise ValueError(
                f"frame of {uuid!r} must be int16 of shape ({self.frame_samples},), "
                f"got {frame.dtype} of shape {frame.shape}"
            )


def _saturate(mixed: npt.NDArray[np.int32]) -> npt.NDArray[np.int16]:
    """Clip exact int32 sums to the 16-bit range (``minimum``/``maximum``: cheaper than clip)."""
    np.minimum(mixed, _INT16_MAX, out=mixed)
    np.maximum(mixed, _INT16_MIN, out=mixed)
    return mixed.astype(np.int16)
