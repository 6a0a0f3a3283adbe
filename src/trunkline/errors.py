"""trunkline's documented exception tree.

Every error trunkline raises on purpose derives from :class:`TrunklineError`.
Foreign exceptions (aiohttp, SQLAlchemy, pydantic, OS errors) are translated at the
boundary of the layer that meets them, so callers only need to know this tree.
"""

from __future__ import annotations


class TrunklineError(Exception):
    """Base of every error trunkline raises on purpose."""


class ConfigError(TrunklineError):
    """The configuration file or a setting is invalid."""


class NotFound(TrunklineError):
    """An application, number, call or phone does not exist."""


class CallStateError(TrunklineError):
    """An operation does not fit the call's state (for example: it has ended)."""


class NccoError(TrunklineError):
    """An NCCO failed validation; ``issues`` name each field at fault."""

    def __init__(self, issues: list[object], warnings: list[object] | None = None) -> None:
        self.issues = list(issues)
        self.warnings = list(warnings or [])
        super().__init__("; ".join(str(i) for i in self.issues) or "invalid NCCO")


class WebhookError(TrunklineError):
    """A webhook request could not be made or its answer was unusable."""


class StoreError(TrunklineError):
    """The store could not read or write."""
