"""The async shell around the engine: webhook delivery, wiring, the live platform.

Names are imported on first use: ``trunkline.call.platform`` must not pull in the HTTP
client (aiohttp) for a test that calls its app in-process.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trunkline.call.platform import Platform
    from trunkline.call.webhooks import HttpWebhooks, InProcessWebhooks

_HOMES = {
    "Platform": "trunkline.call.platform",
    "HttpWebhooks": "trunkline.call.webhooks",
    "InProcessWebhooks": "trunkline.call.webhooks",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'trunkline.call' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


__all__ = ["HttpWebhooks", "InProcessWebhooks", "Platform"]
