"""The models themselves: defaults, lax wire values, normalisation, direct construction."""

import dataclasses

import pydantic
import pytest

from trunkline.errors import NccoError
from trunkline.ncco import (
    AdvancedMachineDetection,
    AppEndpoint,
    Connect,
    Conversation,
    DtmfSettings,
    Input,
    NccoIssue,
    Notify,
    OnAnswer,
    PhoneEndpoint,
    Record,
    SipEndpoint,
    SpeechSettings,
    Stream,
    Talk,
    Transfer,
    VbcEndpoint,
    Wait,
    WebsocketEndpoint,
    parse_endpoint,
    parse_ncco,
)
from trunkline.ncco.models import Action

PHONE = {"type": "phone", "number": "447700900001"}


def one(raw: dict[str, object]) -> Action:
    (action,) = parse_ncco([raw]).actions
    return action


def test_talk_defaults() -> None:
    talk = one({"action": "talk", "text": "hi"})
    assert talk == Talk(
        action="talk",
        text="hi",
        barge_in=False,
        loop=1,
        level=0,
        language="en-US",
        style=0,
        premium=False,
        voice_name=None,
    )


def test_models_are_frozen_dataclasses() -> None:
    talk = Talk(action="talk", text="hi")
    assert dataclasses.is_dataclass(talk)
    with pytest.raises(dataclasses.FrozenInstanceError):
        talk.text = "changed"  # type: ignore[misc]


def test_lax_wire_values() -> None:
    talk = one(
        {
            "action": "talk",
            "text": "hi",
            "bargeIn": "true",
            "loop": "3",
            "level": "-0.5",
            "style": "2",
            "premium": "false",
            "voiceName": "Amy",
        }
    )
    assert isinstance(talk, Talk)
    assert (talk.barge_in, talk.loop, talk.level, talk.style, talk.premium) == (
        True,
        3,
        -0.5,
        2,
        False,
    )
    assert talk.voice_name == "Amy"


def test_ssml_tags_do_not_count_towards_the_text_limit() -> None:
    text = "<speak>" + "<break time='1s'/>".join(["a" * 500] * 3) + "</speak>"
    talk = one({"action": "talk", "text": text})
    assert isinstance(talk, Talk) and talk.text == text


def test_stream_accepts_a_bare_url() -> None:
    stream = one({"action": "stream", "streamUrl": "https://example.com/a.mp3", "loop": 0})
    assert stream == Stream(action="stream", stream_url=("https://example.com/a.mp3",), loop=0)


def test_input_defaults_and_speech_fill_in() -> None:
    dtmf = one({"action": "input", "type": ["dtmf"]})
    assert dtmf == Input(action="input", type=("dtmf",))
    assert isinstance(dtmf, Input)
    assert dtmf.dtmf == DtmfSettings(time_out=3, max_digits=4, submit_on_hash=False)
    assert (dtmf.speech, dtmf.mode, dtmf.event_url, dtmf.event_method) == (
        None,
        "synchronous",
        (),
        "POST",
    )
    speech = one({"action": "input", "type": ["speech"]})
    assert isinstance(speech, Input)
    assert speech.speech == SpeechSettings(
        uuid=None,
        end_on_silence=2.0,
        language="en-US",
        context=(),
        start_timeout=10,
        max_duration=60,
        save_audio=False,
        sensitivity=90,
    )


def test_input_constructed_in_python_fills_speech_too() -> None:
    menu = Input(action="input", type=("dtmf", "speech"))
    assert menu.speech == SpeechSettings()


def test_asynchronous_input_accepts_an_empty_dtmf_object() -> None:
    menu = one({"action": "input", "type": ["dtmf"], "mode": "asynchronous", "dtmf": {}})
    assert isinstance(menu, Input) and menu.mode == "asynchronous"


def test_asynchronous_input_rejects_dtmf_settings_in_python_too() -> None:
    with pytest.raises(pydantic.ValidationError):
        Input(
            action="input",
            type=("dtmf",),
            mode="asynchronous",
            dtmf=DtmfSettings(max_digits=2),
        )


