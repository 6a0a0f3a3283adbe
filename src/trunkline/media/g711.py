"""G.711 µ-law and A-law (ITU-T G.711) as numpy lookup tables.

Decoding maps each of the 256 codes to its 16-bit linear value (G.711 tables 1a/2a, scaled
to 16 bits as in the ITU-T G.191 tools). Encoding uses a 65,536-entry table indexed by the
16-bit sample, built once at import from the classic segment search (µ-law on the top 14
bits, A-law on the top 13 bits, as ``audioop.lin2ulaw``/``lin2alaw`` do; the tests hold it
to ``audioop`` on every 16-bit value).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]

_MULAW_BIAS: Final = 0x84
_MULAW_CLIP: Final = 8159  # largest 14-bit magnitude µ-law represents


def _mulaw_decode_table() -> Samples:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((code & 0x0F) << 3) + _MULAW_BIAS) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _MULAW_BIAS - magnitude, magnitude - _MULAW_BIAS).astype(np.int16)


def _alaw_decode_table() -> Samples:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (code & 0x70) >> 4
    mantissa = (code & 0x0F) << 4
    magnitude = np.where(
        segment == 0,
        mantissa + 8,
        (mantissa + 0x108) << np.maximum(segment - 1, 0),
    )
    return np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)


def _segment(magnitude: npt.NDArray[np.int32], first_size: int) -> npt.NDArray[np.int32]:
    """Segment number 0..8 of each magnitude; segment s ends at ``(first_size << s) - 1``."""
    ends = np.array([(first_size << s) - 1 for s in range(8)], dtype=np.int32)
    return np.searchsorted(ends, magnitude, side="left").astype(np.int32)


def _mulaw_encode_table() -> npt.NDArray[np.uint8]:
    sample = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(sample < 0, 0x7F, 0xFF).astype(np.int32)
    magnitude = np.minimum(np.abs(sample), _MULAW_CLIP) + (_MULAW_BIAS >> 2)
    segment = _segment(magnitude, 0x40)
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    code = np.bitwise_xor(np.where(segment >= 8, 0x7F, code).astype(np.int32), mask)
    return _by_unsigned_index(code)


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    sample = np.arange(-32768, 32768, dtype=np.int32) >> 3
    mask = np.where(sample < 0, 0x55, 0xD5).astype(np.int32)
    magnitude = np.where(sample < 0, -sample - 1, sample)
    segment = _segment(magnitude, 0x20)
    shift = np.where(segment < 2, 1, segment)
    code = (segment << 4) | ((magnitude >> shift) & 0x0F)
    code = np.bitwise_xor(np.where(segment >= 8, 0x7F, code).astype(np.int32), mask)
    return _by_unsigned_index(code)


def _by_unsigned_index(code_from_minus_32768: npt.NDArray[np.int32]) -> npt.NDArray[np.uint8]:
    """Reorder a table built for samples -32768..32767 so that the sample's bits read as
    ``uint16`` index it directly (0..32767 first, then -32768..-1)."""
    return np.roll(code_from_minus_32768.astype(np.uint8), -32768)


MULAW_DECODE: Final[Samples] = _mulaw_decode_table()
ALAW_DECODE: Final[Samples] = _alaw_decode_table()
MULAW_ENCODE: Final[npt.NDArray[np.uint8]] = _mulaw_encode_table()
ALAW_ENCODE: Final[npt.NDArray[np.uint8]] = _alaw_encode_table()
for _table in (MULAW_DECODE, ALAW_DECODE, MULAW_ENCODE, ALAW_ENCODE):
    _table.flags.writeable = False


def _as_int16(samples: npt.ArrayLike) -> Samples:
    array = np.asarray(samples)
    if array.dtype != np.int16:
        raise TypeError(f"G.711 encodes int16 samples, got {array.dtype}")
    return array


def ulaw_encode(samples: npt.ArrayLike) -> bytes:
    """Encode int16 samples to µ-law bytes, one per sample."""
    return MULAW_ENCODE[_as_int16(samples).view(np.uint16)].tobytes()


def ulaw_decode(data: bytes) -> Samples:
    """Decode µ-law bytes to int16 samples."""
    return MULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def alaw_encode(samples: npt.ArrayLike) -> bytes:
    """Encode int16 samples to A-law bytes, one per sample."""
    return ALAW_ENCODE[_as_int16(samples).view(np.uint16)].tobytes()


def alaw_decode(data: bytes) -> Samples:
    """Decode A-law bytes to int16 samples."""
    return ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]
