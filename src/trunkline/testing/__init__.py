"""Fakes and helpers for testing trunkline and the voice applications built on it.

App developers start with :class:`VoiceNetwork` (or pytest's ``voice`` fixture, see
``docs/testing.md``). Names are imported on first use, so that loading the pytest
plugin costs a test run that does not use it nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trunkline.testing.exchanges import AppError, Exchange
    from trunkline.testing.handles import App, Call, Phone, WaitTimeout
    from trunkline.testing.kit import VoiceNetwork, hang_up, press, say
    from trunkline.testing.server import ServedApp
    from trunkline.testing.webapp import RecordedRequest, WebhookApp

_WHERE = {
    "App": "handles",
    "AppError": "exchanges",
    "Call": "handles",
    "Exchange": "exchanges",
    "Phone": "handles",
    "RecordedRequest": "webapp",
    "ServedApp": "server",
    "VoiceNetwork": "kit",
    "WaitTimeout": "handles",
    "WebhookApp": "webapp",
    "hang_up": "kit",
    "press": "kit",
    "say": "kit",
}

__all__ = [
    "App",
    "AppError",
    "Call",
    "Exchange",
    "Phone",
    "RecordedRequest",
    "ServedApp",
    "VoiceNetwork",
    "WaitTimeout",
    "WebhookApp",
    "hang_up",
    "press",
    "say",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
