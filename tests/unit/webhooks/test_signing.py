"""Signed webhooks, checked with the official Vonage SDK's verifier (spec §6.2)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import jwt
import pytest
from vonage_jwt import verify_signature
from vonage_voice import Voice

from trunkline.webhooks.signing import WebhookSigner, body_bytes, payload_hash, verify

SECRET = "a-signature-secret-of-32-bytes!!"
BODY = {"uuid": "abc", "status": "answered", "to": "447700900000", "nested": {"é": [1, 2]}}


def make(**kw: object) -> str:
    return WebhookSigner(SECRET, "abcd1234").token(
        BODY, iat=int(time.time()), jti="jti-1", application_id="app-1", **kw
    )


def test_the_official_sdk_accepts_the_token() -> None:
    token = make()
    assert verify_signature(token, SECRET) is True
    assert Voice.verify_signature(None, token, SECRET) is True  # type: ignore[arg-type]
    assert verify_signature(token, "another secret that is long enough") is False


def test_claims_are_vonages() -> None:
    claims = jwt.decode(make(), SECRET, algorithms=["HS256"])
    assert jwt.get_unverified_header(make())["alg"] == "HS256"
    assert claims["iss"] == "Vonage" and claims["api_key"] == "abcd1234"
    assert claims["application_id"] == "app-1" and claims["jti"] == "jti-1"
    assert abs(claims["iat"] - time.time()) < 5
    assert claims["payload_hash"] == hashlib.sha256(body_bytes(BODY)).hexdigest()
    assert "exp" not in claims


def test_a_tampered_body_is_caught_by_the_payload_hash() -> None:
    token = make()
    assert verify(token, SECRET, body_bytes(BODY))["jti"] == "jti-1"
    tampered = body_bytes({**BODY, "status": "completed"})
    assert verify_signature(token, SECRET)  # the signature alone does not see the body
    with pytest.raises(jwt.InvalidTokenError, match="payload_hash"):
        verify(token, SECRET, tampered)
    assert payload_hash(tampered) != jwt.decode(token, SECRET, algorithms=["HS256"])["payload_hash"]


def test_a_tampered_token_fails_the_signature() -> None:
    header, _claims, sig = make().split(".")
    forged = jwt.encode(
        {**jwt.decode(make(), SECRET, algorithms=["HS256"]), "payload_hash": "0" * 64},
        "a wrong guess at the signature secret!",
        algorithm="HS256",
    ).split(".")[1]
    assert verify_signature(f"{header}.{forged}.{sig}", SECRET) is False


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        WebhookSigner("", "key")


async def test_the_runtime_signs_when_the_account_has_a_signature_secret(tmp_path: Path) -> None:
    from trunkline.call.runtime import Runtime
    from trunkline.config import parse_config

    secret = "a-signature-secret-of-enough-length"
    cfg = parse_config(
        {
            "server": {"database": f"sqlite:///{tmp_path / 'sign.db'}"},
            "account": {"api_key": "abcd1234", "api_secret": "x", "signature_secret": secret},
            "webhooks": {"mode": "vonage", "strict_urls": True},
        }
    )
    async with Runtime(cfg) as rt:
        assert rt.signer is not None and rt.signer.api_key == "abcd1234"
        assert rt.webhook_policy.mode == "vonage"
        assert rt.url_guard.strict is True
    async with Runtime(parse_config({"server": {"database": "memory:"}})) as plain:
        assert plain.signer is None and plain.webhook_policy.mode == "durable"
