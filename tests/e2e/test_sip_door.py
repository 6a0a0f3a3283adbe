"""The SIP door end to end: real SIP peers (sipp, baresip), real RTP, a real webhook app.

trunkline runs as ``trunkline serve`` does (a :class:`Runtime` with ``[sip]`` on, on
loopback); the application is a real HTTP app on 127.0.0.1; callers and callees are sipp
scenarios (tests/e2e/data/sipp/door_*.xml) and baresip softphones. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from peers import (
    SIPP_PCAPS,
    Baresip,
    active_seconds,
    baresip,
    free_port,
    read_wav,
    run_sipp,
    start_sipp,
    stop_process,
    write_ulaw_wav,
    write_wav,
)

from trunkline.call.runtime import Runtime
from trunkline.config import parse_config
from trunkline.files import file_id_of
from trunkline.media.tts import AsyncTts, EspeakEngine
from trunkline.testing.server import ServedApp
from trunkline.testing.webapp import RecordedRequest, WebhookApp

DATA = Path(__file__).parent / "data" / "sipp"
NUMBER = "447700900000"


def statuses(app: WebhookApp, path: str = "/event") -> list[str]:
    return [r.json["status"] for r in app.requests_to(path) if "status" in (r.json or {})]


async def wait_status(
    app: WebhookApp, path: str, status: str, count: int = 1, timeout: float = 10.0
) -> None:
    """Wait (bounded) until ``path`` has received ``count`` events with ``status``."""
    seen = 0
    for _ in range(100):
        seen = statuses(app, path).count(status)
        if seen >= count:
            return
        await app.wait_for(path, len(app.requests_to(path)) + 1, timeout=timeout)
    raise AssertionError(f"{path}: {seen} {status} event(s), wanted {count}")


@contextlib.asynccontextmanager
async def trunkline(
    app: WebhookApp, *, sip: dict[str, Any] | None = None
) -> AsyncIterator[Runtime]:
    async with ServedApp(app.asgi()) as web:
        low = free_port() // 2 * 2
        settings: dict[str, Any] = {
            "enabled": True,
            "port": 0,
            "rtp_ports": [30000, 40000] if low < 30000 or low > 39000 else [low, low + 1000],
            "trunks": [{"name": "carrier", "sources": ["127.0.0.1"]}],
        }
        settings.update(sip or {})
        cfg = parse_config(
            {
                "server": {"port": 0, "database": "memory:"},
                "sip": settings,
                "applications": [
                    {
                        "name": "ivr",
                        "answer_url": f"{web.url}/answer",
                        "event_url": f"{web.url}/event",
                        "numbers": [NUMBER],
                    }
                ],
            }
        )
        async with Runtime(cfg) as rt:
            yield rt


def sip_port(rt: Runtime) -> int:
    address = rt.doors.sip_address
    assert address is not None
    return address[1]


async def registered(rt: Runtime, user: str) -> None:
    """Wait (bounded) until ``user``'s softphone has registered. baresip registers as it
    starts, before its control socket is up, so the registrar is watched, not baresip."""
    door = rt.doors.sip
    assert door is not None and door.registrar is not None
    async with asyncio.timeout(10):
        while door.registrar.binding(user, rt.clock.now()) is None:
            await asyncio.sleep(0.05)


async def sipp_calls_in(rt: Runtime, scenario: str, pcap_dir: Path, *, timeout: int = 20) -> None:
    """One call from a sipp caller (``tests/e2e/data/sipp/{scenario}``) to NUMBER, to the end
    of its scenario; the test fails with sipp's screen if the scenario does."""
    code, out = await run_sipp(
        "-sf", str(DATA / scenario),
        "-s", NUMBER,
        "-i", "127.0.0.1",
        "-p", str(free_port()),
        "-mi", "127.0.0.1",
        "-m", "1",
        "-timeout", str(timeout),
        f"127.0.0.1:{sip_port(rt)}",
        cwd=pcap_dir,
    )  # fmt: skip
    assert code == 0, out[-2000:]


@pytest.fixture
def pcap_dir(tmp_path: Path) -> Path:
    """A working directory for sipp whose ``pcap/`` holds sipp's own RTP captures."""
    (tmp_path / "pcap").symlink_to(SIPP_PCAPS)
    return tmp_path


