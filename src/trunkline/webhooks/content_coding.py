"""Undo a response's Content-Encoding without letting it grow past a limit.

The webhook client asks for ``Accept-Encoding: identity``, but a server may compress
anyway; a few kilobytes of gzip can inflate to gigabytes. :class:`ContentDecoder`
decodes gzip and deflate (RFC 9110 §8.4.1) incrementally and never produces more than
``limit`` bytes in all: past that it raises :class:`BodyTooLarge` instead of inflating
further. Pure code: bytes in, bytes out.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Final

_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
_ZLIB_WBITS: Final = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS: Final = -zlib.MAX_WBITS


class BodyTooLarge(Exception):
    """The decoded body would pass the limit."""


class ContentDecodingError(Exception):
    """The body is not valid data in its declared content coding."""


class _Layer:
    """One content coding, decoded with a bounded output per call."""

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._inflater: zlib._Decompress | None = (
            zlib.decompressobj(_GZIP_WBITS) if coding == "gzip" else None
        )

    def decode(self, data: bytes, max_length: int) -> bytes:
        if self._inflater is None:
            # deflate: RFC 9110 says zlib-wrapped (RFC 1950), but some servers send raw
            # RFC 1951 data; the first byte tells them apart (CM = 8 in a zlib header).
            if not data:
                return b""
            wbits = _ZLIB_WBITS if data[0] & 0x0F == 8 else _RAW_DEFLATE_WBITS
            self._inflater = zlib.decompressobj(wbits)
        try:
            out = self._inflater.decompress(data, max_length)
        except zlib.error as exc:
            raise ContentDecodingError(f"invalid {self._coding} data") from exc
        if self._inflater.unconsumed_tail:
            raise BodyTooLarge
        return out

    def flush(self) -> bytes:
        if self._inflater is None:
            return b""
        try:
            return self._inflater.flush()
        except zlib.error as exc:
            raise ContentDecodingError(f"invalid {self._coding} data") from exc


_KNOWN: Final = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


class ContentDecoder:
    """Decodes a body sent with the given ``Content-Encoding`` header values.

    Codings are undone in the reverse of the order they were applied; ``identity`` is
    skipped. A body with a coding we do not know (``br``, ``zstd``…) is passed through
    as it came: it will not parse as JSON, and nothing is guessed.
    :meth:`decode` and :meth:`flush` raise :class:`BodyTooLarge` once the output would
    pass ``limit`` bytes, before producing more than one byte past it.
    """

    def __init__(self, content_encoding: Iterable[str], limit: int) -> None:
        codings = [
            token.strip().lower()
            for value in content_encoding
            for token in value.split(",")
            if token.strip() and token.strip().lower() != "identity"
        ]
        known = [_KNOWN.get(coding) for coding in codings]
        self._layers = (
            [_Layer(coding) for coding in reversed(known) if coding is not None]
            if all(coding is not None for coding in known)
            else []
        )
        self._limit = limit
        self._produced = 0

    def decode(self, data: bytes) -> bytes:
        """Decode the next piece of the body."""
        last = len(self._layers) - 1
        for i, layer in enumerate(self._layers):
            data = layer.decode(data, self._room(final=i == last))
        return self._count(data)

    def flush(self) -> bytes:
        """Whatever the decoders still hold once the body has ended."""
        data = b""
        last = len(self._layers) - 1
        for i, layer in enumerate(self._layers):
            if data:
                data = layer.decode(data, self._room(final=i == last))
            data += layer.flush()
        return self._count(data)

    def _room(self, *, final: bool) -> int:
        """Most bytes one layer may produce in one call (never 0: zlib reads 0 as no limit).

        The final layer may fill what is left of the limit, and one byte more to show
        that it would pass it. An inner layer's output is still compressed, so it is
        not counted against the limit; it is only kept from producing more than the
        whole limit in one call.
        """
        return self._limit + 1 - (self._produced if final else 0)

    def _count(self, data: bytes) -> bytes:
        self._produced += len(data)
        if self._produced > self._limit:
            raise BodyTooLarge
        return data
