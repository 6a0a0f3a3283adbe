"""G.711 against ITU-T reference values and, as a golden reference, Python 3.11's audioop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from trunkline.media import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # deprecated in 3.11, removed in 3.13: a golden reference for tests only

ALL_CODES = bytes(range(256))
ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)


# G.711 decoder outputs (16-bit, as in ITU-T G.191 and audioop): code -> linear value.
@pytest.mark.parametrize(
    ("code", "value"),
    [
        (0x00, -32124),
        (0x80, 32124),
        (0xFF, 0),
        (0x7F, 0),
        (0xFE, 8),
        (0x7E, -8),
        (0xEF, 132),  # end of the first segment above zero
        (0x9F, 8316),  # segment 6, mantissa 0: (0x84 << 6) - 0x84
    ],
)
def test_ulaw_reference_values(code: int, value: int) -> None:
    assert g711.ulaw_decode(bytes([code]))[0] == value


@pytest.mark.parametrize(
    ("code", "value"),
    [
        (0xD5, 8),
        (0x55, -8),
        (0xAA, 32256),
        (0x2A, -32256),
        (0x80, 5504),
        (0x00, -5504),
    ],
)
def test_alaw_reference_values(code: int, value: int) -> None:
    assert g711.alaw_decode(bytes([code]))[0] == value


@pytest.mark.parametrize(
    ("decode", "encode", "reference"),
    [
        (g711.ulaw_decode, g711.ulaw_encode, audioop.ulaw2lin),
        (g711.alaw_decode, g711.alaw_encode, audioop.alaw2lin),
    ],
    ids=["ulaw", "alaw"],
)
def test_all_256_codes(decode, encode, reference) -> None:  # type: ignore[no-untyped-def]
    decoded = decode(ALL_CODES)
    assert decoded.dtype == np.int16
    assert decoded.tobytes() == reference(ALL_CODES, 2)
    again = encode(decoded)
    if decode is g711.ulaw_decode:
        # µ-law has two zeros: 0x7F (-0) decodes to 0, which encodes as +0 (0xFF).
        assert again == ALL_CODES.replace(b"\x7f", b"\xff")
    else:
        assert again == ALL_CODES


@pytest.mark.parametrize(
    ("encode", "reference"),
    [(g711.ulaw_encode, audioop.lin2ulaw), (g711.alaw_encode, audioop.lin2alaw)],
    ids=["ulaw", "alaw"],
)
def test_every_16_bit_sample_encodes_like_audioop(encode, reference) -> None:  # type: ignore[no-untyped-def]
    assert encode(ALL_SAMPLES) == reference(ALL_SAMPLES.tobytes(), 2)


def test_encoding_is_monotonic_in_the_decoded_value() -> None:
    for encode, decode in (
        (g711.ulaw_encode, g711.ulaw_decode),
        (g711.alaw_encode, g711.alaw_decode),
    ):
        values = decode(encode(ALL_SAMPLES)).astype(np.int32)
        assert np.all(np.diff(values) >= 0)
        # Below clipping the error is at most half the top segment's step (1024 in 16-bit
        # units, plus µ-law's 3-unit bias offset); µ-law clips at ±32124.
        error = np.abs(values - ALL_SAMPLES.astype(np.int32))
        assert error[np.abs(ALL_SAMPLES.astype(np.int32)) <= 32124].max() <= 515
        assert error.max() <= 32768 - 32124


def test_frame_round_trip_and_input_type() -> None:
    rng = np.random.default_rng(711)
    frame = (rng.normal(size=160) * 4000).astype(np.int16)
    assert len(g711.ulaw_encode(frame)) == 160
    assert g711.ulaw_decode(g711.ulaw_encode(frame)).shape == (160,)
    with pytest.raises(TypeError, match="int16"):
        g711.ulaw_encode(frame.astype(np.float32))
    with pytest.raises(TypeError, match="int16"):
        g711.alaw_encode([1, 2, 3])


def test_tables_are_read_only() -> None:
    with pytest.raises(ValueError):
        g711.MULAW_DECODE[0] = 1