def app_base(rt: Runtime) -> str:
    """The webhook app's base URL (where the configured answer_url lives)."""
    hook = rt.config.applications[0].answer_url
    assert hook is not None
    return hook.address.removesuffix("/answer")


async def test_a_trunk_caller_hears_a_menu_and_presses_1(pcap_dir: Path) -> None:
    app = WebhookApp()
    app.route("/event", None)
    async with trunkline(app) as rt:
        app.route(
            "/answer",
            [
                {"action": "talk", "text": "Press 1 for sales.", "bargeIn": True},
                {
                    "action": "input",
                    "type": ["dtmf"],
                    "dtmf": {"maxDigits": 1, "timeOut": 5},
                    "eventUrl": [f"{app_base(rt)}/input"],
                },
            ],
        )
        app.route("/input", [{"action": "talk", "text": "Sales. Please hold.", "loop": 0}])
        await sipp_calls_in(rt, "door_caller_dtmf.xml", pcap_dir, timeout=20)
        inputs = await app.wait_for("/input", 1, timeout=10)
        body = inputs[0].json
        assert body["dtmf"]["digits"] == "1", body
        answer = app.requests_to("/answer")[0]
        assert answer.query["to"] == NUMBER
        assert answer.query["from"] == "447700900100"
        await wait_status(app, "/event", "completed")
        assert statuses(app) == ["started", "ringing", "answered", "completed"]
        completed = app.requests_to("/event")[-1].json
        assert completed["disconnected_by"] == "user"


async def test_unknown_numbers_get_404_and_unknown_sources_are_refused() -> None:
    app = WebhookApp()
    async with trunkline(app) as rt:
        port = sip_port(rt)
        assert await invite_status("127.0.0.1", port, "447700999999") == 404
        # 127.0.0.2 is no trunk's and not a user: refused before any webhook
        assert await invite_status("127.0.0.2", port, NUMBER) == 403
        assert app.requests_to("/answer") == []


async def test_callers_that_are_no_trunk_are_challenged_when_users_exist() -> None:
    app = WebhookApp()
    sip = {"users": [{"username": "alice", "password": "correct-horse", "application": "ivr"}]}
    async with trunkline(app, sip=sip) as rt:
        status = await invite_status("127.0.0.2", sip_port(rt), NUMBER)
        assert status == 401
        assert app.requests_to("/answer") == []


async def invite_status(source: str, port: int, number: str) -> int:
    """Send one INVITE from ``source`` and return the first final status it gets."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.setblocking(False)
    local = sock.getsockname()[1]
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
    invite = (
        f"INVITE sip:{number}@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {source}:{local};branch=z9hG4bK-{local}-door;rport\r\n"
        f"From: <sip:447700900100@{source}>;tag=t{local}\r\n"
        f"To: <sip:{number}@127.0.0.1>\r\n"
        f"Call-ID: door-{local}@{source}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:caller@{source}:{local}>\r\n"
        "Max-Forwards: 70\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(sdp)}\r\n\r\n{sdp}"
    )
    try:
        await loop.sock_sendto(sock, invite.encode(), ("127.0.0.1", port))
        async with asyncio.timeout(5):
            while True:
                data = await loop.sock_recv(sock, 65535)
                status = int(data.split(b" ", 2)[1])
                if status >= 200:
                    return status
    finally:
        sock.close()


async def test_connect_to_a_busy_callee_falls_back_to_one_that_answers(pcap_dir: Path) -> None:
    """Seed 000's call centre over SIP: busy agent → synchronous event → next agent."""
    app = WebhookApp()
    busy_port, agent_port = free_port(), free_port()
    busy = await start_sipp(
        "-sf",
        str(DATA / "door_callee_busy.xml"),
        "-i",
        "127.0.0.1",
        "-p",
        str(busy_port),
        "-m",
        "1",
        "-timeout",
        "30",
        cwd=pcap_dir,
    )
    agent = await start_sipp(
        "-sf",
        str(DATA / "door_callee_answers.xml"),
        "-i",
        "127.0.0.1",
        "-p",
        str(agent_port),
        "-mi",
        "127.0.0.1",
        "-m",
        "1",
        "-timeout",
        "30",
        cwd=pcap_dir,
    )
    try:
        async with trunkline(app) as rt:
            base = app_base(rt)
            app.route(
                "/answer",
                [
                    {"action": "talk", "text": "Connecting you."},
                    {
                        "action": "connect",
                        "eventType": "synchronous",
                        "eventUrl": [f"{base}/connect-event"],
                        "timeout": 10,
                        "endpoint": [{"type": "sip", "uri": f"sip:agent1@127.0.0.1:{busy_port}"}],
                    },
                ],
            )

            def connect_event(req: RecordedRequest) -> Any:
                if req.json.get("status") == "busy":
                    return [
                        {
                            "action": "connect",
                            "endpoint": [
                                {"type": "sip", "uri": f"sip:agent2@127.0.0.1:{agent_port}"}
                            ],
                        }
                    ]
                return None

            app.route("/connect-event", connect_event)
            app.route("/event", None)
            await sipp_calls_in(rt, "door_caller_dtmf.xml", pcap_dir, timeout=25)
            await wait_status(app, "/connect-event", "busy")
            # the caller's and the second agent's legs end (the caller hangs up)
            await wait_status(app, "/event", "completed", 2)
            assert statuses(app).count("answered") == 2, statuses(app)
            # the first agent's leg reported on the connect's eventUrl: busy, never answered
            assert statuses(app, "/connect-event") == ["started", "ringing", "busy"]
        async with asyncio.timeout(10):
            assert await agent.wait() == 0
            assert await busy.wait() == 0
    finally:
        await stop_process(busy)
        await stop_process(agent)


