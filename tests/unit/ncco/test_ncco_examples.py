"""Every example NCCO parses, and dump_action round-trips it.

The files in tests/data/ncco/ are the NCCO examples of the shared spec (voice.yml's
``Hello World``; VOICE-API.md and ncco-schema.json carry no complete NCCO), examples from
Vonage's NCCO reference and tutorials, and the seed flows trunkline is built around.
"""

import json
from pathlib import Path

import pytest

from trunkline.ncco import (
    Connect,
    Conversation,
    Input,
    Notify,
    PhoneEndpoint,
    Record,
    SipEndpoint,
    SpeechSettings,
    Talk,
    Transfer,
    Wait,
    WebsocketEndpoint,
    dump_action,
    parse_ncco,
    parse_ncco_json,
    summarize,
)

DATA = Path(__file__).parents[2] / "data" / "ncco"
EXAMPLES = sorted(DATA.glob("*.json"))


def _load(name: str) -> object:
    return json.loads((DATA / name).read_text())


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 15


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_parses_without_unexpected_warnings(path: Path) -> None:
    parsed = parse_ncco_json(path.read_bytes())
    assert len(parsed.actions) == len(json.loads(path.read_text()))
    assert parsed.warnings == ()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_round_trips_through_dump_action(path: Path) -> None:
    parsed = parse_ncco_json(path.read_text())
    dumped = [dump_action(action) for action in parsed.actions]
    again = parse_ncco(json.loads(json.dumps(dumped)))
    assert again.actions == parsed.actions
    assert again.warnings == ()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_summary_is_one_line_naming_the_action(path: Path) -> None:
    for action in parse_ncco_json(path.read_text()).actions:
        line = summarize(action)
        assert line.startswith(action.action + " ")
        assert "\n" not in line


def test_voice_yml_example() -> None:
    (talk,) = parse_ncco(_load("spec_voice_yml_hello_world.json")).actions
    assert talk == Talk(action="talk", text="Hello World")


def test_ivr_talk_barges_into_a_dtmf_input() -> None:
    talk, menu = parse_ncco(_load("seed_ivr.json")).actions
    assert isinstance(talk, Talk) and talk.barge_in and talk.language == "en-GB"
    assert isinstance(menu, Input)
    assert menu.type == ("dtmf",)
    assert (menu.dtmf.max_digits, menu.dtmf.time_out, menu.dtmf.submit_on_hash) == (1, 5.0, False)
    assert menu.event_url == ("https://example.com/webhooks/ivr",)
    assert menu.speech is None and not menu.legacy


def test_call_centre_connect_accepts_a_string_timeout() -> None:
    actions = parse_ncco(_load("seed_call_centre.json")).actions
    connect, record = actions[1], actions[3]
    assert isinstance(connect, Connect)
    assert connect.event_type == "synchronous"
    assert connect.timeout == 10.0
    assert connect.from_ == "447700900000"
    assert connect.endpoint == (PhoneEndpoint(type="phone", number="447700900001"),)
    assert isinstance(record, Record)
    assert (record.end_on_key, record.beep_start, record.format) == ("#", True, "mp3")


def test_conference_moderator_and_attendee() -> None:
    (_, moderator) = parse_ncco(_load("seed_conference_moderator.json")).actions
    (attendee,) = parse_ncco(_load("seed_conference_attendee.json")).actions
    assert isinstance(moderator, Conversation) and isinstance(attendee, Conversation)
    assert (moderator.start_on_enter, moderator.end_on_exit, moderator.record) == (True, True, True)
    assert attendee.start_on_enter is False
    assert attendee.music_on_hold_url == ("https://example.com/assets/hold-music.mp3",)
    assert attendee.can_speak == ()
    assert attendee.can_hear == ("aaaaaaaa-bbbb-cccc-dddd-0123456789ab",)


def test_notify_wait_and_transfer() -> None:
    notify = parse_ncco(_load("seed_notify.json")).actions[1]
    assert isinstance(notify, Notify)
    assert notify.payload == {
        "step": "greeted",
        "attempt": 1,
        "tags": ["a", "b"],
        "meta": {"vip": True},
    }
    waits = parse_ncco(_load("seed_wait.json")).actions[1:3]
    assert waits == (Wait(action="wait", timeout=2.5), Wait(action="wait", timeout=10.0))
    transfer = parse_ncco(_load("seed_transfer.json")).actions[1]
    assert isinstance(transfer, Transfer)
    assert transfer.conversation_id == "CON-f972836a-550f-45fa-956c-12a2ab5b7d22"
    assert transfer.can_speak is None and transfer.mute is False


