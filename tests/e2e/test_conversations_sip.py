"""Named conversations over real SIP, checked on real audio.

Most parties are baresip softphones (registered users, auto-answer) whose microphone is a
tone of their own frequency; trunkline calls them (``Switch.create_call``) with
conversation NCCOs. Trunk callers and callees are sipp runs that speak sipp's speech
capture. Mute goes through the REST API (``PUT /v1/calls/{uuid}``, the application's JWT).
What each phone heard (baresip's sndfile dump) and what trunkline recorded are cut into
time windows and checked by FFT: a party's frequency is in a window, or it is not.
Times are marked on trunkline's clock (wall time) as things happen; windows keep half a
second of margin on each side for RTP and jitter-buffer delays.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import time
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import miniaudio
import numpy as np
import numpy.typing as npt
from peers import (
    Baresip,
    baresip,
    free_port,
    read_wav,
    run_sipp,
    start_sipp,
    stop_process,
    write_wav,
)
from starlette.types import ASGIApp, Receive, Scope, Send
from test_sip_door import (
    DATA,
    NUMBER,
    app_base,
    pcap_dir,
    registered,
    sip_port,
    trunkline,
    wait_status,
)

from trunkline.api import create_app
from trunkline.call.runtime import Runtime
from trunkline.config import parse_config
from trunkline.engine.leg import Leg
from trunkline.engine.switch import CallOptions
from trunkline.files import file_id_of
from trunkline.keys import KeyPair, generate_key_pair
from trunkline.ncco import parse_ncco
from trunkline.testing.server import ServedApp
from trunkline.testing.webapp import WebhookApp

__all__ = ["pcap_dir"]  # the fixture, shared with test_sip_door

PASSWORD = "correct-horse"
MOH_HZ = 400.0
MARGIN = 0.6  # audio paths lag a little more on a loaded machine


def tone(
    freq: float, seconds: float, rate: int = 8000, amplitude: int = 8000
) -> npt.NDArray[np.int16]:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude).astype(np.int16)


def share(samples: npt.NDArray[np.int16], rate: int, freq: float) -> float:
    """The share of the signal's power (above 50 Hz) within 25 Hz of ``freq``."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    hz = np.fft.rfftfreq(len(samples), 1 / rate)
    total = spectrum[hz > 50].sum()
    return float(spectrum[np.abs(hz - freq) < 25].sum() / total) if total else 0.0


class Heard:
    """One audio track whose sample 0 is at ``start`` (trunkline clock seconds)."""

    def __init__(
        self, samples: npt.NDArray[np.int16], rate: int, start: float, margin: float = MARGIN
    ) -> None:
        self.samples = samples
        self.rate = rate
        self.start = start
        self.margin = margin

    def window(self, begin: float, end: float) -> npt.NDArray[np.int16]:
        """The samples between two clock times, with the margin cut from both ends."""
        a = max(0, round((begin - self.start + self.margin) * self.rate))
        b = min(len(self.samples), round((end - self.start - self.margin) * self.rate))
        assert b - a >= self.rate // 2, f"window too short: {a}..{b} of {len(self.samples)}"
        return self.samples[a:b]

    def last(self, seconds: float, *, skip: float = 0.3) -> npt.NDArray[np.int16]:
        """The final ``seconds`` of the track but its last ``skip``: aligned on its end (the
        hang-up, which the phone sees within milliseconds) rather than on its start."""
        a = max(0, len(self.samples) - round(seconds * self.rate))
        b = max(a, len(self.samples) - round(skip * self.rate))
        assert b - a >= self.rate // 2, f"tail too short: {a}..{b} of {len(self.samples)}"
        return self.samples[a:b]

    def has(self, begin: float, end: float, freq: float) -> bool:
        return share(self.window(begin, end), self.rate, freq) > 0.1

    def lacks(self, begin: float, end: float, freq: float) -> bool:
        return share(self.window(begin, end), self.rate, freq) < 0.02

    def shares(self, begin: float, end: float, *freqs: float) -> list[float]:
        w = self.window(begin, end)
        return [round(share(w, self.rate, f), 3) for f in freqs]


class Party:
    """A softphone in a test: its tone, its phone, when its call was established."""

    def __init__(self, name: str, hz: float, phone: Baresip) -> None:
        self.name = name
        self.hz = hz
        self.phone = phone
        self.established = 0.0
        self.leg: Leg | None = None

    def heard(self, margin: float = MARGIN) -> Heard:
        path = self.phone.dump("dec")
        assert path is not None, f"{self.name}: baresip wrote no dump of what it heard"
        samples, rate = read_wav(path)
        return Heard(samples, rate, self.established, margin)


