"""``GET /v1/files/{file_id}``: the recording for its own application's JWT, and nothing else."""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
import wave
from pathlib import Path

import httpx
import miniaudio
import pytest
from conftest import APP_A, APP_B, NUMBER_A, Api, config

from trunkline.api import create_app
from trunkline.call.runtime import Runtime
from trunkline.config import parse_config
from trunkline.errors import ConfigError
from trunkline.keys import KeyPair
from trunkline.sim import Step

RECORDER = "447700900055"


async def record_a_call(api: Api, seconds: float = 4.0, **action: object) -> dict[str, object]:
    """An outbound call whose callee presses # after ``seconds``; the record event body."""
    api.rt.platform.sim.add_phone(
        RECORDER, ring=1, script=[Step(at=seconds, press="#"), Step(at=seconds + 1, hangup=True)]
    )
    r = await api.call(
        "POST",
        "/v1/calls",
        json={
            "to": [{"type": "phone", "number": RECORDER}],
            "from": {"type": "phone", "number": NUMBER_A},
            "ncco": [{"action": "record", "endOnKey": "#", **action}],
        },
    )
    assert r.status_code == 201, r.text
    await api.advance(seconds + 3)
    await api.rt.recordings.aclose()
    await api.rt.settle()
    [event] = [e for e in api.rt.store.events_for_call(r.json()["uuid"]) if e.kind == "record"]
    return event.body


def path_of(body: dict[str, object]) -> str:
    url = str(body["recording_url"])
    assert url.startswith(f"{api_base()}/v1/files/")
    return url.removeprefix(api_base()).split("?", 1)[0]


def api_base() -> str:
    return "http://127.0.0.1:8080"  # the config's default public_url


async def test_owner_downloads_the_recording(api: Api) -> None:
    body = await record_a_call(api)
    r = await api.call("GET", path_of(body))
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/mpeg"
    assert int(r.headers["content-length"]) == len(r.content) == body["size"]
    file_id = path_of(body).rsplit("/", 1)[1]
    assert r.content == api.rt.files.read(file_id)
    info = miniaudio.mp3_get_info(r.content)
    assert (info.sample_rate, info.nchannels) == (16000, 1)
    assert info.duration == pytest.approx(4.0, abs=0.25)


async def test_wav_recording_is_served_as_wav(api: Api) -> None:
    body = await record_a_call(api, 2.0, format="wav")
    r = await api.call("GET", path_of(body))
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(r.content)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert w.getnframes() / 16000 == pytest.approx(2.0, abs=0.05)


async def test_another_application_gets_404(api: Api) -> None:
    body = await record_a_call(api)
    r = await api.call("GET", path_of(body), app_id=APP_B)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Not Found"
    # the same answer as for a file that does not exist
    missing = await api.call("GET", f"/v1/files/{uuid.uuid4()}", app_id=APP_B)
    assert missing.status_code == 404 and missing.json()["title"] == "Not Found"


async def test_no_or_bad_credentials_get_401(api: Api) -> None:
    body = await record_a_call(api)
    path = path_of(body)
    assert (await api.client.get(path)).status_code == 401
    r = await api.client.get(path, headers={"Authorization": "Basic YTpi"})
    assert r.status_code == 401 and r.json()["title"] == "Unauthorized"

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"application_id": APP_A, "iat": now, "jti": "x", "exp": now + 60}
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    unsigned = f"{header}.{b64(json.dumps(claims).encode())}."
    r = await api.client.get(path, headers={"Authorization": f"Bearer {unsigned}"})
    assert r.status_code == 401
    # and with the owner's token it was there all along
    assert (await api.call("GET", path)).status_code == 200


async def test_unknown_and_malformed_ids_get_404(api: Api) -> None:
    for file_id in (str(uuid.uuid4()), "..", "%2E%2E%2Fetc", "a%20b", "x" * 300):
        r = await api.call("GET", f"/v1/files/{file_id}")
        assert r.status_code == 404, file_id
        assert r.headers["content-type"] == "application/problem+json"


async def test_a_file_put_directly_is_streamed_from_disk(api: Api) -> None:
    data = bytes(range(256)) * 2000  # 512 000 bytes: several chunks
    api.rt.files.put("direct-1", data, content_type="audio/wav", application_id=APP_A)
    r = await api.call("GET", "/v1/files/direct-1")
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-length"] == str(len(data))
    assert (await api.call("GET", "/v1/files/direct-1", app_id=APP_B)).status_code == 404


async def test_files_live_beside_the_sqlite_database(
    keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    cfg = parse_config(config(keys, f"sqlite:///{tmp_path}/db/t.db"))
    async with Runtime(cfg) as rt:
        rt.files.put("kept-1", b"RIFF", content_type="audio/wav", application_id=APP_A)
    assert (tmp_path / "db" / "files" / "ke" / "kept-1").read_bytes() == b"RIFF"
    # a second run over the same database and directory still serves it
    async with Runtime(cfg) as rt:
        transport = httpx.ASGITransport(app=create_app(rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            api = Api(client, rt, keys)
            r = await api.call("GET", "/v1/files/kept-1")
            assert r.status_code == 200 and r.content == b"RIFF"


async def test_files_dir_from_the_config(keys: dict[str, KeyPair], tmp_path: Path) -> None:
    raw = config(keys, "memory:")
    raw["files"] = {"dir": str(tmp_path / "recordings")}
    async with Runtime(parse_config(raw)) as rt:
        rt.files.put("cfg-1", b"ID3", content_type="audio/mpeg", application_id=APP_A)
    assert (tmp_path / "recordings" / "cf" / "cfg-1").read_bytes() == b"ID3"


def test_files_section_is_checked() -> None:
    assert parse_config({}).files_dir is None
    assert parse_config({"files": {"dir": "/srv/rec"}}).files_dir == "/srv/rec"
    for bad in ({"dir": ""}, {"dir": 3}, {"folder": "x"}):
        with pytest.raises(ConfigError, match="files"):
            parse_config({"files": bad})