def test_legacy_input() -> None:
    menu = one({"action": "input", "timeOut": "4", "maxDigits": 6, "eventUrl": ["https://e.x"]})
    assert menu == Input(
        action="input",
        type=("dtmf",),
        dtmf=DtmfSettings(time_out=4, max_digits=6),
        event_url=("https://e.x",),
        legacy=True,
    )
    bare = one({"action": "input"})
    assert isinstance(bare, Input) and bare.legacy and bare.dtmf == DtmfSettings()


def test_event_method_is_case_insensitive() -> None:
    menu = one({"action": "input", "type": ["dtmf"], "eventMethod": "get"})
    assert isinstance(menu, Input) and menu.event_method == "GET"


def test_record_defaults_and_channels() -> None:
    assert one({"action": "record"}) == Record(
        action="record",
        format="mp3",
        split=None,
        channels=None,
        end_on_silence=None,
        end_on_key=None,
        time_out=7200,
        beep_start=False,
        event_url=(),
        event_method="POST",
        transcription=None,
    )
    two = one({"action": "record", "channels": 2, "split": "conversation"})
    assert isinstance(two, Record) and two.format == "mp3"
    many = one({"action": "record", "channels": "3"})
    assert isinstance(many, Record)
    assert (many.channels, many.split, many.format) == (3, "conversation", "wav")
    chosen = one({"action": "record", "channels": 8, "format": "ogg"})
    assert isinstance(chosen, Record) and chosen.format == "ogg"
    assert Record(action="record", channels=4).format == "wav"


def test_record_end_on_key_accepts_a_number() -> None:
    record = one({"action": "record", "endOnKey": 5, "endOnSilence": "4"})
    assert isinstance(record, Record)
    assert (record.end_on_key, record.end_on_silence) == ("5", 4.0)


def test_conversation_defaults() -> None:
    assert one({"action": "conversation", "name": "room"}) == Conversation(
        action="conversation",
        name="room",
        music_on_hold_url=(),
        start_on_enter=True,
        end_on_exit=False,
        record=False,
        event_url=(),
        event_method="POST",
        can_speak=None,
        can_hear=None,
        mute=False,
        transcription=None,
    )
    recorded = one(
        {"action": "conversation", "name": "r", "record": True, "transcription": {"language": "en"}}
    )
    assert isinstance(recorded, Conversation) and recorded.transcription == {"language": "en"}


def test_connect_defaults_and_lenient_values() -> None:
    connect = one({"action": "connect", "endpoint": [PHONE]})
    assert connect == Connect(
        action="connect",
        endpoint=(PhoneEndpoint(type="phone", number="447700900001"),),
        from_=None,
        random_from_number=False,
        event_type=None,
        timeout=60,
        limit=7200,
        machine_detection=None,
        advanced_machine_detection=None,
        event_url=(),
        event_method="POST",
        ringback_tone=None,
    )
    lenient = one(
        {
            "action": "connect",
            "from": "+447700900000",
            "endpoint": [{"type": "phone", "number": 447700900001}],
            "ringbackTone": "https://example.com/ring.mp3",
            "advancedMachineDetection": {"beepTimeout": "50"},
        }
    )
    assert isinstance(lenient, Connect)
    assert lenient.from_ == "447700900000"
    assert lenient.endpoint[0] == PhoneEndpoint(type="phone", number="447700900001")
    assert lenient.ringback_tone == "https://example.com/ring.mp3"
    assert lenient.advanced_machine_detection == AdvancedMachineDetection(
        behavior="continue", mode="detect", beep_timeout=50
    )


def test_connect_from_may_be_a_name() -> None:
    connect = one({"action": "connect", "from": "Vonage", "endpoint": [PHONE]})
    assert isinstance(connect, Connect) and connect.from_ == "Vonage"