@contextlib.asynccontextmanager
async def parties(
    rt: Runtime, tmp_path: Path, tones: dict[str, float], *, amplitude: int = 8000
) -> AsyncIterator[dict[str, Party]]:
    """One registered, auto-answering softphone per name, speaking its tone."""
    port = sip_port(rt)
    async with contextlib.AsyncExitStack() as stack:
        out: dict[str, Party] = {}
        for name, hz in tones.items():
            source = write_wav(tmp_path / f"{name}.wav", tone(hz, 90, amplitude=amplitude))
            account = (
                f"<sip:{name}@127.0.0.1:{port}>;auth_pass={PASSWORD};regint=600;"
                "audio_codecs=PCMU,PCMA"
            )
            phone = await stack.enter_async_context(
                baresip(tmp_path / name, account=account, source=source, answer=True)
            )
            out[name] = Party(name, hz, phone)
        for name in tones:
            await registered(rt, name)
        yield out


class LateApp:
    """The REST API, served before it exists (its URL goes into the config first)."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "request before the API was built"
        await self.app(scope, receive, send)


APP_ID = "c0c0c0c0-0000-4000-8000-00000000c0c0"


class Rest:
    """The Voice API of a running trunkline, as an application calls it (RS256 JWT)."""

    def __init__(self, url: str, key: KeyPair) -> None:
        self.url = url
        self.key = key

    async def put_call(self, uuid: str, body: dict[str, Any]) -> None:
        now = int(time.time())
        claims = {
            "application_id": APP_ID,
            "iat": now,
            "jti": f"{uuid}-{now}-{body}",
            "exp": now + 900,
        }
        token = jwt.encode(claims, self.key.private_key, algorithm="RS256")
        async with httpx.AsyncClient(timeout=10) as http:
            res = await http.put(
                f"{self.url}/v1/calls/{uuid}",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
        assert res.status_code == 204, (res.status_code, res.text)


@contextlib.asynccontextmanager
async def trunkline_with_api(
    app: WebhookApp, *, sip: dict[str, Any]
) -> AsyncIterator[tuple[Runtime, Rest]]:
    """trunkline with SIP on and its REST API served, and a client of it."""
    key = generate_key_pair()
    late = LateApp()
    async with ServedApp(app.asgi()) as web, ServedApp(late) as api:
        low = free_port() // 2 * 2
        settings: dict[str, Any] = {
            "enabled": True,
            "port": 0,
            "rtp_ports": [30000, 40000] if low < 30000 or low > 39000 else [low, low + 1000],
            **sip,
        }
        cfg = parse_config(
            {
                "server": {"port": 0, "database": "memory:", "public_url": api.url},
                "sip": settings,
                "applications": [
                    {
                        "id": APP_ID,
                        "name": "ivr",
                        "answer_url": f"{web.url}/answer",
                        "event_url": f"{web.url}/event",
                        "public_key": key.public_key,
                        "numbers": [NUMBER],
                    }
                ],
            }
        )
        async with Runtime(cfg) as rt:
            late.app = create_app(rt)
            yield rt, Rest(api.url, key)


def users(*names: str) -> list[dict[str, str]]:
    return [{"username": n, "password": PASSWORD, "application": "ivr"} for n in names]


async def call(rt: Runtime, party: Party, ncco: list[dict[str, Any]]) -> Leg:
    """Call ``party`` with ``ncco``; return once its call is established."""
    application = rt.store.get_application(rt.config.applications[0].id)
    leg = rt.platform.switch.create_call(
        application,
        CallOptions(
            to={"type": "app", "user": party.name},
            from_={"type": "phone", "number": NUMBER},
            ncco=parse_ncco(ncco).actions,
        ),
    )
    await party.phone.wait_event("CALL_ESTABLISHED", timeout=15)
    party.established = rt.clock.now()
    party.leg = leg
    return leg


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)  # engine state, polled


async def in_conversation(party: Party) -> float:
    """Wait until the party's leg has joined its named conversation; return the time."""
    leg = party.leg
    assert leg is not None
    await until(lambda: leg.named_conversation is not None)
    return leg.switch.clock.now()


async def hold(seconds: float) -> None:
    """Let the parties talk for ``seconds`` of real audio."""
    await asyncio.sleep(seconds)


