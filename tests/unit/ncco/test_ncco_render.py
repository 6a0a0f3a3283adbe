"""summarize() lines and dump_action() wire JSON."""

import json

import pytest

from trunkline.ncco import (
    Connect,
    DtmfSettings,
    Input,
    PhoneEndpoint,
    Talk,
    dump_action,
    parse_ncco,
    summarize,
)

PHONE = {"type": "phone", "number": "447700900001"}
URL = "https://example.com/e"

SUMMARIES: list[tuple[dict[str, object], str]] = [
    (
        {"action": "talk", "text": "Welcome to Example Inc, the home of widgets and gadgets"},
        'talk "Welcome to Example Inc, the home of wid…" (en-US, loop 1)',
    ),
    (
        {
            "action": "talk",
            "text": "<speak>Hi\n  <break/>there</speak>",
            "loop": 0,
            "bargeIn": True,
        },
        'talk "Hi there" (en-US, loop forever, barge-in)',
    ),
    (
        {"action": "talk", "text": "Hola", "language": "es-ES", "premium": True, "level": 0.5},
        'talk "Hola" (es-ES premium, loop 1, level 0.5)',
    ),
    ({"action": "stream", "streamUrl": [URL]}, f"stream {URL} (loop 1)"),
    (
        {"action": "input", "type": ["dtmf"], "dtmf": {"maxDigits": 1, "submitOnHash": True}},
        "input dtmf (max 1 digit, timeout 3s, # submits)",
    ),
    (
        {"action": "input", "type": ["dtmf", "speech"], "speech": {"language": "en-GB"}},
        "input dtmf+speech (max 4 digits, timeout 3s, speech en-GB)",
    ),
    ({"action": "input", "type": ["dtmf"], "mode": "asynchronous"}, "input dtmf (asynchronous)"),
    ({"action": "input", "maxDigits": 4}, "input dtmf (max 4 digits, timeout 3s, legacy)"),
    ({"action": "record"}, "record mp3 (asynchronous, max 7200s)"),
    (
        {"action": "record", "endOnKey": "#", "beepStart": True, "timeOut": 60},
        "record mp3 (until key #, max 60s, beep)",
    ),
    (
        {"action": "record", "channels": 4, "endOnSilence": 3, "transcription": {}},
        "record wav (4 channels, until 3s silence, max 7200s, transcribed)",
    ),
    (
        {"action": "conversation", "name": "room", "endOnExit": True, "record": True},
        'conversation "room" (start on enter, end on exit, record)',
    ),
    (
        {"action": "conversation", "name": "room", "startOnEnter": False, "mute": True},
        'conversation "room" (waits for moderator, muted)',
    ),
    (
        {"action": "connect", "eventType": "synchronous", "timeout": 20, "endpoint": [PHONE]},
        "connect phone 447700900001 (synchronous, timeout 20s)",
    ),
    (
        {
            "action": "connect",
            "from": "447700900000",
            "machineDetection": "hangup",
            "endpoint": [PHONE],
        },
        "connect phone 447700900001 (timeout 60s, from 447700900000, machine detection → hangup)",
    ),
    (
        {
            "action": "connect",
            "endpoint": [{"type": "app", "user": "jane"}],
            "randomFromNumber": True,
        },
        "connect app jane (timeout 60s, random from number)",
    ),
    (
        {"action": "connect", "endpoint": [{"type": "websocket", "uri": "wss://a.example.com/s"}]},
        "connect websocket wss://a.example.com/s (timeout 60s, audio/l16;rate=16000)",
    ),
    (
        {"action": "connect", "endpoint": [{"type": "sip", "user": "1001", "domain": "trunk"}]},
        "connect sip 1001@trunk (timeout 60s)",
    ),
    (
        {"action": "connect", "endpoint": [{"type": "vbc", "extension": "12"}]},
        "connect vbc 12 (timeout 60s)",
    ),
    (
        {
            "action": "connect",
            "endpoint": [PHONE],
            "advancedMachineDetection": {"mode": "detect_beep"},
        },
        "connect phone 447700900001 (timeout 60s, AMD detect_beep → continue)",
    ),
    ({"action": "notify", "payload": {}, "eventUrl": [URL]}, f"notify {URL}"),
    (
        {"action": "notify", "payload": {}, "eventUrl": [URL], "eventMethod": "GET"},
        f"notify {URL} (GET)",
    ),
    ({"action": "wait", "timeout": 0.5}, "wait 0.5s"),
    ({"action": "wait"}, "wait 10s"),
    ({"action": "transfer", "conversationId": "CON-1"}, "transfer to CON-1"),
    ({"action": "transfer", "conversationId": "CON-1", "mute": True}, "transfer to CON-1 (muted)"),
]


