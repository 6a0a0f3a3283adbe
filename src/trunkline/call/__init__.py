"""The async shell around the engine: webhook delivery, wiring, the live platform."""

from trunkline.call.platform import Platform
from trunkline.call.webhooks import HttpWebhooks, InProcessWebhooks

__all__ = ["HttpWebhooks", "InProcessWebhooks", "Platform"]
