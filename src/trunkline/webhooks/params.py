"""How webhook bodies become query parameters (GET webhooks): pure, no HTTP client.

Kept apart from :mod:`trunkline.webhooks.client` so that code which only encodes (the
testing kit's in-process apps) does not load aiohttp.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def query_params(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Encode a webhook body as query parameters for a GET webhook (spec §3.1).

    Scalars become strings, booleans ``"true"``/``"false"``, None values are left out,
    and nested objects and arrays (``dtmf``, ``speech``, ``custom_data``) become compact
    JSON strings. Order is kept.
    """
    return [(str(k), _query_value(v)) for k, v in body.items() if v is not None]


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return _dumps(value)
    raise TypeError(f"cannot encode {type(value).__name__} as a webhook query parameter")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