@pytest.mark.parametrize(
    ("given", "expected"),
    [(5, 5.0), ("0", 0.1), (-3, 0.1), (0.05, 0.1), (10_000, 7200.0), ("7200.5", 7200.0)],
)
def test_wait_clamps_its_timeout(given: object, expected: float) -> None:
    assert one({"action": "wait", "timeout": given}) == Wait(action="wait", timeout=expected)


def test_transfer_accepts_both_id_spellings() -> None:
    camel = one({"action": "transfer", "conversationId": "CON-1"})
    snake = one({"action": "transfer", "conversation_id": "CON-1"})
    assert camel == snake == Transfer(action="transfer", conversation_id="CON-1")


def test_notify_payload_keeps_nulls() -> None:
    notify = one({"action": "notify", "payload": {"a": None}, "eventUrl": ["https://e.x"]})
    assert isinstance(notify, Notify) and notify.payload == {"a": None}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"type": "phone", "number": "+447700900001", "dtmf_answer": "1p2"},
            PhoneEndpoint(type="phone", number="447700900001", dtmf_answer="1p2"),
        ),
        (
            {
                "type": "phone",
                "number": "447700900001",
                "onAnswer": {"url": "https://a.x", "ringback": "https://r.x"},
            },
            PhoneEndpoint(
                type="phone",
                number="447700900001",
                on_answer=OnAnswer(url="https://a.x", ringback_tone="https://r.x"),
            ),
        ),
        ({"type": "app", "user": "jane"}, AppEndpoint(type="app", user="jane")),
        ({"type": "vbc", "extension": 1234}, VbcEndpoint(type="vbc", extension="1234")),
        (
            {"type": "websocket", "uri": "wss://a.example.com"},
            WebsocketEndpoint(
                type="websocket",
                uri="wss://a.example.com",
                content_type="audio/l16;rate=16000",
                headers={},
                authorization=None,
            ),
        ),
        (
            {
                "type": "websocket",
                "uri": "ws://a.example.com",
                "content_type": "audio/L16; rate=24000",
            },
            WebsocketEndpoint(
                type="websocket", uri="ws://a.example.com", content_type="audio/l16;rate=24000"
            ),
        ),
        (
            {"type": "websocket", "uri": "wss://a.example.com", "authorization": {}},
            WebsocketEndpoint(
                type="websocket", uri="wss://a.example.com", authorization={"type": "vonage"}
            ),
        ),
        (
            {
                "type": "sip",
                "uri": "sips:bob@example.com",
                "standard_headers": {"User-to-User": "1"},
            },
            SipEndpoint(
                type="sip", uri="sips:bob@example.com", standard_headers={"User-to-User": "1"}
            ),
        ),
    ],
)
def test_parse_endpoint(raw: dict[str, object], expected: object) -> None:
    assert parse_endpoint(raw) == expected


def test_parse_endpoint_errors_use_the_given_pointer() -> None:
    with pytest.raises(NccoError) as caught:
        parse_endpoint({"type": "phone", "number": "1"}, "/to/0")
    assert [str(i) for i in caught.value.issues] == [
        "/to/0/number: must be a phone number of 7 to 15 digits (E.164, without '+')"
    ]
    with pytest.raises(NccoError) as caught:
        parse_endpoint({"type": "pigeon"}, "/to/0")
    assert [i.pointer for i in caught.value.issues if isinstance(i, NccoIssue)] == ["/to/0/type"]
    with pytest.raises(NccoError) as caught:
        parse_endpoint("447700900001", "/to/0")
    assert [str(i) for i in caught.value.issues] == ["/to/0: must be an object with a 'type'"]


def test_issue_str() -> None:
    assert str(NccoIssue("/0/text", "is required", "talk")) == "/0/text (talk): is required"
    assert str(NccoIssue("/3/action", "is required", None)) == "/3/action: is required"
    assert str(NccoIssue("", "invalid JSON: x", None)) == "(document): invalid JSON: x"
