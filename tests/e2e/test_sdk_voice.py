"""The official ``vonage`` SDK, unchanged but for its host, drives a running trunkline over TLS.

trunkline's API is served by uvicorn over real TLS on 127.0.0.1 with a certificate from
a throw-away CA (:mod:`trunkline.devca`); ``REQUESTS_CA_BUNDLE`` makes the SDK trust it,
exactly as a user would. The SDK is synchronous, so each of its calls runs in a worker
thread while the event loop serves it. Time is the virtual clock: the test moves it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from vonage import Auth, HttpClientOptions, Vonage
from vonage_application import ApplicationConfig, Capabilities, VoiceUrl, VoiceWebhooks
from vonage_application import Voice as AppVoice
from vonage_http_client.errors import AuthenticationError, HttpRequestError, NotFoundError
from vonage_numbers import ListOwnedNumbersFilter, UpdateNumberParams
from vonage_voice import (
    AudioStreamOptions,
    Conversation,
    CreateCallRequest,
    ListCallsFilter,
    Phone,
    Talk,
    ToPhone,
    TtsStreamOptions,
)

from trunkline.api import create_app
from trunkline.call.runtime import Runtime
from trunkline.config import parse_config
from trunkline.devca import DevCA
from trunkline.keys import KeyPair, generate_key_pair
from trunkline.testing.server import ServedApp
from trunkline.testing.webapp import WebhookApp
from trunkline.webhooks.signing import WebhookSigner

APP_ID = "5e5e5e5e-0000-4000-8000-000000000001"
OTHER_ID = "5e5e5e5e-0000-4000-8000-000000000002"
NUMBER = "447700900000"
CALLEE = "447700900001"
SPARE = "447700900099"
API_KEY, API_SECRET = "a1b2c3d4", "account-secret-0123"
SIGNATURE_SECRET = "signature-secret-0123456789abcdef"
T = TypeVar("T")


class TlsServer:
    """An ASGI app served by uvicorn over TLS on a free loopback port, for an ``async with``."""

    def __init__(self, app: Any, cert: Path, key: Path) -> None:
        self.app, self.cert, self.key = app, cert, key
        self.port = 0

    async def __aenter__(self) -> TlsServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._sock = sock
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            ssl_certfile=str(self.cert),
            ssl_keyfile=str(self.key),
        )
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        async with asyncio.timeout(5):
            while not self._server.started:  # readiness flag; uvicorn offers no event
                if self._task.done():
                    self._task.result()
                await asyncio.sleep(0.005)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        # don't wait for TLS close_notify from the SDK's pooled connections (up to 30 s)
        self._server.force_exit = True
        await self._task
        self._sock.close()


@dataclass
class World:
    rt: Runtime
    client: Vonage
    other: Vonage
    webapp: WebhookApp
    webapp_url: str
    port: int
    opened: list[Vonage] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.opened += [self.client, self.other]

    def new_client(self, app_id: str, key: KeyPair) -> Vonage:
        client = client_for(app_id, key, self.port)
        self.opened.append(client)
        return client

    async def sdk(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def advance(self, seconds: float) -> None:
        assert self.rt.virtual is not None
        await self.rt.virtual.advance_async(seconds)

    def heard(self) -> list[str]:
        return self.rt.platform.sim.phone(CALLEE).heard()

    def phone_events(self) -> list[str]:
        return self.rt.platform.sim.phone(CALLEE).events()

    def statuses(self, uuid: str) -> list[str]:
        return [
            r.json["status"]
            for r in self.webapp.requests_to("/event")
            if isinstance(r.json, dict) and r.json.get("uuid") == uuid and "status" in r.json
        ]


def client_for(app_id: str, key: KeyPair, port: int) -> Vonage:
    host = f"127.0.0.1:{port}"
    return Vonage(
        Auth(application_id=app_id, private_key=key.private_key),
        HttpClientOptions(api_host=host, rest_host=host, timeout=10, max_retries=0),
    )


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    ca = DevCA.create(tmp_path / "ca")
    cert, key = ca.issue(tmp_path / "tls", ["127.0.0.1", "localhost"])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.cert_path))
    keys = {APP_ID: generate_key_pair(), OTHER_ID: generate_key_pair()}
    webapp = WebhookApp()
    webapp.route("/event", None)
    webapp.route(
        "/answer", [{"action": "talk", "text": "Answered by URL"}, {"action": "wait", "timeout": 2}]
    )
    webapp.route(
        "/transfer",
        [{"action": "talk", "text": "Transferred by URL"}, {"action": "conversation", "name": "r"}],
    )
    async with ServedApp(webapp.asgi()) as hooks:
        cfg = parse_config(
            {
                "server": {"database": f"sqlite:///{tmp_path / 'sdk.db'}"},
                "sim": {"clock": "virtual"},
                "account": {"api_key": API_KEY, "api_secret": API_SECRET},
                "applications": [
                    {
                        "id": APP_ID,
                        "name": "sdk-app",
                        "event_url": f"{hooks.url}/event",
                        "public_key": keys[APP_ID].public_key,
                        "numbers": [NUMBER],
                    },
                    {
                        "id": OTHER_ID,
                        "name": "other",
                        "public_key": keys[OTHER_ID].public_key,
                        "numbers": [SPARE],
                    },
                ],
            }
        )
        signer = WebhookSigner(SIGNATURE_SECRET, API_KEY)
        async with (
            Runtime(cfg, signer=signer) as rt,
            TlsServer(create_app(rt), cert, key) as api,
        ):
            rt.platform.sim.add_phone(CALLEE, ring=1)
            world = World(
                rt,
                client_for(APP_ID, keys[APP_ID], api.port),
                client_for(OTHER_ID, keys[OTHER_ID], api.port),
                webapp,
                hooks.url,
                api.port,
            )
            yield world
            for client in world.opened:
                # closing the pooled TLS connections lets the server stop at once
                client.http_client._session.close()


async def test_every_voice_method_on_one_call(world: World) -> None:
    voice = world.client.voice
    created = await world.sdk(
        voice.create_call,
        CreateCallRequest(
            to=[ToPhone(number=CALLEE)],
            from_=Phone(number=NUMBER),
            ncco=[Talk(text="Hello from trunkline"), Conversation(name="room")],
            length_timer=600,
            ringing_timer=30,
        ),
    )
    assert created.status == "started" and created.direction == "outbound"
    uuid = created.uuid
    await world.advance(2)

    info = await world.sdk(voice.get_call, uuid)
    assert (info.uuid, info.status, info.to.number) == (uuid, "answered", CALLEE)
    assert info.link == f"/v1/calls/{uuid}"
    calls, next_index = await world.sdk(voice.list_calls, ListCallsFilter())
    assert [c.uuid for c in calls] == [uuid] and next_index is None

    msg = await world.sdk(voice.play_tts_into_call, uuid, TtsStreamOptions(text="Say this", loop=0))
    assert (msg.message, msg.uuid) == ("Talk started", uuid)
    assert (await world.sdk(voice.stop_tts, uuid)).message == "Talk stopped"
    msg = await world.sdk(
        voice.play_audio_into_call,
        uuid,
        AudioStreamOptions(stream_url=["https://example.com/music.mp3"], loop=0, level=0.5),
    )
    assert msg.message == "Stream started"
    assert (await world.sdk(voice.stop_audio_stream, uuid)).message == "Stream stopped"
    assert (await world.sdk(voice.play_dtmf_into_call, uuid, "1p2#")).message == "DTMF sent"
    for method in (voice.mute, voice.unmute, voice.earmuff, voice.unearmuff):
        assert await world.sdk(method, uuid) is None

    await world.sdk(
        voice.transfer_call_ncco,
        uuid,
        [Talk(text="Transferred inline"), Conversation(name="room")],
    )
    await world.advance(2)
    await world.sdk(voice.transfer_call_answer_url, uuid, f"{world.webapp_url}/transfer")
    await world.advance(2)
    await world.webapp.wait_for("/transfer")
    await world.sdk(voice.hangup, uuid)
    await world.advance(1)

    assert world.heard() == [
        "Hello from trunkline",
        "Say this",
        "Transferred inline",
        "Transferred by URL",
    ]
    log = world.rt.platform.sim.phone(CALLEE).log
    [stream] = [e.detail for e in log if e.event == "heard_stream"]
    assert stream["url"] == "https://example.com/music.mp3" and stream["loop"] == 0
    assert [e.detail["digits"] for e in log if e.event == "heard_dtmf"] == ["1p2#"]
    assert [e.detail for e in log if e.event == "audio"] == [
        {"muted": True, "earmuffed": False},
        {"muted": False, "earmuffed": False},
        {"muted": False, "earmuffed": True},
        {"muted": False, "earmuffed": False},
    ]
    stopped = [(e.detail["kind"], e.detail["text"]) for e in log if e.event == "prompt_stopped"]
    assert stopped[:2] == [("tts", "Say this"), ("stream", "https://example.com/music.mp3")]
    assert world.phone_events()[-1] == "hung_up"

    await world.webapp.wait_for("/event", 4)
    statuses = world.statuses(uuid)
    assert statuses[:3] == ["started", "ringing", "answered"] and statuses[-1] == "completed"
    # the events are signed: the SDK's own check accepts them, and refuses a wrong secret
    for request in world.webapp.requests_to("/event"):
        token = request.headers["authorization"].removeprefix("Bearer ")
        assert voice.verify_signature(token, SIGNATURE_SECRET) is True
        assert voice.verify_signature(token, "not-the-secret-0123456789abcdefgh") is False
    final = await world.sdk(voice.get_call, uuid)
    assert final.status == "completed" and final.duration is not None
    assert final.end_time is not None and final.end_time.endswith("Z")


async def test_call_with_an_answer_url(world: World) -> None:
    voice = world.client.voice
    created = await world.sdk(
        voice.create_call,
        CreateCallRequest(
            to=[ToPhone(number=CALLEE)],
            random_from_number=True,
            answer_url=[f"{world.webapp_url}/answer"],
            event_url=[f"{world.webapp_url}/event"],
        ),
    )
    await world.advance(2)
    [answer] = await world.webapp.wait_for("/answer")
    assert answer.query["uuid"] == created.uuid and answer.query["to"] == CALLEE
    await world.advance(10)
    assert world.heard() == ["Answered by URL"]
    info = await world.sdk(voice.get_call, created.uuid)
    assert info.status == "completed" and info.from_.number == NUMBER
    completed, _ = await world.sdk(voice.list_calls, ListCallsFilter(status="completed"))
    assert [c.uuid for c in completed] == [created.uuid]


async def test_sdk_errors(world: World, tmp_path: Path) -> None:
    voice = world.client.voice
    with pytest.raises(NotFoundError):
        await world.sdk(voice.get_call, "00000000-0000-4000-8000-000000000000")
    created = await world.sdk(
        voice.create_call,
        CreateCallRequest(
            to=[ToPhone(number=CALLEE)], from_=Phone(number=NUMBER), ncco=[Talk(text="Hi")]
        ),
    )
    with pytest.raises(NotFoundError):  # another application's call
        await world.sdk(world.other.voice.hangup, created.uuid)
    calls, _ = await world.sdk(world.other.voice.list_calls, ListCallsFilter())
    assert calls == []
    stranger = world.new_client(APP_ID, generate_key_pair())
    with pytest.raises(AuthenticationError):
        await world.sdk(stranger.voice.get_call, created.uuid)
    await world.advance(10)
    with pytest.raises(HttpRequestError) as err:  # the call has ended
        await world.sdk(voice.play_dtmf_into_call, created.uuid, "1")
    assert err.value.response.status_code == 400


async def test_sdk_sets_up_an_application_and_a_number(world: World) -> None:
    host = f"127.0.0.1:{world.port}"
    account = Vonage(
        Auth(api_key=API_KEY, api_secret=API_SECRET),
        HttpClientOptions(api_host=host, rest_host=host, timeout=10, max_retries=0),
    )
    world.opened.append(account)
    hooks = VoiceWebhooks(
        answer_url=VoiceUrl(address=f"{world.webapp_url}/answer", http_method="GET"),
        event_url=VoiceUrl(address=f"{world.webapp_url}/event", http_method="POST"),
    )
    created = await world.sdk(
        account.application.create_application,
        ApplicationConfig(
            name="made by the SDK",
            capabilities=Capabilities(voice=AppVoice(webhooks=hooks, conversations_ttl=24)),
        ),
    )
    assert created.keys is not None and created.keys.public_key
    private_key = created.keys.model_extra["private_key"]  # type: ignore[index]
    assert private_key.startswith("-----BEGIN PRIVATE KEY-----")
    got = await world.sdk(account.application.get_application, created.id)
    assert got.name == "made by the SDK" and got.link == f"/v2/applications/{created.id}"
    assert got.capabilities.voice.conversations_ttl == 24  # type: ignore[union-attr]
    apps, next_page = await world.sdk(account.application.list_applications)
    assert created.id in [a.id for a in apps] and next_page is None

    numbers, count, _ = await world.sdk(account.numbers.list_owned_numbers)
    assert {n.msisdn for n in numbers} == {NUMBER, SPARE} and count == 2
    status = await world.sdk(
        account.numbers.update_number,
        UpdateNumberParams(country="GB", msisdn=SPARE, app_id=created.id),
    )
    assert status.error_code == "200"
    linked, _, _ = await world.sdk(
        account.numbers.list_owned_numbers, ListOwnedNumbersFilter(application_id=created.id)
    )
    assert [n.msisdn for n in linked] == [SPARE]

    # the new application answers calls to its number and places calls with its key
    world.rt.platform.sim.add_phone("447700900555")
    world.rt.platform.sim.call("447700900555", SPARE)
    await world.advance(1)
    [answer] = await world.webapp.wait_for("/answer")
    assert answer.query["to"] == SPARE
    voice = world.new_client(created.id, KeyPair(private_key, created.keys.public_key)).voice
    call = await world.sdk(
        voice.create_call,
        CreateCallRequest(
            to=[ToPhone(number=CALLEE)], random_from_number=True, ncco=[Talk(text="Mine")]
        ),
    )
    await world.advance(5)
    assert (await world.sdk(voice.get_call, call.uuid)).from_.number == SPARE
    assert "Mine" in world.heard()

    updated = await world.sdk(
        account.application.update_application,
        created.id,
        ApplicationConfig(
            name="renamed", capabilities=Capabilities(voice=AppVoice(webhooks=hooks))
        ),
    )
    assert updated.name == "renamed" and updated.keys.public_key == created.keys.public_key  # type: ignore[union-attr]
    await world.sdk(account.application.delete_application, created.id)
    with pytest.raises(NotFoundError):
        await world.sdk(account.application.get_application, created.id)
    with pytest.raises(AuthenticationError):
        await world.sdk(voice.get_call, call.uuid)  # its key went with it
    wrong = Vonage(
        Auth(api_key=API_KEY, api_secret="wrong"),
        HttpClientOptions(api_host=host, rest_host=host, timeout=10, max_retries=0),
    )
    world.opened.append(wrong)
    with pytest.raises(AuthenticationError):
        await world.sdk(wrong.application.list_applications)