async def hang_up_all(rt: Runtime, group: dict[str, Party]) -> float:
    end = rt.clock.now()
    for party in group.values():
        if party.leg is not None and party.leg.alive:
            rt.platform.switch.hangup(party.leg.uuid)
    for party in group.values():
        await party.phone.wait_event("CALL_CLOSED", timeout=15)
    return end


def quarters(samples: npt.NDArray[np.int16], rate: int = 8000) -> list[npt.NDArray[np.int16]]:
    n = rate // 4
    return [samples[i : i + n] for i in range(0, len(samples) - n + 1, n)]


def clock_time(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def decode(data: bytes) -> npt.NDArray[np.int16]:
    """An MP3 or WAV file as mono 16 kHz int16 samples."""
    if data[:4] == b"RIFF":
        with wave.open(io.BytesIO(data)) as w:
            assert w.getframerate() == 16000
            return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    decoded = miniaudio.decode(
        data, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=16000
    )
    return np.frombuffer(decoded.samples, dtype=np.int16)


async def test_attendees_hear_music_on_hold_until_the_moderator_enters(tmp_path: Path) -> None:
    app = WebhookApp()
    app.route("/event", None)
    moh = tmp_path / "moh.wav"
    write_wav(moh, tone(MOH_HZ, 4.0, rate=16000, amplitude=12000), rate=16000)
    app.route("/moh.wav", moh.read_bytes())
    tones = {"ann": 500.0, "bea": 700.0, "mod": 1100.0}
    async with trunkline(app, sip={"trunks": [], "users": users(*tones)}) as rt:
        attendee = {
            "action": "conversation",
            "name": "weekly",
            "startOnEnter": False,
            "musicOnHoldUrl": [f"{app_base(rt)}/moh.wav"],
        }
        moderator = {"action": "conversation", "name": "weekly", "endOnExit": True}
        async with parties(rt, tmp_path, tones) as group:
            ann, bea, mod = group["ann"], group["bea"], group["mod"]
            await call(rt, ann, [attendee])
            await in_conversation(ann)
            await call(rt, bea, [attendee])
            both_waiting = await in_conversation(bea)
            await hold(3.0)
            await call(rt, mod, [moderator])
            started = await in_conversation(mod)
            await hold(3.0)
            # the moderator leaves (endOnExit): everyone is hung up
            end = rt.clock.now()
            assert mod.leg is not None
            rt.platform.switch.hangup(mod.leg.uuid)
            for party in group.values():
                await party.phone.wait_event("CALL_CLOSED", timeout=15)
        heard = {name: party.heard() for name, party in group.items()}
    a, b, m = heard["ann"], heard["bea"], heard["mod"]
    # waiting: music on hold only — the other attendee is not heard yet
    assert a.has(both_waiting, started, MOH_HZ), a.shares(both_waiting, started, MOH_HZ, 700)
    assert a.lacks(both_waiting, started, 700.0), a.shares(both_waiting, started, MOH_HZ, 700)
    assert b.has(both_waiting, started, MOH_HZ)
    assert b.lacks(both_waiting, started, 500.0)
    # the moderator is in: the music stops, everyone hears everyone else
    for who, other in ((a, (700.0, 1100.0)), (b, (500.0, 1100.0)), (m, (500.0, 700.0))):
        for hz in other:
            assert who.has(started, end, hz), (hz, who.shares(started, end, *other, MOH_HZ))
        assert who.lacks(started, end, MOH_HZ), who.shares(started, end, *other, MOH_HZ)
    assert statuses_completed(app) == 3


def statuses_completed(app: WebhookApp) -> int:
    return sum(1 for r in app.requests_to("/event") if (r.json or {}).get("status") == "completed")


async def test_a_coach_whispers_to_the_agent_and_the_customer_does_not_hear_it(
    tmp_path: Path,
) -> None:
    app = WebhookApp()
    app.route("/event", None)
    tones = {"agent": 700.0, "customer": 500.0, "coach": 1100.0}
    async with trunkline(app, sip={"trunks": [], "users": users(*tones)}) as rt:
        async with parties(rt, tmp_path, tones) as group:
            agent, customer, coach = group["agent"], group["customer"], group["coach"]
            agent_leg = await call(rt, agent, [{"action": "conversation", "name": "support"}])
            await in_conversation(agent)
            # the customer hears the agent only (canHear): never the coach
            await call(
                rt,
                customer,
                [{"action": "conversation", "name": "support", "canHear": [agent_leg.uuid]}],
            )
            await in_conversation(customer)
            await call(rt, coach, [{"action": "conversation", "name": "support"}])
            everyone = await in_conversation(coach)
            await hold(3.0)
            end = await hang_up_all(rt, group)
        heard = {name: party.heard() for name, party in group.items()}
    c, a, k = heard["customer"], heard["agent"], heard["coach"]
    assert c.has(everyone, end, 700.0), c.shares(everyone, end, 700, 1100)
    assert c.lacks(everyone, end, 1100.0), c.shares(everyone, end, 700, 1100)
    assert a.has(everyone, end, 500.0) and a.has(everyone, end, 1100.0)
    assert k.has(everyone, end, 500.0) and k.has(everyone, end, 700.0)


async def test_a_muted_party_drops_out_of_the_mix_and_the_conversation_recording(
    tmp_path: Path,
) -> None:
    """record: true records every member; after ``PUT /v1/calls/{uuid}`` mute the muted
    party is absent from what the others hear and from the recording, and back after
    unmute; an earmuffed party hears no one and is still heard."""
    app = WebhookApp()
    app.route("/event", None)
    app.route("/conv-record", None)
    tones = {"pia": 500.0, "quinn": 700.0, "rex": 1100.0}
    async with trunkline_with_api(app, sip={"users": users(*tones)}) as (rt, rest):
        room = {
            "action": "conversation",
            "name": "board",
            "record": True,
            "eventUrl": [f"{app_base(rt)}/conv-record"],
        }
        async with parties(rt, tmp_path, tones) as group:
            for party in group.values():
                await call(rt, party, [room])
                everyone = await in_conversation(party)
            await hold(4.0)
            rex = group["rex"].leg
            assert rex is not None
            await rest.put_call(rex.uuid, {"action": "mute"})
            muted = rt.clock.now()
            assert rex.muted
            await hold(4.0)
            await rest.put_call(rex.uuid, {"action": "unmute"})
            unmuted = rt.clock.now()
            await hold(4.0)
            pia = group["pia"].leg
            assert pia is not None
            await rest.put_call(pia.uuid, {"action": "earmuff"})
            earmuffed = rt.clock.now()
            await hold(4.0)
            end = await hang_up_all(rt, group)
            (record,) = await app.wait_for("/conv-record", 1, timeout=20)
            body = record.json
            file_id = file_id_of(body["recording_url"])
            data = rt.files.read(file_id)
        # a wider margin: the phones' audio timing is only known to within a fraction of a
        # second under load (the call's start is when the test saw baresip's event)
        heard = {name: party.heard(margin=1.0) for name, party in group.items()}
    # what the others heard: rex's tone, not while muted, then again
    for name, other in (("pia", 700.0), ("quinn", 500.0)):
        h = heard[name]
        assert h.has(everyone, muted, 1100.0), h.shares(everyone, muted, 1100, other)
        assert h.lacks(muted, unmuted, 1100.0), h.shares(muted, unmuted, 1100, other)
        assert h.has(muted, unmuted, other)
        assert h.has(unmuted, earmuffed, 1100.0), h.shares(unmuted, earmuffed, 1100, other)
    # earmuffed, pia hears no one, and is still heard
    tail = heard["pia"].last(end - earmuffed - 1.0)
    rate = heard["pia"].rate
    assert share(tail, rate, 700.0) < 0.02 and share(tail, rate, 1100.0) < 0.02, (
        share(tail, rate, 700.0),
        share(tail, rate, 1100.0),
    )
    assert heard["quinn"].has(earmuffed, end, 500.0) and heard["rex"].has(earmuffed, end, 500.0)
    # rex still heard the others while muted
    assert heard["rex"].has(muted, unmuted, 500.0) and heard["rex"].has(muted, unmuted, 700.0)
    # the conversation recording: every member's audio, without rex while muted
    assert body["size"] == len(data) > 0
    assert body["conversation_uuid"] == rex.conversation_uuid
    assert body["conversation_uuid"].startswith("CON-")
    recording = Heard(decode(data), 16000, clock_time(body["start_time"]))
    length = clock_time(body["end_time"]) - recording.start
    assert abs(len(recording.samples) / 16000 - length) < 1.0, (len(recording.samples), length)
    every = tones.values()
    for hz in every:
        assert recording.has(everyone, muted, hz), recording.shares(everyone, muted, *every)
        assert recording.has(unmuted, end, hz), recording.shares(unmuted, end, *every)
    assert recording.has(muted, unmuted, 500.0) and recording.has(muted, unmuted, 700.0)
    assert recording.lacks(muted, unmuted, 1100.0), recording.shares(muted, unmuted, *every)


async def test_a_split_recording_holds_the_caller_left_and_the_other_party_right(
    tmp_path: Path,
) -> None:
    app = WebhookApp()
    app.route("/event", None)
    app.route("/record", None)
    tones = {"cust": 500.0, "agent": 700.0}
    sip = {"trunks": [], "users": users(*tones)}
    async with trunkline(app, sip=sip) as rt, parties(rt, tmp_path, tones) as group:
        cust, agent = group["cust"], group["agent"]
        ncco = [
            {
                "action": "record",
                "split": "conversation",
                "format": "wav",
                "eventUrl": [f"{app_base(rt)}/record"],
            },
            {"action": "connect", "endpoint": [{"type": "app", "user": "agent"}]},
        ]
        await call(rt, cust, ncco)
        await agent.phone.wait_event("CALL_ESTABLISHED", timeout=15)
        bridged = rt.clock.now()
        await hold(3.0)
        end = await hang_up_all(rt, {"cust": cust})
        await agent.phone.wait_event("CALL_CLOSED", timeout=15)
        (record,) = await app.wait_for("/record", 1, timeout=20)
        body = record.json
        data = rt.files.read(file_id_of(body["recording_url"]))
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getframerate()) == (2, 16000)
        stereo = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    start = clock_time(body["start_time"])
    left = Heard(stereo[:, 0].copy(), 16000, start)
    right = Heard(stereo[:, 1].copy(), 16000, start)
    assert left.has(bridged, end, 500.0) and left.lacks(bridged, end, 700.0), left.shares(
        bridged, end, 500, 700
    )
    assert right.has(bridged, end, 700.0) and right.lacks(bridged, end, 500.0), right.shares(
        bridged, end, 500, 700
    )