async def wait_action(rt: Runtime, action: str, timeout: float = 20.0) -> None:
    """Wait (bounded) until some leg's NCCO starts ``action`` (the call's timeline)."""
    async with asyncio.timeout(timeout):
        while not any(
            e.kind == "action" and e.data.get("action") == action for e in rt.store.timeline()
        ):
            await asyncio.sleep(0.05)  # the timeline is written as the call runs


def speech(text: str, seconds: float) -> npt.NDArray[np.int16]:
    """``text`` spoken by espeak-ng at 8 kHz, repeated with pauses to ``seconds``."""
    said = EspeakEngine().synthesize(text, language="en-US", style=0, ssml=False, sample_rate=8000)
    pause = np.zeros(4000, np.int16)
    parts: list[npt.NDArray[np.int16]] = []
    while sum(len(p) for p in parts) < seconds * 8000:
        parts += [said, pause]
    return np.concatenate(parts)[: int(seconds * 8000)]


WELCOME = "Welcome to trunkline. Please enter your account number."
LEAVE = "Thank you. Please leave a message after the tone."


async def test_a_softphone_registers_calls_in_hears_the_menu_keys_digits_and_is_recorded(
    tmp_path: Path,
) -> None:
    app = WebhookApp()
    app.route("/event", None)
    users = [{"username": "alice", "password": "correct-horse", "application": "ivr"}]
    async with trunkline(app, sip={"trunks": [], "users": users}) as rt:
        base = app_base(rt)
        app.route(
            "/answer",
            [
                {"action": "talk", "text": WELCOME},
                {
                    "action": "input",
                    "type": ["dtmf"],
                    "dtmf": {"maxDigits": 2, "timeOut": 10},
                    "eventUrl": [f"{base}/input"],
                },
            ],
        )
        app.route(
            "/input",
            [
                {"action": "talk", "text": LEAVE},
                {
                    "action": "record",
                    "endOnKey": "#",
                    "beepStart": True,
                    "format": "wav",
                    "eventUrl": [f"{base}/record"],
                },
                {"action": "talk", "text": "Goodbye."},
            ],
        )
        port = sip_port(rt)
        source = write_wav(tmp_path / "caller.wav", speech("I am calling about my order.", 60))
        account = (
            f"<sip:alice@127.0.0.1:{port}>;auth_pass=correct-horse;regint=600;"
            "audio_codecs=PCMU,PCMA"
        )
        async with baresip(tmp_path / "alice", account=account, source=source) as phone:
            await registered(rt, "alice")
            await phone.command("dial", f"sip:{NUMBER}@127.0.0.1:{port}")
            await phone.wait_event("CALL_ESTABLISHED")
            await wait_action(rt, "input")  # the welcome has been played in full
            await phone.command("sndcode", "4")
            await phone.command("sndcode", "2")
            inputs = await app.wait_for("/input", 1, timeout=10)
            assert inputs[0].json["dtmf"]["digits"] == "42"
            await wait_action(rt, "record")
            await asyncio.sleep(3)  # the caller speaks for three seconds
            await phone.command("sndcode", "#")
            records = await app.wait_for("/record", 1, timeout=10)
            await phone.wait_event("CALL_CLOSED", timeout=15)  # "Goodbye", then trunkline hangs up
            file_id = file_id_of(records[0].json["recording_url"])
            (tmp_path / "message.wav").write_bytes(rt.files.read(file_id))
        heard, rate = read_wav(_dump(phone, "dec"))
    record = records[0].json
    answer = app.requests_to("/answer")[0].query
    assert answer["from"] == "alice" and answer["to"] == NUMBER
    # what the softphone heard: the two prompts, as speech, not silence
    spoken = active_seconds(heard, rate)
    tts = AsyncTts()
    expected = 0.0
    for text in (WELCOME, LEAVE):
        expected += len(await tts.render(text, sample_rate=8000)) / 8000
    assert spoken >= 0.6 * expected, (spoken, expected)
    # the recording holds about three seconds, with the caller's voice in it
    assert 2.0 <= record_seconds(record) <= 6.0, record
    message, message_rate = read_wav(tmp_path / "message.wav")
    assert record["size"] == (tmp_path / "message.wav").stat().st_size
    assert 2.0 <= len(message) / message_rate <= 6.0
    # the caller spoke through most of it (the beep and their voice, not silence)
    assert active_seconds(message, message_rate) >= 1.0


