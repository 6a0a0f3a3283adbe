"""Webhooks the platform sends to the customer's application (spec §3).

Names are imported on first use, so encoding helpers (``webhooks.params``) and the
guard load without the HTTP client (aiohttp).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trunkline.engine.hooks import RETRYABLE_ERRORS, RETRYABLE_STATUSES
from trunkline.webhooks.params import query_params

if TYPE_CHECKING:
    from trunkline.webhooks.client import (
        WebhookClient,
        WebhookRequest,
        WebhookResponse,
        answer_query,
    )

_CLIENT = {"WebhookClient", "WebhookRequest", "WebhookResponse", "answer_query"}


def __getattr__(name: str) -> Any:
    if name in _CLIENT:
        return getattr(importlib.import_module("trunkline.webhooks.client"), name)
    raise AttributeError(f"module 'trunkline.webhooks' has no attribute {name!r}")


__all__ = [
    "RETRYABLE_ERRORS",
    "RETRYABLE_STATUSES",
    "WebhookClient",
    "WebhookRequest",
    "WebhookResponse",
    "answer_query",
    "query_params",
]