WHISPER = "Call from a gold customer, connecting you now."


async def test_connect_on_answer_whispers_to_the_callee_with_ringback_to_the_caller(
    tmp_path: Path, pcap_dir: Path
) -> None:
    """A phone endpoint through the trunk gateway (a sipp callee that speaks its capture):
    the onAnswer NCCO plays to it first, the caller hears the ringback tone meanwhile, then
    the two are bridged and the caller hears the callee's voice, not the tone."""
    app = WebhookApp()
    app.route("/event", None)
    app.route("/connect-event", None)
    app.route("/whisper", [{"action": "talk", "text": WHISPER}])
    ringback = tmp_path / "ringback.wav"
    write_wav(ringback, tone(MOH_HZ, 2.0, rate=16000, amplitude=12000), rate=16000)
    app.route("/ringback.wav", ringback.read_bytes())
    gateway_port = free_port()
    gateway = await start_sipp(
        "-sf",
        str(DATA / "door_callee_answers.xml"),
        "-i",
        "127.0.0.1",
        "-p",
        str(gateway_port),
        "-mi",
        "127.0.0.1",
        "-m",
        "1",
        "-timeout",
        "40",
        cwd=pcap_dir,
    )
    trunk = {"name": "carrier", "gateway": "127.0.0.1", "gateway_port": gateway_port}
    try:
        async with trunkline(app, sip={"trunks": [trunk], "users": users("cust")}) as rt:
            base = app_base(rt)
            async with parties(rt, tmp_path, {"cust": 500.0}) as group:
                cust = group["cust"]
                ncco = [
                    {
                        "action": "connect",
                        "eventUrl": [f"{base}/connect-event"],
                        "endpoint": [
                            {
                                "type": "phone",
                                "number": "14155550100",
                                "onAnswer": {
                                    "url": f"{base}/whisper",
                                    "ringbackTone": f"{base}/ringback.wav",
                                },
                            }
                        ],
                    }
                ]
                leg = await call(rt, cust, ncco)
                await until(lambda: bool(leg.bridged), timeout=20)
                bridged = rt.clock.now()
                await hold(3.0)
                end = await hang_up_all(rt, {"cust": cust})
                await wait_status(app, "/connect-event", "completed")
                timeline = rt.store.timeline()
            heard = cust.heard()
        async with asyncio.timeout(10):
            assert await gateway.wait() == 0
    finally:
        await stop_process(gateway)
    (whisper,) = app.requests_to("/whisper")
    callee_uuid = whisper.query["uuid"]
    assert whisper.query["to"] == "14155550100"
    answered = next(
        r.json for r in app.requests_to("/connect-event") if r.json.get("status") == "answered"
    )
    assert answered["uuid"] == callee_uuid
    talk = next(
        e for e in timeline if e.call_uuid == callee_uuid and e.data.get("action") == "talk"
    )
    finished = next(
        e for e in timeline if e.call_uuid == callee_uuid and e.summary == "NCCO finished"
    )
    # the whisper was spoken in full before the bridge (espeak: well over a second)
    assert finished.t - talk.t > 1.5
    assert talk.t < finished.t <= bridged
    # the caller heard the ringback tone while the callee heard the whisper, and then the
    # callee's voice (speech: some of it near 400 Hz too), never the steady tone again
    assert heard.has(talk.t, finished.t, MOH_HZ), heard.shares(talk.t, finished.t, MOH_HZ)
    during = [share(w, 8000, MOH_HZ) for w in quarters(heard.window(talk.t, finished.t))]
    assert min(during) > 0.9, during
    after = [share(w, 8000, MOH_HZ) for w in quarters(heard.window(bridged, end))]
    assert max(after) < 0.5, after
    after = heard.window(bridged, end).astype(np.float64)
    assert np.sqrt(np.mean(after**2)) > 100  # the callee's speech, not silence


