"""Signed webhooks (spec/VOICE-API.md §6.2): an HS256 JWT in ``Authorization: Bearer``.

Claims as Vonage sends them: ``iat`` (seconds), ``jti`` (unique per request),
``iss`` ``"Vonage"``, ``payload_hash`` (SHA-256 hex of the body), ``api_key`` (picks the
signature secret) and ``application_id``. No ``exp``, like Vonage: receivers bound
``iat`` themselves. The official SDK's ``vonage_jwt.verify_signature`` accepts these
tokens (tested).

``payload_hash`` of a POST is the hash of the exact JSON body sent. A GET carries its
fields as query parameters; its hash is that of the same fields as compact JSON, in
order (the body the POST would have had) — Vonage does not document the GET case.

Pure: the caller passes ``iat`` and ``jti``; this module reads no clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import jwt


def body_bytes(body: Mapping[str, Any]) -> bytes:
    """The JSON body as the webhook client sends it (compact, UTF-8, key order kept)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def payload_hash(body: bytes) -> str:
    """SHA-256 hex of the raw request body."""
    return hashlib.sha256(body).hexdigest()


class WebhookSigner:
    """Signs webhook requests with the account's signature secret."""

    def __init__(self, secret: str, api_key: str) -> None:
        if not secret:
            raise ValueError("a signature secret must not be empty")
        self.secret = secret
        self.api_key = api_key

    def token(
        self,
        body: Mapping[str, Any],
        *,
        iat: int,
        jti: str,
        application_id: str | None = None,
    ) -> str:
        """The JWT for a request with ``body`` (see the module docstring for GET)."""
        claims: dict[str, Any] = {
            "iat": iat,
            "jti": jti,
            "iss": "Vonage",
            "payload_hash": payload_hash(body_bytes(body)),
            "api_key": self.api_key,
        }
        if application_id is not None:
            claims["application_id"] = application_id
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def header(
        self,
        body: Mapping[str, Any],
        *,
        iat: int,
        jti: str,
        application_id: str | None = None,
    ) -> dict[str, str]:
        """``{"Authorization": "Bearer <jwt>"}`` for a request with ``body``."""
        token = self.token(body, iat=iat, jti=jti, application_id=application_id)
        return {"Authorization": f"Bearer {token}"}


def verify(token: str, secret: str, body: bytes, *, leeway: float = 0.0) -> dict[str, Any]:
    """What an application does with a signed webhook: check the signature (HS256) and
    that ``payload_hash`` matches ``body``; the claims, or :class:`jwt.InvalidTokenError`."""
    claims: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"], leeway=leeway)
    if claims.get("payload_hash") != payload_hash(body):
        raise jwt.InvalidTokenError("payload_hash does not match the body")
    return claims