def test_websocket_connect_keeps_headers_and_authorization() -> None:
    connect = parse_ncco(_load("seed_websocket_headers.json")).actions[1]
    assert isinstance(connect, Connect)
    (socket,) = connect.endpoint
    assert isinstance(socket, WebsocketEndpoint)
    assert socket.uri == "wss://bot.example.com/socket"
    assert socket.content_type == "audio/l16;rate=16000"
    assert socket.headers == {"caller": "447700900000", "language": "en-GB", "session": {"id": 42}}
    assert socket.authorization == {"type": "custom", "value": "Bearer abc.def.ghi"}


def test_sip_connect_with_headers_and_with_user_at_domain() -> None:
    first, second = parse_ncco(_load("seed_sip_headers.json")).actions
    assert isinstance(first, Connect) and isinstance(second, Connect)
    sip = first.endpoint[0]
    assert isinstance(sip, SipEndpoint)
    assert sip.uri == "sip:agent@pbx.example.com;transport=tls"
    assert sip.headers == {"CustomerId": "1938ND9", "Queue": "sales"}
    assert sip.standard_headers == {"User-to-User": "342342ef34;encoding=hex"}
    assert second.endpoint[0] == SipEndpoint(type="sip", user="1001", domain="my-trunk")


def test_legacy_input_becomes_dtmf_and_dumps_back_in_legacy_form() -> None:
    raw = _load("seed_legacy_input.json")
    assert isinstance(raw, list)
    menu = parse_ncco(raw).actions[1]
    assert isinstance(menu, Input)
    assert menu.legacy is True
    assert menu.type == ("dtmf",)
    assert (menu.dtmf.time_out, menu.dtmf.max_digits, menu.dtmf.submit_on_hash) == (8, 4, True)
    dumped = dump_action(menu)
    assert "type" not in dumped and "dtmf" not in dumped
    assert (dumped["timeOut"], dumped["maxDigits"], dumped["submitOnHash"]) == (8.0, 4, True)


def test_speech_input_settings_and_defaults() -> None:
    both, speech_only, keys = parse_ncco(_load("seed_speech_input.json")).actions[1:]
    assert isinstance(both, Input) and isinstance(speech_only, Input) and isinstance(keys, Input)
    assert both.speech is not None
    assert both.speech.context == ("sales", "support")
    assert (both.speech.end_on_silence, both.speech.sensitivity) == (1.5, 70)
    assert both.event_method == "GET"
    assert speech_only.speech == SpeechSettings()
    assert keys.mode == "asynchronous"


def test_connect_options() -> None:
    first, app, vbc = parse_ncco(_load("seed_connect_options.json")).actions
    assert isinstance(first, Connect)
    assert first.random_from_number and first.from_ is None
    assert first.ringback_tone == "https://example.com/assets/ringback.mp3"
    assert first.advanced_machine_detection is not None
    assert first.advanced_machine_detection.beep_timeout == 60
    phone = first.endpoint[0]
    assert isinstance(phone, PhoneEndpoint)
    assert phone.number == "14155550100"
    assert phone.dtmf_answer == "p*123#"
    assert phone.on_answer is not None
    assert phone.on_answer.ringback_tone == "https://example.com/assets/ring.mp3"
    assert isinstance(app, Connect) and isinstance(vbc, Connect)
    assert app.machine_detection == "continue"


def test_dumped_actions_use_wire_names_and_omit_none() -> None:
    connect = parse_ncco(_load("seed_call_centre.json")).actions[1]
    dumped = dump_action(connect)
    assert dumped["action"] == "connect"
    assert dumped["eventType"] == "synchronous"
    assert dumped["from"] == "447700900000"
    assert dumped["endpoint"] == [{"type": "phone", "number": "447700900001"}]
    assert "machineDetection" not in dumped
    assert all(value is not None for value in dumped.values())
