"""A recording made on a sim call, downloaded with the official ``vonage`` SDK.

A sim phone calls a trunkline number over the real stack: the answer webhook (a real
HTTP app on 127.0.0.1) returns two ``record`` actions that end on a key (MP3, then
WAV); the phone presses ``#`` after 5 s and ``*`` 4 s later. Each ``record`` event
reaches the app over HTTP, and the SDK's ``voice.download_recording(url, path)`` —
with the application's own JWT, as the SDK makes it — fetches the file from
trunkline's ``GET /v1/files/{id}``. The files decode as MP3 and WAV of the recorded
lengths. Another application's SDK client is refused.

The SDK downloads only URLs that contain ``nexmo.com`` or ``vonage.com``
(spec/VOICE-API.md §6.4); trunkline's recording URLs carry ``?sdk=vonage.com`` (which
it ignores), so the URL from the event is passed to the SDK unchanged, as an app would.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import miniaudio
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send
from vonage import Auth, HttpClientOptions, Vonage
from vonage_http_client.errors import FileStreamingError
from vonage_voice.errors import VoiceError

from trunkline.api import create_app
from trunkline.call.runtime import Runtime
from trunkline.config import parse_config
from trunkline.keys import KeyPair, generate_key_pair
from trunkline.sim import Step
from trunkline.testing.server import ServedApp
from trunkline.testing.webapp import RecordedRequest, WebhookApp

APP_ID = "5e5e5e5e-0000-4000-8000-0000000000f1"
OTHER_ID = "5e5e5e5e-0000-4000-8000-0000000000f2"
NUMBER = "447700900000"
CALLER = "447700900123"


class LateApp:
    """An ASGI app served before it exists: the server's URL goes into the config first."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "request before the API was built"
        await self.app(scope, receive, send)


@dataclass
class World:
    rt: Runtime
    webapp: WebhookApp
    keys: dict[str, KeyPair]
    api_url: str

    def sdk(self, app_id: str) -> Vonage:
        host = self.api_url.removeprefix("http://")
        return Vonage(
            Auth(application_id=app_id, private_key=self.keys[app_id].private_key),
            HttpClientOptions(api_host=host, rest_host=host, timeout=10, max_retries=0),
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    keys = {APP_ID: generate_key_pair(), OTHER_ID: generate_key_pair()}
    webapp = WebhookApp()
    webapp.route("/event", None)
    webapp.route("/recording", None)
    late = LateApp()
    async with ServedApp(webapp.asgi()) as hooks, ServedApp(late) as api:
        webapp.route(
            "/answer",
            [
                {"action": "record", "endOnKey": "#", "eventUrl": [f"{hooks.url}/recording"]},
                {
                    "action": "record",
                    "endOnKey": "*",
                    "format": "wav",
                    "eventUrl": [f"{hooks.url}/recording"],
                },
            ],
        )
        cfg = parse_config(
            {
                "server": {"database": f"sqlite:///{tmp_path / 'rec.db'}", "public_url": api.url},
                "sim": {"clock": "virtual"},
                "applications": [
                    {
                        "id": APP_ID,
                        "name": "recorder",
                        "answer_url": f"{hooks.url}/answer",
                        "event_url": f"{hooks.url}/event",
                        "public_key": keys[APP_ID].public_key,
                        "numbers": [NUMBER],
                    },
                    {"id": OTHER_ID, "name": "other", "public_key": keys[OTHER_ID].public_key},
                ],
            }
        )
        async with Runtime(cfg) as rt:
            late.app = create_app(rt)
            yield World(rt, webapp, keys, api.url)


async def recorded_call(world: World) -> list[RecordedRequest]:
    rt = world.rt
    assert rt.virtual is not None
    rt.platform.sim.add_phone(
        CALLER, script=[Step(at=5, press="#"), Step(at=9, press="*"), Step(at=10, hangup=True)]
    )
    rt.platform.sim.call(CALLER, NUMBER)
    await rt.virtual.advance_async(12)
    return await world.webapp.wait_for("/recording", count=2, timeout=10)


async def download(client: Vonage, url: str, path: Path) -> None:
    await asyncio.to_thread(client.voice.download_recording, url, str(path))


async def test_sdk_downloads_the_recordings_of_a_sim_call(world: World, tmp_path: Path) -> None:
    first, second = await recorded_call(world)
    bodies: list[dict[str, Any]] = [first.json, second.json]
    for body in bodies:
        assert body["recording_url"].startswith(f"{world.api_url}/v1/files/")
        assert body["recording_uuid"] not in body["recording_url"]
        assert "status" not in body
    client = world.sdk(APP_ID)

    mp3_path = tmp_path / "first.mp3"
    await download(client, bodies[0]["recording_url"], mp3_path)
    mp3 = mp3_path.read_bytes()
    assert len(mp3) == bodies[0]["size"]
    info = miniaudio.mp3_get_info(mp3)
    assert (info.sample_rate, info.nchannels) == (16000, 1)
    assert info.duration == pytest.approx(5.0, abs=0.25)
    decoded = miniaudio.decode(mp3, nchannels=1, sample_rate=16000)
    assert decoded.duration == pytest.approx(5.0, abs=0.25)

    wav_path = tmp_path / "second.wav"
    await download(client, bodies[1]["recording_url"], wav_path)
    assert wav_path.stat().st_size == bodies[1]["size"]
    with wave.open(str(wav_path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert w.getnframes() / w.getframerate() == pytest.approx(4.0, abs=0.05)
    client.http_client._session.close()


async def test_sdk_of_another_application_is_refused(world: World, tmp_path: Path) -> None:
    first, _ = await recorded_call(world)
    url = first.json["recording_url"]
    other = world.sdk(OTHER_ID)
    target = tmp_path / "stolen.mp3"
    with pytest.raises(FileStreamingError, match=r"404|Not Found"):
        await download(other, url, target)
    assert not target.exists()
    other.http_client._session.close()


async def test_sdk_refuses_a_url_without_a_vonage_host(world: World, tmp_path: Path) -> None:
    """The SDK's own check, not trunkline's: without the ``?sdk=vonage.com`` that trunkline
    puts in its recording URLs, the SDK refuses to request them at all."""
    first, _ = await recorded_call(world)
    client = world.sdk(APP_ID)
    with pytest.raises(VoiceError):
        await download(client, first.json["recording_url"].split("?")[0], tmp_path / "x.mp3")
    client.http_client._session.close()
