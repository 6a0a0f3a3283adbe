"""A trunkline API in process (ASGI transport), two applications with keys, sim phones."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from trunkline.api import create_app
from trunkline.call.runtime import Runtime
from trunkline.config import parse_config
from trunkline.keys import KeyPair, generate_key_pair

APP_A = "aaaaaaaa-0000-4000-8000-00000000000a"
APP_B = "bbbbbbbb-0000-4000-8000-00000000000b"
NUMBER_A = "447700900000"
CALLEE = "447700900001"
API_KEY, API_SECRET = "abcd1234", "s3cr3t-s3cr3t"


@pytest.fixture(scope="session")
def keys() -> dict[str, KeyPair]:
    return {APP_A: generate_key_pair(), APP_B: generate_key_pair()}


@functools.lru_cache(maxsize=32)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    """Parsing an RSA PEM costs ~50 ms (key checks); signing with a loaded key ~1 ms."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def token(private_pem: str, app_id: str, **claims: Any) -> str:
    now = int(time.time())
    body: dict[str, Any] = {
        "application_id": app_id,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "exp": now + 900,
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, _private_key(private_pem), algorithm="RS256")


@dataclass
class Api:
    client: httpx.AsyncClient
    rt: Runtime
    keys: dict[str, KeyPair]

    def headers(self, app_id: str = APP_A) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(self.keys[app_id].private_key, app_id)}"}

    async def call(self, method: str, path: str, app_id: str = APP_A, **kw: Any) -> httpx.Response:
        return await self.client.request(method, path, headers=self.headers(app_id), **kw)

    async def advance(self, seconds: float) -> None:
        assert self.rt.virtual is not None
        await self.rt.virtual.advance_async(seconds)


def config(keys: dict[str, KeyPair], database: str) -> dict[str, Any]:
    return {
        "server": {"database": database},
        "sim": {"clock": "virtual"},
        "account": {"api_key": API_KEY, "api_secret": API_SECRET},
        "applications": [
            {
                "id": APP_A,
                "name": "app-a",
                "event_url": "http://127.0.0.1:9/event",
                "public_key": keys[APP_A].public_key,
                "numbers": [NUMBER_A],
            },
            {
                "id": APP_B,
                "name": "app-b",
                "event_url": "http://127.0.0.1:9/event",
                "public_key": keys[APP_B].public_key,
            },
        ],
    }


@pytest.fixture
async def api(keys: dict[str, KeyPair]) -> AsyncIterator[Api]:
    cfg = parse_config(config(keys, "memory:"))
    async with Runtime(cfg) as rt:
        transport = httpx.ASGITransport(app=create_app(rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://trunkline") as client:
            rt.platform.sim.add_phone(CALLEE, ring=1)
            yield Api(client, rt, keys)


Factory = Callable[..., Any]
