"""trunkline: a self-hosted programmable voice platform that speaks the Vonage Voice API."""

from trunkline.clock import AsyncioClock, Clock, VirtualClock
from trunkline.domain import Application, CallRecord, EventRecord, TimelineEntry, Webhook
from trunkline.errors import (
    CallStateError,
    ConfigError,
    NccoError,
    NotFound,
    StoreError,
    TrunklineError,
    WebhookError,
)

__version__ = "0.1.0"

__all__ = [
    "Application",
    "AsyncioClock",
    "CallRecord",
    "CallStateError",
    "Clock",
    "ConfigError",
    "EventRecord",
    "NccoError",
    "NotFound",
    "StoreError",
    "TimelineEntry",
    "TrunklineError",
    "VirtualClock",
    "Webhook",
    "WebhookError",
    "__version__",
]
