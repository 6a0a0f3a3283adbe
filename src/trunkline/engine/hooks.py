"""Webhook requests as the engine sees them: plain data, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trunkline.engine.urlopts import retry_allowed

#: Transport errors after which Vonage retries an NCCO webhook once (spec §3.1:
#: "connect timeout, socket timeout, connection closed/reset").
RETRYABLE_ERRORS = frozenset(
    {"connect timeout", "read timeout", "connection refused", "connection reset"}
)
#: HTTP statuses after which Vonage retries an NCCO webhook once (spec §3.1).
RETRYABLE_STATUSES = frozenset({429, 503, 504})

#: Webhook kinds whose reply may carry an NCCO (spec/VOICE-API.md §3.11).
NCCO_KINDS = frozenset({"answer", "fallback", "input", "notify", "connect", "transfer"})


@dataclass(frozen=True)
class Hook:
    """One request the engine wants made to an application."""

    kind: str  # "answer" | "fallback" | "status" | "input" | "notify" | "record" | "error" | ...
    url: str
    method: str
    body: dict[str, Any]
    call_uuid: str | None = None
    conversation_uuid: str | None = None
    connect_timeout: float = 1.0
    read_timeout: float = 10.0
    headers: dict[str, str] = field(default_factory=dict)
    # per-URL overrides (engine/urlopts.py); None = Vonage's defaults
    retries: int | None = None
    retry_on: frozenset[str] | None = None
    total_time: float | None = None

    def may_retry(self, result: HookResult) -> bool:
        """Whether a failed attempt is retried: Vonage's rule, or the URL's ``rp``."""
        if self.retry_on is None:
            return result.retryable
        return retry_allowed(self.retry_on, result.status, result.error)

    @property
    def is_event(self) -> bool:
        """Events are stored in the outbox before delivery; NCCO fetches are not."""
        return self.kind not in ("answer", "fallback", "transfer")


@dataclass(frozen=True)
class HookResult:
    """What came back: an HTTP status and JSON body, or a transport error."""

    status: int | None
    json: Any = None
    error: str | None = None
    latency: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """Vonage retries NCCO webhooks once on these (spec §3.1)."""
        if self.status is None:
            return self.error in RETRYABLE_ERRORS
        return self.status in RETRYABLE_STATUSES

    def describe(self) -> str:
        if self.status is None:
            return self.error or "no response"
        return f"HTTP {self.status}"
