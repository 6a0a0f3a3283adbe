"""trunkline's OpenAPI document: served, in line with voice.yml, and held to by schemathesis.

A bounded schemathesis run (a few examples per operation) sends generated requests to a
running trunkline over real HTTP — with valid credentials, so they get past auth — and
checks that none is a server error and every response fits the document.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import schemathesis
import yaml
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from trunkline.api import create_app
from trunkline.api.openapi import build_openapi
from trunkline.call.runtime import Runtime
from trunkline.config import parse_config
from trunkline.keys import KeyPair, generate_key_pair
from trunkline.testing.server import ServedApp

APP_ID = "0a0a0a0a-0000-4000-8000-00000000000a"
NUMBER = "447700900000"
API_KEY, API_SECRET = "k3y", "s3cret"
VOICE_YML = Path("/work/shared/spec/vonage/voice.yml")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class Server:
    url: str
    key: KeyPair
    call_uuid: str = ""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """trunkline served from its own thread and event loop (schemathesis calls are blocking)."""
    key = generate_key_pair()
    db = tmp_path_factory.mktemp("openapi") / "api.db"
    cfg = parse_config(
        {
            "server": {"database": f"sqlite:///{db}"},
            "sim": {"clock": "virtual"},
            "account": {"api_key": API_KEY, "api_secret": API_SECRET},
            "applications": [
                {
                    "id": APP_ID,
                    "name": "openapi",
                    "event_url": "http://127.0.0.1:9/event",
                    "public_key": key.public_key,
                    "numbers": [NUMBER],
                }
            ],
        }
    )
    ready = threading.Event()
    urls: list[str] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def run() -> None:
        async with Runtime(cfg) as rt, ServedApp(create_app(rt)) as api:
            rt.platform.sim.add_phone("447700900001", ring=1)
            urls.append(api.url)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(10), "trunkline did not start"
    srv = Server(urls[0], key)
    # one answered call that talks until stopped: generated commands reach a live leg
    r = httpx.post(
        f"{srv.url}/v1/calls",
        json={
            "to": [{"type": "phone", "number": "447700900001"}],
            "from": {"type": "phone", "number": NUMBER},
            "ncco": [{"action": "talk", "text": "Hold the line", "loop": 0}],
        },
        headers={"Authorization": f"Bearer {jwt_for(key, APP_ID)}"},
    )
    assert r.status_code == 201, r.text
    srv.call_uuid = r.json()["uuid"]
    httpx.post(f"{srv.url}/sim/v1/clock/advance", json={"seconds": 2}).raise_for_status()
    yield srv
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)
    loop.close()


@functools.lru_cache(maxsize=4)
def _loaded(pem: str) -> Any:
    """Parsing an RSA PEM costs ~50 ms (key checks); signing with a loaded key ~1 ms."""
    return serialization.load_pem_private_key(pem.encode(), password=None)


def jwt_for(key: KeyPair, app_id: str) -> str:
    now = int(time.time())
    claims = {"application_id": app_id, "iat": now, "jti": str(uuid.uuid4()), "exp": now + 900}
    return jwt.encode(claims, _loaded(key.private_key), algorithm="RS256")


def test_document_is_served_with_docs(server: Server) -> None:
    doc = httpx.get(f"{server.url}/openapi.json").json()
    assert doc == build_openapi()
    html = httpx.get(f"{server.url}/docs").text
    assert "/openapi.json" in html and "swagger-ui" in html


def test_voice_paths_agree_with_voice_yml() -> None:
    theirs = yaml.safe_load(VOICE_YML.read_text())
    ours = build_openapi()
    methods = {"get", "put", "post", "delete"}
    for path, item in theirs["paths"].items():
        full = "/v1/calls" + ("" if path == "/" else path)
        assert full in ours["paths"], full
        assert {m for m in item if m in methods} == {m for m in ours["paths"][full] if m in methods}
    # the response shapes carry the same fields as Vonage's
    their_schemas, our_schemas = theirs["components"]["schemas"], ours["components"]["schemas"]
    for theirs_name, ours_name in [
        ("CreateCallResponse", "CreateCallResponse"),
        ("StartTalkResponse", "CallMessage"),
        ("DTMFResponse", "CallMessage"),
    ]:
        assert set(their_schemas[theirs_name]["properties"]) <= set(
            our_schemas[ours_name]["properties"]
        )
    get_call = their_schemas["GetCallResponse"]
    fields = set(get_call.get("properties", {}))
    for part in get_call.get("allOf", []):
        fields |= set(part.get("properties", {}))
    assert fields - {"_links"} <= set(our_schemas["Call"]["properties"])


schema = schemathesis.openapi.from_dict(build_openapi())
# generated examples only (the exhaustive "coverage" phase takes minutes): a bounded run
schema.config.phases.update(phases=["examples", "fuzzing"])


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_schemathesis(case: Any, server: Server) -> None:
    if case.path.startswith(("/account", "/number")):
        raw = base64.b64encode(f"{API_KEY}:{API_SECRET}".encode()).decode()
        auth = f"Basic {raw}"
    else:
        auth = f"Bearer {jwt_for(server.key, APP_ID)}"
    if "uuid" in (case.path_parameters or {}):
        case.path_parameters["uuid"] = server.call_uuid
    case.call_and_validate(base_url=server.url, headers={"Authorization": auth}, checks=CHECKS)