def speech_share(samples: npt.NDArray[np.int16], rate: int, tones: list[float]) -> float:
    """The share of the power (above 50 Hz) that is not within 25 Hz of ``tones``: speech."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    hz = np.fft.rfftfreq(len(samples), 1 / rate)
    keep = hz > 50
    total = spectrum[keep].sum()
    for f in tones:
        keep &= np.abs(hz - f) >= 25
    return float(spectrum[keep].sum() / total) if total else 0.0


async def test_a_trunk_caller_speaks_into_a_recorded_conversation_of_softphones(
    tmp_path: Path, pcap_dir: Path
) -> None:
    """Three legs: two softphones (tones) and a sipp caller on the trunk that speaks sipp's
    speech capture. The softphones hear the speech while the caller is in, and the
    conversation recording holds the two tones throughout and the speech in its time."""
    app = WebhookApp()
    app.route("/event", None)
    app.route("/conv-record", None)
    tones = {"uma": 500.0, "vic": 700.0}
    async with trunkline(app, sip={"users": users(*tones)}) as rt:
        room = [
            {
                "action": "conversation",
                "name": "town-hall",
                "record": True,
                "eventUrl": [f"{app_base(rt)}/conv-record"],
            }
        ]
        app.route("/answer", room)
        # quiet tones, so that the speech stands out of their spectrum
        async with parties(rt, tmp_path, tones, amplitude=1500) as group:
            for party in group.values():
                await call(rt, party, room)
                await in_conversation(party)
            code, out = await run_sipp(
                "-sf",
                str(DATA / "door_caller_speaks.xml"),
                "-s",
                NUMBER,
                "-i",
                "127.0.0.1",
                "-p",
                str(free_port()),
                "-mi",
                "127.0.0.1",
                "-m",
                "1",
                "-timeout",
                "30",
                f"127.0.0.1:{sip_port(rt)}",
                cwd=pcap_dir,
            )
            assert code == 0, out[-2000:]
            await wait_status(app, "/event", "completed")
            caller = app.requests_to("/answer")[0].query["uuid"]
            timeline = rt.store.timeline(call_uuid=caller)
            await hold(2.0)
            end = await hang_up_all(rt, group)
            (record,) = await app.wait_for("/conv-record", 1, timeout=20)
            body = record.json
            data = rt.files.read(file_id_of(body["recording_url"]))
        heard = {name: party.heard() for name, party in group.items()}
    joined = next(e.t for e in timeline if e.kind == "conversation")
    left = next(e.t for e in timeline if e.kind == "leg" and e.summary.endswith("completed"))
    # sipp speaks its ~6.8 s capture from 1 s after the answer
    speaking = (joined + 1.0, min(left, joined + 7.5))
    recording = Heard(decode(data), 16000, clock_time(body["start_time"]))
    every = list(tones.values())
    for name, h in heard.items():
        other = tones["vic" if name == "uma" else "uma"]
        during = speech_share(h.window(*speaking), h.rate, every)
        after = speech_share(h.window(left, end), h.rate, every)
        assert during > 0.25 and after < 0.05, (name, during, after)
        assert h.has(left, end, other) and h.lacks(left, end, tones[name])
    during = speech_share(recording.window(*speaking), 16000, every)
    after = speech_share(recording.window(left, end), 16000, every)
    assert during > 0.2 and after < 0.05, (during, after)
    for hz in every:
        assert recording.has(*speaking, hz) and recording.has(left, end, hz)
