"""Webhooks the platform sends to the customer's application (spec §3)."""

from trunkline.engine.hooks import RETRYABLE_ERRORS, RETRYABLE_STATUSES
from trunkline.webhooks.client import (
    WebhookClient,
    WebhookRequest,
    WebhookResponse,
    answer_query,
    query_params,
)

__all__ = [
    "RETRYABLE_ERRORS",
    "RETRYABLE_STATUSES",
    "WebhookClient",
    "WebhookRequest",
    "WebhookResponse",
    "answer_query",
    "query_params",
]
