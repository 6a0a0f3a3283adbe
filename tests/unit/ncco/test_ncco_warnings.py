"""Warnings: accepted NCCOs whose author probably meant something else."""

import pytest

from trunkline.ncco import Input, Record, Talk, parse_ncco

URL = "https://example.com/event"
MENU = {"action": "input", "type": ["dtmf"]}
PHONE = {"type": "phone", "number": "447700900001"}

# (NCCO, expected warnings as "pointer: message fragment")
WARNINGS: list[tuple[list[object], list[tuple[str, str]]]] = [
    (
        [{"action": "talk", "text": "hi", "foo": 1}],
        [("/0/foo", "unknown field 'foo' is ignored")],
    ),
    (
        [{"action": "talk", "text": "hi", "bargein": True}, MENU],
        [("/0/bargein", "unknown field 'bargein' is ignored (did you mean 'bargeIn'?)")],
    ),
    (
        [{"action": "input", "type": ["dtmf"], "dtmf": {"digits": 4}}],
        [("/0/dtmf/digits", "unknown field 'digits'")],
    ),
    (
        [{"action": "connect", "endpoint": [{**PHONE, "colour": "red"}]}],
        [("/0/endpoint/0/colour", "unknown field 'colour'")],
    ),
    (
        [
            {
                "action": "connect",
                "endpoint": [{**PHONE, "onAnswer": {"url": URL, "method": "GET"}}],
                "advancedMachineDetection": {"speed": 1},
            }
        ],
        [
            ("/0/endpoint/0/onAnswer/method", "unknown field 'method'"),
            ("/0/advancedMachineDetection/speed", "unknown field 'speed'"),
        ],
    ),
    (
        [{"action": "talk", "text": "hi", "legacy": True}],
        [("/0/legacy", "unknown field 'legacy'")],
    ),
    (
        [{"action": "input", "type": ["dtmf"], "legacy": True}],
        [("/0/legacy", "unknown field 'legacy'")],
    ),
    (
        [{"action": "talk", "text": "a/b", "a/b": 1}],
        [("/0/a~1b", "unknown field 'a/b'")],
    ),
    (
        [{"action": "input", "type": ["dtmf"], "eventUrl": URL}],
        [("/0/eventUrl", "should be an array of URLs")],
    ),
    (
        [{"action": "stream", "streamUrl": "https://example.com/a.mp3"}],
        [("/0/streamUrl", "should be an array of URLs")],
    ),
    (
        [{"action": "conversation", "name": "room", "musicOnHoldUrl": URL, "eventUrl": URL}],
        [("/0/musicOnHoldUrl", "array of URLs"), ("/0/eventUrl", "array of URLs")],
    ),
    (
        [{"action": "notify", "payload": {}, "event_url": URL}],
        [("/0/event_url", "array of URLs")],
    ),
    (
        [
            {"action": "talk", "text": "hi", "bargeIn": True},
            {"action": "connect", "endpoint": [PHONE]},
        ],
        [("/0/bargeIn", "the next action after the prompts is 'connect', not 'input'")],
    ),
    (
        [{"action": "talk", "text": "hi", "bargeIn": True}],
        [("/0/bargeIn", "is the end of the NCCO")],
    ),
    (
        [
            {"action": "stream", "streamUrl": [URL], "bargeIn": True},
            {"action": "talk", "text": "hi"},
            {"action": "record"},
            MENU,
        ],
        [("/0/bargeIn", "'record'")],
    ),
    (
        [{"action": "record", "channels": 2}],
        [("/0/channels", "without 'split' is recorded as split 'conversation'")],
    ),
    (
        [{"action": "input", "type": ["dtmf"], "maxDigits": 2}],
        [("/0/maxDigits", "only read in the legacy input format")],
    ),
    (
        [{"action": "input", "type": ["dtmf"], "speech": {"language": "en-GB"}}],
        [("/0/speech", "'type' does not include 'speech'")],
    ),
    (
        [
            {
                "action": "connect",
                "endpoint": [PHONE],
                "machineDetection": "hangup",
                "advancedMachineDetection": {},
            }
        ],
        [("/0/machineDetection", "ignored because 'advancedMachineDetection' is given")],
    ),
]


@pytest.mark.parametrize(("data", "expected"), WARNINGS)
def test_warning(data: list[object], expected: list[tuple[str, str]]) -> None:
    warnings = parse_ncco(data).warnings
    assert [w.pointer for w in warnings] == [pointer for pointer, _ in expected], warnings
    for warning, (_, fragment) in zip(warnings, expected, strict=True):
        assert fragment in warning.message, warning.message


def test_unknown_field_warning_text() -> None:
    (warning,) = parse_ncco([{"action": "talk", "text": "hi", "foo": 1}]).warnings
    assert str(warning) == "/0/foo (talk): unknown field 'foo' is ignored"


def test_barge_in_before_prompts_and_an_input_is_quiet() -> None:
    parsed = parse_ncco(
        [
            {"action": "talk", "text": "one", "bargeIn": True},
            {"action": "stream", "streamUrl": [URL]},
            {"action": "talk", "text": "two", "bargeIn": True},
            MENU,
            {"action": "talk", "text": "bye"},
        ]
    )
    assert parsed.warnings == ()


def test_warned_barge_in_is_kept_for_the_engine_to_decide() -> None:
    (talk,) = parse_ncco([{"action": "talk", "text": "hi", "bargeIn": True}]).actions
    assert isinstance(talk, Talk) and talk.barge_in is True


def test_accepted_leniencies_still_parse() -> None:
    parsed = parse_ncco(
        [
            {"action": "input", "type": ["dtmf"], "eventUrl": URL},
            {"action": "record", "channels": 4},
        ]
    )
    menu, record = parsed.actions
    assert isinstance(menu, Input) and menu.event_url == (URL,)
    assert isinstance(record, Record)
    assert (record.split, record.format) == ("conversation", "wav")


def test_known_snake_case_names_are_not_unknown() -> None:
    parsed = parse_ncco(
        [
            {"action": "transfer", "conversation_id": "CON-1"},
            {
                "action": "connect",
                "endpoint": [
                    {"type": "phone", "number": "447700900001", "dtmf_answer": "1"},
                ],
                "advanced_machine_detection": {"beepTimeout": 45},
            },
            {
                "action": "connect",
                "endpoint": [
                    {
                        "type": "websocket",
                        "uri": "wss://a.example.com",
                        "contentType": "audio/l16;rate=8000",
                    }
                ],
            },
        ]
    )
    assert parsed.warnings == ()
