"""Identifiers in Vonage's formats: leg uuids and ``CON-`` conversation uuids."""

from __future__ import annotations

import random
import uuid
from typing import Protocol


class Ids(Protocol):
    def uuid(self) -> str:
        """A dashed RFC 4122 version-4 uuid."""
        ...


class RandomIds:
    """Real random uuids (serve)."""

    def uuid(self) -> str:
        return str(uuid.uuid4())


class SeededIds:
    """Deterministic uuids from a seed, so test timelines and golden files are stable."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


def conversation_uuid(ids: Ids) -> str:
    return "CON-" + ids.uuid()
