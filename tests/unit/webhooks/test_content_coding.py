"""Content codings undone with a bound on the output (pure: bytes in, bytes out)."""

from __future__ import annotations

import gzip
import zlib

import pytest

from trunkline.webhooks.content_coding import BodyTooLarge, ContentDecoder, ContentDecodingError

BODY = b'[{"action":"talk","text":"' + b"hello " * 500 + b'"}]'


def decode_all(decoder: ContentDecoder, data: bytes, piece: int = 7) -> bytes:
    out = b"".join(decoder.decode(data[i : i + piece]) for i in range(0, len(data), piece))
    return out + decoder.flush()


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("header", "data"),
    [
        ([], BODY),
        (["identity"], BODY),
        (["gzip"], gzip.compress(BODY)),
        (["x-gzip"], gzip.compress(BODY)),
        (["GZIP"], gzip.compress(BODY)),
        (["deflate"], zlib.compress(BODY)),
        (["deflate"], raw_deflate(BODY)),
        (["deflate, gzip"], gzip.compress(zlib.compress(BODY))),
        (["deflate", "gzip"], gzip.compress(zlib.compress(BODY))),
    ],
)
def test_codings_are_undone(header: list[str], data: bytes) -> None:
    assert decode_all(ContentDecoder(header, limit=len(BODY)), data) == BODY


@pytest.mark.parametrize("header", [["br"], ["gzip, br"], ["zstd"]])
def test_unknown_codings_pass_the_body_through(header: list[str]) -> None:
    assert decode_all(ContentDecoder(header, limit=100), b"\x8b\x00raw") == b"\x8b\x00raw"


@pytest.mark.parametrize(
    ("header", "data"),
    [
        ([], BODY),
        (["gzip"], gzip.compress(BODY)),
        (["deflate"], zlib.compress(BODY)),
        (["deflate, gzip"], gzip.compress(zlib.compress(BODY))),
    ],
)
def test_output_stops_at_the_limit(header: list[str], data: bytes) -> None:
    decoder = ContentDecoder(header, limit=len(BODY) - 1)
    with pytest.raises(BodyTooLarge):
        decode_all(decoder, data)


def test_a_bomb_is_stopped_after_at_most_limit_plus_one_bytes() -> None:
    bomb = gzip.compress(bytes(50_000_000))  # about 50 KB
    decoder = ContentDecoder(["gzip"], limit=10_000)
    produced = 0
    with pytest.raises(BodyTooLarge):
        for i in range(0, len(bomb), 4096):
            produced += len(decoder.decode(bomb[i : i + 4096]))
    assert produced <= 10_000


@pytest.mark.parametrize(
    ("header", "data"),
    [(["gzip"], b"not gzip at all"), (["deflate"], b"x\x9c not deflate")],
)
def test_corrupt_data(header: list[str], data: bytes) -> None:
    with pytest.raises(ContentDecodingError):
        decode_all(ContentDecoder(header, limit=1000), data)
