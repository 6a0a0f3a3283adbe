"""Streaming resampling between the pump's 8 kHz and a WebSocket's 16/24 kHz.

:func:`trunkline.media.tts.resample` converts a whole prompt at once; a live stream
arrives 20 ms at a time, and resampling each frame on its own would click at every
frame edge. :class:`StreamResampler` keeps the tail of the previous input so that the
filter runs across frame boundaries: the output is the same as resampling the whole
stream in one go (delayed by half the filter).

Only integer ratios are needed (8k <-> 16k, 8k <-> 24k): upsampling zero-stuffs and
low-passes, downsampling low-passes and decimates. Pure numpy, no state beyond the
tail, cheap enough for hundreds of legs per 20 ms tick (one ``np.convolve`` a frame).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]

#: Filter taps per unit of the ratio (48 taps for 2x, 72 for 3x).
TAPS_PER_STEP = 24
_KAISER_BETA = 6.0


def lowpass(ratio: int) -> npt.NDArray[np.float64]:
    """A Kaiser-windowed sinc cutting at 0.9 x the low rate's Nyquist, unity DC gain."""
    n = TAPS_PER_STEP * ratio
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    cutoff = 0.45 / ratio  # cycles per sample at the high rate
    taps = 2.0 * cutoff * np.sinc(2.0 * cutoff * t) * np.kaiser(n, _KAISER_BETA)
    taps /= taps.sum()
    return taps


class StreamResampler:
    """Resample a stream of int16 chunks from ``src_rate`` to ``dst_rate`` (integer ratio)."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        hi, lo = max(src_rate, dst_rate), min(src_rate, dst_rate)
        if hi % lo:
            raise ValueError(f"no integer ratio between {src_rate} and {dst_rate} Hz")
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self.ratio = ratio = hi // lo
        self.up = dst_rate > src_rate
        taps = lowpass(ratio) if ratio > 1 else np.ones(1)
        if self.up:
            # polyphase: output phase p of each input sample uses taps p, p + L, p + 2L …
            # (the zero-stuffed samples contribute nothing, so they are never computed)
            self._phases = [taps[p::ratio] * ratio for p in range(ratio)]
            keep = taps.size // ratio - 1
        else:
            self._phases = [taps]
            keep = taps.size - 1
        self._tail = np.zeros(keep, dtype=np.float64)

    def reset(self) -> None:
        """Forget the past (after a ``clear``: the next audio starts a new stream)."""
        self._tail[:] = 0.0

    def process(self, chunk: Samples) -> Samples:
        """The resampled chunk; its length is ``len(chunk) * dst / src`` exactly.

        Downsampling needs chunks whose length is a multiple of the ratio (20 ms frames are).
        """
        ratio = self.ratio
        if ratio == 1:
            return chunk.astype(np.int16, copy=False)
        n = chunk.size
        buf = np.concatenate([self._tail, chunk.astype(np.float64)])
        keep = self._tail.size
        self._tail = buf[buf.size - keep :]
        if self.up:
            out = np.empty(n * ratio, dtype=np.float64)
            for p, taps in enumerate(self._phases):
                out[p::ratio] = np.convolve(buf, taps, mode="valid")
        else:
            if n % ratio:
                raise ValueError(f"chunk of {n} samples is not a multiple of {ratio}")
            out = np.convolve(buf, self._phases[0], mode="valid")[::ratio]
        np.rint(out, out=out)
        np.maximum(out, -32768.0, out=out)
        np.minimum(out, 32767.0, out=out)
        return out.astype(np.int16)
