"""Fakes and helpers for testing trunkline and the voice applications built on it."""

from trunkline.testing.server import ServedApp
from trunkline.testing.webapp import RecordedRequest, WebhookApp

__all__ = ["RecordedRequest", "ServedApp", "WebhookApp"]