@pytest.mark.parametrize(("raw", "line"), SUMMARIES)
def test_summarize(raw: dict[str, object], line: str) -> None:
    (action,) = parse_ncco([raw]).actions
    assert summarize(action) == line


def test_dump_talk_uses_wire_names() -> None:
    talk = Talk(action="talk", text="hi", barge_in=True, voice_name="Amy")
    assert dump_action(talk) == {
        "action": "talk",
        "text": "hi",
        "bargeIn": True,
        "loop": 1,
        "level": 0.0,
        "language": "en-US",
        "style": 0,
        "premium": False,
        "voiceName": "Amy",
    }


def test_dump_input_omits_default_dtmf_and_the_legacy_flag() -> None:
    menu = Input(action="input", type=("dtmf",), mode="asynchronous", event_url=(URL,))
    assert dump_action(menu) == {
        "action": "input",
        "type": ["dtmf"],
        "mode": "asynchronous",
        "eventUrl": [URL],
        "eventMethod": "POST",
    }
    custom = Input(action="input", type=("dtmf",), dtmf=DtmfSettings(max_digits=2))
    assert dump_action(custom)["dtmf"] == {"timeOut": 3.0, "maxDigits": 2, "submitOnHash": False}


def test_dump_legacy_input_with_default_settings_round_trips() -> None:
    (menu,) = parse_ncco([{"action": "input", "mode": "asynchronous"}]).actions
    dumped = dump_action(menu)
    assert dumped == {
        "action": "input",
        "mode": "asynchronous",
        "eventUrl": [],
        "eventMethod": "POST",
    }
    assert parse_ncco([dumped]).actions == (menu,)


def test_dump_connect_endpoint_and_aliases() -> None:
    (connect,) = parse_ncco(
        [
            {
                "action": "connect",
                "ringbackTone": [URL],
                "advancedMachineDetection": {"beepTimeout": 40},
                "endpoint": [
                    {
                        "type": "websocket",
                        "uri": "wss://a.example.com",
                        "contentType": "audio/l16;rate=8000",
                        "headers": {"k": None},
                    }
                ],
            }
        ]
    ).actions
    assert isinstance(connect, Connect)
    dumped = dump_action(connect)
    assert dumped["ringbackTone"] == URL
    assert dumped["advancedMachineDetection"] == {
        "behavior": "continue",
        "mode": "detect",
        "beep_timeout": 40,
    }
    assert dumped["endpoint"] == [
        {
            "type": "websocket",
            "uri": "wss://a.example.com",
            "content-type": "audio/l16;rate=8000",
            "headers": {"k": None},
        }
    ]
    assert json.loads(json.dumps(dumped)) == dumped
    assert parse_ncco([dumped]).actions == (connect,)


def test_dump_phone_endpoint_round_trips() -> None:
    connect = Connect(
        action="connect",
        endpoint=(PhoneEndpoint(type="phone", number="+447700900001", dtmf_answer="1#"),),
        from_="447700900000",
    )
    dumped = dump_action(connect)
    assert dumped["from"] == "447700900000"
    assert dumped["endpoint"] == [{"type": "phone", "number": "447700900001", "dtmfAnswer": "1#"}]
    assert parse_ncco([dumped]).actions == (connect,)