def _dump(phone: Baresip, which: str) -> Path:
    path = phone.dump(which)
    assert path is not None, f"baresip wrote no {which} dump"
    return path


def record_seconds(record: dict[str, Any]) -> float:
    start = dt.datetime.fromisoformat(record["start_time"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(record["end_time"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


async def test_connect_to_a_registered_softphone_bridges_real_audio(
    tmp_path: Path, pcap_dir: Path
) -> None:
    """A trunk caller's NCCO connects to app user bob (baresip, registered, auto-answer):
    bob hears the caller's voice through trunkline's media path, and the key the caller
    presses (RFC 4733) is relayed to him."""
    app = WebhookApp()
    app.route("/event", None)
    users = [{"username": "bob", "password": "correct-horse", "application": "ivr"}]
    async with trunkline(app, sip={"users": users}) as rt:
        app.route(
            "/answer",
            [{"action": "connect", "endpoint": [{"type": "app", "user": "bob"}]}],
        )
        port = sip_port(rt)
        source = write_wav(tmp_path / "bob.wav", speech("Hello, this is Bob.", 60))
        account = (
            f"<sip:bob@127.0.0.1:{port}>;auth_pass=correct-horse;regint=600;audio_codecs=PCMU,PCMA"
        )
        async with baresip(tmp_path / "bob", account=account, source=source, answer=True) as bob:
            await registered(rt, "bob")
            await sipp_calls_in(rt, "door_caller_speaks_keys.xml", pcap_dir, timeout=30)
            seen: list[dict[str, Any]] = []
            await bob.wait_event("CALL_CLOSED", timeout=15, seen=seen)
            keys = [e for e in seen if e.get("type") == "CALL_DTMF_START"]
            await wait_status(app, "/event", "completed", 2)
        heard, rate = read_wav(_dump(bob, "dec"))
    # sipp's capture holds about 6.8 s of speech; bob heard most of it
    assert active_seconds(heard, rate) >= 3.0
    answered = [r.json for r in app.requests_to("/event") if r.json.get("status") == "answered"]
    assert {a["to"] for a in answered} == {NUMBER, "bob"}
    assert [k["param"] for k in keys] == ["1"]


async def test_an_api_call_to_a_sip_uri_detects_an_answering_machine(pcap_dir: Path) -> None:
    """POST /v1/calls with machine_detection to a SIP URI: the callee (sipp) answers with a
    long greeting (its speech capture), so the machine event is sent and the call goes on."""
    from trunkline.engine.switch import CallOptions
    from trunkline.ncco import parse_ncco

    app = WebhookApp()
    app.route("/event", None)
    callee_port = free_port()
    callee = await start_sipp(
        "-sf",
        str(DATA / "door_callee_answers.xml"),
        "-i",
        "127.0.0.1",
        "-p",
        str(callee_port),
        "-mi",
        "127.0.0.1",
        "-m",
        "1",
        "-timeout",
        "30",
        cwd=pcap_dir,
    )
    try:
        async with trunkline(app) as rt:
            application = rt.store.get_application(rt.config.applications[0].id)
            leg = rt.platform.switch.create_call(
                application,
                CallOptions(
                    to={"type": "sip", "uri": f"sip:voicemail@127.0.0.1:{callee_port}"},
                    from_={"type": "phone", "number": NUMBER},
                    ncco=parse_ncco(
                        [{"action": "talk", "text": "Hello from trunkline.", "loop": 0}]
                    ).actions,
                    machine_detection="continue",
                ),
            )
            await wait_status(app, "/event", "machine")
            machine = next(
                r.json for r in app.requests_to("/event") if r.json["status"] == "machine"
            )
            assert machine["call_uuid"] == leg.uuid
            assert leg.alive  # "continue": the call goes on
            rt.platform.switch.hangup(leg.uuid)
            await wait_status(app, "/event", "completed")
        async with asyncio.timeout(10):
            assert await callee.wait() == 0
    finally:
        await stop_process(callee)
    assert statuses(app)[:3] == ["started", "ringing", "answered"]


async def test_a_caller_puts_trunkline_on_hold_and_back(pcap_dir: Path) -> None:
    """re-INVITE with a=sendonly is answered recvonly (and trunkline stops sending); with
    a=sendrecv, sendrecv again. sipp checks the answers' directions."""
    app = WebhookApp()
    app.route("/event", None)
    app.route("/answer", [{"action": "talk", "text": "Please hold the line.", "loop": 0}])
    async with trunkline(app) as rt:
        await sipp_calls_in(rt, "door_caller_holds.xml", pcap_dir, timeout=20)
        await wait_status(app, "/event", "completed")
        notes = [e.summary for e in rt.store.timeline() if e.kind == "sip"]
    assert "on hold" in notes and "off hold" in notes


async def test_phone_calls_go_out_through_the_trunk_with_an_allowed_caller_id(
    pcap_dir: Path,
) -> None:
    from trunkline.engine.switch import CallOptions
    from trunkline.ncco import parse_ncco

    app = WebhookApp()
    app.route("/event", None)
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
        "30",
        cwd=pcap_dir,
    )
    trunk = {
        "name": "carrier",
        "gateway": "127.0.0.1",
        "gateway_port": gateway_port,
        "prefix": "+",
    }
    try:
        async with trunkline(app, sip={"trunks": [trunk]}) as rt:
            switch = rt.platform.switch
            application = rt.store.get_application(rt.config.applications[0].id)
            talk = parse_ncco([{"action": "talk", "text": "Your order has shipped."}]).actions
            # a caller ID that is not one of ours, and no trunk default: refused, not dialled
            refused = switch.create_call(
                application,
                CallOptions(
                    to={"type": "phone", "number": "14155550100"},
                    from_={"type": "phone", "number": "14155550199"},
                    ncco=talk,
                ),
            )
            await wait_status(app, "/event", "failed")
            failed = next(r.json for r in app.requests_to("/event") if r.json["status"] == "failed")
            assert failed["uuid"] == refused.uuid
            # our own number as the caller ID: out through the gateway, with the prefix
            leg = switch.create_call(
                application,
                CallOptions(
                    to={"type": "phone", "number": "14155550100"},
                    from_={"type": "phone", "number": NUMBER},
                    ncco=talk,
                ),
            )
            await wait_status(app, "/event", "completed")
            lines = [e.summary for e in rt.store.timeline(call_uuid=leg.uuid) if e.kind == "sip"]
        async with asyncio.timeout(10):
            assert await gateway.wait() == 0
    finally:
        await stop_process(gateway)
    invite = f"INVITE sip:+14155550100@127.0.0.1:{gateway_port} from sip:{NUMBER}@"
    assert any(line.startswith(invite) for line in lines), lines
    answered = [r.json for r in app.requests_to("/event") if r.json["status"] == "answered"]
    assert [a["uuid"] for a in answered] == [leg.uuid]


def tone(freq: float, seconds: float, rate: int = 16000) -> npt.NDArray[np.int16]:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * 12000).astype(np.int16)


def dominant_hz(samples: npt.NDArray[np.int16], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    spectrum[:5] = 0
    return float(np.argmax(spectrum) * rate / len(samples))


async def test_a_streamed_wav_reaches_a_softphone_and_api_dtmf_is_sent_as_rfc4733(
    tmp_path: Path,
) -> None:
    """POST /v1/calls to a registered softphone with a stream NCCO (a 16 kHz WAV of 700 Hz from
    the app's server): the phone hears 700 Hz at 8 kHz; PUT .../dtmf keys reach it as events."""
    from trunkline.engine.switch import CallOptions
    from trunkline.ncco import parse_ncco

    app = WebhookApp()
    app.route("/event", None)
    wav = tmp_path / "tone.wav"
    write_wav(wav, tone(700, 3.0), rate=16000)
    app.route("/tone.wav", wav.read_bytes())
    users = [{"username": "carol", "password": "correct-horse", "application": "ivr"}]
    async with trunkline(app, sip={"trunks": [], "users": users}) as rt:
        port = sip_port(rt)
        source = write_wav(tmp_path / "quiet.wav", np.zeros(60 * 8000, np.int16))
        account = (
            f"<sip:carol@127.0.0.1:{port}>;auth_pass=correct-horse;regint=600;"
            "audio_codecs=PCMU,PCMA"
        )
        async with baresip(
            tmp_path / "carol", account=account, source=source, answer=True
        ) as carol:
            await registered(rt, "carol")
            application = rt.store.get_application(rt.config.applications[0].id)
            stream = [{"action": "stream", "streamUrl": [f"{app_base(rt)}/tone.wav"], "loop": 0}]
            leg = rt.platform.switch.create_call(
                application,
                CallOptions(
                    to={"type": "app", "user": "carol"},
                    from_={"type": "phone", "number": NUMBER},
                    ncco=parse_ncco(stream).actions,
                ),
            )
            await carol.wait_event("CALL_ESTABLISHED")
            await asyncio.sleep(1.5)  # the phone listens to the stream for a while
            rt.platform.switch.send_dtmf(leg.uuid, "1#")
            first = await carol.wait_event("CALL_DTMF_START")
            second = await carol.wait_event("CALL_DTMF_START")
            await asyncio.sleep(1.0)
            rt.platform.switch.hangup(leg.uuid)
            await carol.wait_event("CALL_CLOSED")
        heard, rate = read_wav(_dump(carol, "dec"))
    assert [first["param"], second["param"]] == ["1", "#"]
    loud = heard[np.abs(heard) > 1000]
    assert len(loud) > rate  # more than a second of the tone
    assert abs(dominant_hz(heard, rate) - 700) < 10


async def test_a_recording_ends_on_the_callers_silence(tmp_path: Path) -> None:
    """record with endOnSilence on real audio: the caller speaks for about 4 s, then is
    silent; the recording stops about 3 s into the silence (voice activity, webrtcvad)."""
    app = WebhookApp()
    app.route("/event", None)
    users = [{"username": "dave", "password": "correct-horse", "application": "ivr"}]
    async with trunkline(app, sip={"trunks": [], "users": users}) as rt:
        app.route(
            "/answer",
            [
                {
                    "action": "record",
                    "endOnSilence": 3,
                    "timeOut": 25,
                    "format": "wav",
                    "eventUrl": [f"{app_base(rt)}/record"],
                },
                {"action": "talk", "text": "Thank you."},
            ],
        )
        port = sip_port(rt)
        voice = speech("I would like to report a fault on my line.", 4.0)
        source = write_wav(
            tmp_path / "dave.wav", np.concatenate([voice, np.zeros(26 * 8000, np.int16)])
        )
        account = (
            f"<sip:dave@127.0.0.1:{port}>;auth_pass=correct-horse;regint=600;audio_codecs=PCMU,PCMA"
        )
        async with baresip(tmp_path / "dave", account=account, source=source) as dave:
            await registered(rt, "dave")
            await dave.command("dial", f"sip:{NUMBER}@127.0.0.1:{port}")
            records = await app.wait_for("/record", 1, timeout=20)
            await dave.wait_event("CALL_CLOSED", timeout=15)
    seconds = record_seconds(records[0].json)
    assert 5.0 <= seconds <= 10.0, seconds


async def test_detect_beep_holds_the_message_until_a_real_voicemail_beep(
    pcap_dir: Path,
) -> None:
    """advanced_machine_detection detect_beep to a SIP voicemail (sipp streaming an espeak-ng
    greeting, then a 1 kHz beep): one machine event with sub_state beep_start, about when
    the beep sounds, and the message starts after it."""
    from trunkline.engine.switch import CallOptions
    from trunkline.ncco import parse_ncco

    greeting = speech("Hi, you have reached Sam. Please leave a message after the tone.", 6.0)
    t = np.arange(4000) / 8000
    beep = (np.sin(2 * np.pi * 1000 * t) * 12000).astype(np.int16)
    write_ulaw_wav(
        pcap_dir / "greeting.ulaw.wav",
        np.concatenate([greeting, np.zeros(2000, np.int16), beep, np.zeros(10 * 8000, np.int16)]),
    )
    beep_at = (len(greeting) + 2000) / 8000
    app = WebhookApp()
    app.route("/event", None)
    callee_port = free_port()
    callee = await start_sipp(
        "-sf",
        str(DATA / "door_callee_voicemail.xml"),
        "-i",
        "127.0.0.1",
        "-p",
        str(callee_port),
        "-mi",
        "127.0.0.1",
        "-mp",
        "41000",
        "-m",
        "1",
        "-timeout",
        "40",
        cwd=pcap_dir,
    )
    try:
        async with trunkline(app) as rt:
            application = rt.store.get_application(rt.config.applications[0].id)
            message = [{"action": "talk", "text": "This is your pharmacy.", "loop": 0}]
            leg = rt.platform.switch.create_call(
                application,
                CallOptions(
                    to={"type": "sip", "uri": f"sip:sam@127.0.0.1:{callee_port}"},
                    from_={"type": "phone", "number": NUMBER},
                    ncco=parse_ncco(message).actions,
                    machine_detection="continue",
                    amd_mode="detect_beep",
                ),
            )
            await wait_status(app, "/event", "machine", timeout=20)
            events = [r.json for r in app.requests_to("/event")]
            answered = next(e for e in events if e["status"] == "answered")
            machine = [e for e in events if e["status"] == "machine"]
            actions = [
                e.t
                for e in rt.store.timeline(call_uuid=leg.uuid)
                if e.kind == "action" and e.data.get("action") == "talk"
            ]
            rt.platform.switch.hangup(leg.uuid)
            await wait_status(app, "/event", "completed")
        async with asyncio.timeout(10):
            await callee.wait()
    finally:
        await stop_process(callee)
    assert [e.get("sub_state") for e in machine] == ["beep_start"]
    heard_beep = iso_seconds(machine[0]["timestamp"]) - iso_seconds(answered["timestamp"])
    assert beep_at - 0.5 <= heard_beep <= beep_at + 1.5, (heard_beep, beep_at)
    # the message (the NCCO's talk) started only once the beep was heard
    assert actions and actions[0] >= iso_seconds(machine[0]["timestamp"]) - 0.01


def iso_seconds(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize(("password", "answered"), [("gw-secret", True), ("wrong", False)])
async def test_an_outbound_trunk_that_challenges_gets_the_trunks_credentials(
    pcap_dir: Path, password: str, answered: bool
) -> None:
    """The gateway (sipp) answers 401; trunkline sends the INVITE again with digest
    credentials, which sipp verifies: right ones are answered, wrong ones refused (403)."""
    from trunkline.engine.switch import CallOptions
    from trunkline.ncco import parse_ncco

    app = WebhookApp()
    app.route("/event", None)
    gateway_port = free_port()
    gateway = await start_sipp(
        "-sf",
        str(DATA / "door_gateway_challenges.xml"),
        "-i",
        "127.0.0.1",
        "-p",
        str(gateway_port),
        "-mi",
        "127.0.0.1",
        "-m",
        "1",
        "-timeout",
        "30",
        cwd=pcap_dir,
    )
    trunk = {
        "name": "carrier",
        "gateway": "127.0.0.1",
        "gateway_port": gateway_port,
        "username": "acct-77",
        "password": password,
    }
    try:
        async with trunkline(app, sip={"trunks": [trunk]}) as rt:
            application = rt.store.get_application(rt.config.applications[0].id)
            talk = [{"action": "talk", "text": "Your parcel arrives today."}]
            rt.platform.switch.create_call(
                application,
                CallOptions(
                    to={"type": "phone", "number": "14155550100"},
                    from_={"type": "phone", "number": NUMBER},
                    ncco=parse_ncco(talk).actions,
                ),
            )
            await wait_status(app, "/event", "completed" if answered else "failed")
        async with asyncio.timeout(10):
            await gateway.wait()
    finally:
        await stop_process(gateway)
    assert ("answered" in statuses(app)) is answered, statuses(app)


def _request(source: str, local: int, port: int, method: str, cseq: int, extra: str = "") -> str:
    return (
        f"{method} sip:{NUMBER}@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {source}:{local};branch=z9hG4bK-{local}-{cseq};rport\r\n"
        f"From: <sip:mallory@{source}>;tag=t{local}\r\n"
        f"To: <sip:{NUMBER}@127.0.0.1>\r\n"
        f"Call-ID: guard-{local}-{cseq}@{source}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Contact: <sip:mallory@{source}:{local}>\r\n"
        f"{extra}"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )


async def _exchange(sock: socket.socket, text: str, port: int, wait: float = 2.0) -> bytes | None:
    """Send ``text``; the first final response, or None if nothing comes within ``wait``."""
    loop = asyncio.get_running_loop()
    call_id = next(line for line in text.split("\r\n") if line.startswith("Call-ID:")).encode()
    await loop.sock_sendto(sock, text.encode(), ("127.0.0.1", port))
    try:
        async with asyncio.timeout(wait):
            while True:
                data = await loop.sock_recv(sock, 65535)
                # skip retransmissions of earlier answers (nobody ACKs them here)
                if call_id in data and int(data.split(b" ", 2)[1]) >= 200:
                    return data
    except TimeoutError:
        return None


async def test_repeated_wrong_passwords_and_scanners_get_no_answer_at_all() -> None:
    """After max_auth_failures wrong passwords a source is ignored (even its OPTIONS); a
    scanner's User-Agent is ignored from the start; trunks and other sources are served."""
    from trunkline.sip.auth import DigestAuth, parse_challenge
    from trunkline.sip.message import Request, parse_datagram

    app = WebhookApp()
    users = [{"username": "alice", "password": "correct-horse", "application": "ivr"}]
    sip = {"users": users, "max_auth_failures": 3}
    async with trunkline(app, sip=sip) as rt:
        port = sip_port(rt)
        attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        attacker.bind(("127.0.0.2", 0))
        attacker.setblocking(False)
        local = attacker.getsockname()[1]
        client = DigestAuth("alice", "guess", cnonce=lambda: "c0ffee", branch=lambda: "b")
        statuses_seen = []
        try:
            for attempt in range(3):
                first = _request("127.0.0.2", local, port, "INVITE", 10 * attempt + 1)
                challenge_reply = await _exchange(attacker, first, port)
                assert challenge_reply is not None and b" 401 " in challenge_reply[:16]
                header = next(
                    line.split(b":", 1)[1].strip().decode()
                    for line in challenge_reply.split(b"\r\n")
                    if line.lower().startswith(b"www-authenticate:")
                )
                challenge = parse_challenge(header)
                request = parse_datagram(first.encode())
                assert challenge is not None and isinstance(request, Request)
                creds = client.authorization(request, challenge)
                again = _request(
                    "127.0.0.2", local, port, "INVITE", 10 * attempt + 2,
                    f"Authorization: {creds}\r\n",
                )  # fmt: skip
                reply = await _exchange(attacker, again, port)
                assert reply is not None
                statuses_seen.append(int(reply.split(b" ", 2)[1]))
            # banned now: not even OPTIONS is answered
            assert (
                await _exchange(attacker, _request("127.0.0.2", local, port, "OPTIONS", 99), port)
                is None
            )
        finally:
            attacker.close()
        assert statuses_seen == [403, 403, 403]
        scanner = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        scanner.bind(("127.0.0.3", 0))
        scanner.setblocking(False)
        try:
            probe = _request(
                "127.0.0.3", scanner.getsockname()[1], port, "OPTIONS", 1,
                "User-Agent: friendly-scanner\r\n",
            )  # fmt: skip
            assert await _exchange(scanner, probe, port) is None
            plain = _request("127.0.0.3", scanner.getsockname()[1], port, "OPTIONS", 2)
            answer = await _exchange(scanner, plain, port)
            assert answer is not None and b" 200 " in answer[:16]
        finally:
            scanner.close()
        assert app.requests_to("/answer") == []
