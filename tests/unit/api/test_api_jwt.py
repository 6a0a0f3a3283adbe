"""The JWT table (spec/VOICE-API.md §6.1): which tokens open ``/v1/calls`` and which get 401."""

from __future__ import annotations

import base64
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from conftest import APP_A, APP_B, Api, token
from cryptography.hazmat.primitives.asymmetric import ec

from trunkline.keys import KeyPair, generate_key_pair

Maker = Callable[[dict[str, KeyPair]], str | None]
NOW = int(time.time())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "application_id": APP_A,
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
        "exp": int(time.time()) + 900,
    }
    body.update(kw)
    return {k: v for k, v in body.items() if v is not None}


def alg_none(keys: dict[str, KeyPair]) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(claims()).encode())}."


def hs256_with_public_key(keys: dict[str, KeyPair]) -> str:
    """The classic confusion attack: HMAC keyed with the RSA public key's PEM."""
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    secret = keys[APP_A].public_key.encode()
    sig = hmac.new(secret, f"{header}.{payload}".encode(), "sha256").digest()
    return f"{header}.{payload}.{b64(sig)}"


def tampered(keys: dict[str, KeyPair]) -> str:
    good = token(keys[APP_A].private_key, APP_A)
    header, _, sig = good.split(".")
    payload = b64(json.dumps(claims(application_id=APP_A, jti="changed")).encode())
    return f"{header}.{payload}.{sig}"


def signed_by_other_app(keys: dict[str, KeyPair]) -> str:
    return token(keys[APP_B].private_key, APP_A)


def es256(keys: dict[str, KeyPair]) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims(), key, algorithm="ES256")


CASES: list[tuple[str, Maker, int]] = [
    ("valid", lambda k: token(k[APP_A].private_key, APP_A), 200),
    (
        "valid with nbf and acl",
        lambda k: token(k[APP_A].private_key, APP_A, nbf=NOW - 5, acl={}),
        200,
    ),
    ("iat slightly ahead (skew)", lambda k: token(k[APP_A].private_key, APP_A, iat=NOW + 10), 200),
    ("no header", lambda k: None, 401),
    ("not a jwt", lambda k: "hello", 401),
    ("alg none", alg_none, 401),
    ("HS256 with the public key", hs256_with_public_key, 401),
    ("ES256", es256, 401),
    ("tampered payload", tampered, 401),
    ("signed with another app's key", signed_by_other_app, 401),
    ("unknown application", lambda k: token(k[APP_A].private_key, str(uuid.uuid4())), 401),
    ("no application_id", lambda k: token(k[APP_A].private_key, APP_A, application_id=""), 401),
    ("expired", lambda k: token(k[APP_A].private_key, APP_A, iat=NOW - 1000, exp=NOW - 100), 401),
    ("iat in the future", lambda k: token(k[APP_A].private_key, APP_A, iat=NOW + 600), 401),
    ("nbf in the future", lambda k: token(k[APP_A].private_key, APP_A, nbf=NOW + 600), 401),
    ("no exp", lambda k: jwt.encode(claims(exp=None), k[APP_A].private_key, "RS256"), 401),
    ("no iat", lambda k: jwt.encode(claims(iat=None), k[APP_A].private_key, "RS256"), 401),
    ("no jti", lambda k: jwt.encode(claims(jti=None), k[APP_A].private_key, "RS256"), 401),
    ("lives 2 days", lambda k: token(k[APP_A].private_key, APP_A, exp=NOW + 2 * 86400), 401),
    ("fresh key pair, same app id", lambda k: token(generate_key_pair().private_key, APP_A), 401),
]


@pytest.mark.parametrize(
    ("make", "status"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES]
)
async def test_jwt_table(api: Api, make: Maker, status: int) -> None:
    tok = make(api.keys)
    headers = {} if tok is None else {"Authorization": f"Bearer {tok}"}
    r = await api.client.get("/v1/calls", headers=headers)
    assert r.status_code == status, r.text
    if status == 401:
        doc = r.json()
        assert doc["title"] == "Unauthorized" and doc["type"].endswith("#unauthorized")
        assert doc["detail"] and doc["instance"]
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_basic_auth_does_not_open_calls(api: Api) -> None:
    basic = base64.b64encode(b"abcd1234:s3cr3t-s3cr3t").decode()
    r = await api.client.get("/v1/calls", headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 401
