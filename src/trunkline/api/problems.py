"""RFC 7807 problem documents, the way Vonage shapes them (spec/VOICE-API.md §5.11)."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import JSONResponse

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Rate Limit Hit",
    500: "Internal Server Error",
}
TYPES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "wrong-verb",
    409: "conflict",
    415: "content-type-header",
    422: "unprocessable-entity",
    429: "rate-limit",
    500: "internal-error",
}


def problem(
    status: int,
    detail: str,
    *,
    invalid_parameters: list[dict[str, str]] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://developer.nexmo.com/api-errors#{TYPES.get(status, 'error')}",
        "title": TITLES.get(status, "Error"),
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }
    if invalid_parameters:
        body["invalid_parameters"] = invalid_parameters
    return JSONResponse(body, status_code=status, media_type="application/problem+json")
