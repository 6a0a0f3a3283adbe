"""Invalid NCCOs: each gives an error at the exact JSON pointer, with a clear message."""

import pytest

from trunkline.errors import NccoError
from trunkline.ncco import NccoIssue, parse_ncco, parse_ncco_json

URL = "https://example.com/event"
PHONE: dict[str, object] = {"type": "phone", "number": "447700900001"}


def talk(**fields: object) -> dict[str, object]:
    return {"action": "talk", "text": "Hello", **fields}


def stream(**fields: object) -> dict[str, object]:
    return {"action": "stream", "streamUrl": ["https://example.com/a.mp3"], **fields}


def input_(**fields: object) -> dict[str, object]:
    return {"action": "input", "type": ["dtmf"], **fields}


def record(**fields: object) -> dict[str, object]:
    return {"action": "record", **fields}


def conversation(**fields: object) -> dict[str, object]:
    return {"action": "conversation", "name": "room", **fields}


def connect(*endpoints: dict[str, object], **fields: object) -> dict[str, object]:
    return {"action": "connect", "endpoint": list(endpoints or [PHONE]), **fields}


def endpoint(kind: str, **fields: object) -> dict[str, object]:
    return connect({"type": kind, **fields})


def notify(**fields: object) -> dict[str, object]:
    return {"action": "notify", "payload": {"a": 1}, "eventUrl": [URL], **fields}


# (NCCO, expected pointer, fragment of the expected message)
INVALID: list[tuple[object, str, str]] = [
    # the document
    ({"action": "talk", "text": "hi"}, "", "must be a JSON array"),
    ([], "", "at least one action"),
    ([5], "/0", "must be an object"),
    ([talk(), "talk"], "/1", "must be an object"),
    ([{"text": "hi"}], "/0/action", "is required"),
    ([{"action": 5}], "/0/action", "must be a string"),
    ([{"action": "pay", "amount": 10}], "/0/action", "unsupported action 'pay'"),
    ([{"action": "dance"}], "/0/action", "unknown action 'dance'"),
    ([{"action": "Talk", "text": "hi"}], "/0/action", "unknown action 'Talk'"),
    # talk
    ([{"action": "talk"}], "/0/text", "is required"),
    ([talk(text="")], "/0/text", "must not be empty"),
    ([talk(text=5)], "/0/text", "must be a string"),
    ([talk(text="a" * 1501)], "/0/text", "at most 1500 characters"),
    ([talk(loop=-1)], "/0/loop", "must be an integer of at least 0"),
    ([talk(loop="twice")], "/0/loop", "must be an integer"),
    ([talk(loop=1.5)], "/0/loop", "must be an integer"),
    ([talk(loop=True)], "/0/loop", "must be an integer"),
    ([talk(level=2)], "/0/level", "between -1 and 1"),
    ([talk(level="loud")], "/0/level", "must be a number between -1 and 1"),
    ([talk(bargeIn="maybe")], "/0/bargeIn", "must be true or false"),
    ([talk(language="english!")], "/0/language", "language code such as 'en-US'"),
    ([talk(style=-1)], "/0/style", "at least 0"),
    # stream
    ([{"action": "stream"}], "/0/streamUrl", "is required"),
    ([stream(streamUrl=["ftp://example.com/a.mp3"])], "/0/streamUrl/0", "http:// or https://"),
    ([stream(streamUrl=[])], "/0/streamUrl", "exactly one URL"),
    ([stream(streamUrl=[URL, URL])], "/0/streamUrl", "exactly one URL"),
    ([stream(streamUrl=5)], "/0/streamUrl", "must be an array"),
    ([stream(loop=-2)], "/0/loop", "at least 0"),
    # input
    ([input_(type=[])], "/0/type", "'dtmf' and/or 'speech'"),
    ([input_(type=["dtmf", "video"])], "/0/type/1", "'dtmf' or 'speech'"),
    ([input_(type="dtmf")], "/0/type", "must be an array"),
    ([input_(type=["dtmf", "dtmf"])], "/0/type", "twice"),
    ([input_(dtmf={"maxDigits": 21})], "/0/dtmf/maxDigits", "between 1 and 20"),
    ([input_(dtmf={"maxDigits": 0})], "/0/dtmf/maxDigits", "between 1 and 20"),
    ([input_(dtmf={"timeOut": 11})], "/0/dtmf/timeOut", "between 0 and 10"),
    ([input_(dtmf={"submitOnHash": "sometimes"})], "/0/dtmf/submitOnHash", "true or false"),
    ([input_(dtmf="1")], "/0/dtmf", "must be an object"),
    ([input_(type=["speech"], speech={"endOnSilence": 0.1})], "/0/speech/endOnSilence", "0.4"),
    ([input_(type=["speech"], speech={"startTimeout": 61})], "/0/speech/startTimeout", "1 and 60"),
    ([input_(type=["speech"], speech={"maxDuration": 0})], "/0/speech/maxDuration", "1 and 60"),
    ([input_(type=["speech"], speech={"sensitivity": 101})], "/0/speech/sensitivity", "0 and 100"),
    ([input_(type=["speech"], speech={"context": "sales"})], "/0/speech/context", "an array"),
    ([input_(mode="sometimes")], "/0/mode", "'synchronous' or 'asynchronous'"),
    ([input_(mode="asynchronous", dtmf={"maxDigits": 2})], "/0/dtmf", "'asynchronous'"),
    ([input_(eventMethod="PUT")], "/0/eventMethod", "'GET' or 'POST'"),
    ([input_(eventUrl=["example.com/ivr"])], "/0/eventUrl/0", "http:// or https://"),
    ([input_(eventUrl="example.com/ivr")], "/0/eventUrl", "http:// or https://"),
    # legacy input: errors point where the settings were written
    ([{"action": "input", "maxDigits": 0}], "/0/maxDigits", "between 1 and 20"),
    ([{"action": "input", "timeOut": "soon"}], "/0/timeOut", "must be a number"),
    ([{"action": "input", "mode": "asynchronous", "timeOut": 5}], "/0/timeOut", "asynchronous"),
    # record
    ([record(format="flac")], "/0/format", "one of 'mp3', 'wav', 'ogg'"),
    ([record(split="mono")], "/0/split", "'conversation'"),
    ([record(channels=33)], "/0/channels", "between 1 and 32"),
    ([record(endOnSilence=2)], "/0/endOnSilence", "between 3 and 10"),
    ([record(endOnKey="12")], "/0/endOnKey", "one key"),
    ([record(endOnKey="a")], "/0/endOnKey", "one key"),
    ([record(timeOut=2)], "/0/timeOut", "between 3 and 7200"),
    ([record(timeOut=7201)], "/0/timeOut", "between 3 and 7200"),
    ([record(beepStart="loud")], "/0/beepStart", "true or false"),
    ([record(transcription="yes")], "/0/transcription", "must be an object"),
    # conversation
    ([{"action": "conversation"}], "/0/name", "is required"),
    ([conversation(name="  ")], "/0/name", "must not be empty"),
    ([conversation(mute=True, canSpeak=["leg"])], "/0/mute", "'canSpeak'"),
    ([conversation(canHear="leg")], "/0/canHear", "must be an array"),
    ([conversation(transcription={})], "/0/transcription", "requires 'record': true"),
    ([conversation(musicOnHoldUrl=["music.mp3"])], "/0/musicOnHoldUrl/0", "http"),
    # connect
    ([{"action": "connect"}], "/0/endpoint", "is required"),
    ([connect(endpoint=[])], "/0/endpoint", "exactly one endpoint (got 0)"),
    ([connect(PHONE, PHONE)], "/0/endpoint", "exactly one endpoint (got 2)"),
    ([connect(endpoint=PHONE)], "/0/endpoint", "must be an array"),
    ([connect(endpoint=["447700900001"])], "/0/endpoint/0", "must be an object"),
    ([connect({"number": "447700900001"})], "/0/endpoint/0/type", "is required"),
    ([connect({"type": "fax"})], "/0/endpoint/0/type", "one of 'phone', 'app'"),
    (
        [connect(**{"from": "447700900000", "randomFromNumber": True})],
        "/0/randomFromNumber",
        "'from'",
    ),
    ([connect(timeout=0)], "/0/timeout", "between 1 and 120"),
    ([connect(timeout="ten")], "/0/timeout", "must be a number"),
    ([connect(limit=7201)], "/0/limit", "between 1 and 7200"),
    ([connect(eventType="asynchronous")], "/0/eventType", "'synchronous'"),
    ([connect(machineDetection="detect")], "/0/machineDetection", "'continue' or 'hangup'"),
    (
        [connect(advancedMachineDetection={"beep_timeout": 10})],
        "/0/advancedMachineDetection/beep_timeout",
        "between 30 and 120",
    ),
    (
        [connect(advancedMachineDetection={"beepTimeout": 200})],
        "/0/advancedMachineDetection/beepTimeout",
        "between 30 and 120",
    ),
    (
        [connect(advancedMachineDetection={"mode": "fast"})],
        "/0/advancedMachineDetection/mode",
        "'default', 'detect', 'detect_beep'",
    ),
    ([connect(ringbackTone=[URL, URL])], "/0/ringbackTone", "one URL"),
    ([connect(ringbackTone="ftp://example.com/ring.mp3")], "/0/ringbackTone", "http"),
    ([connect(eventUrl=[5])], "/0/eventUrl/0", "must be a string"),
    # endpoints
    ([endpoint("phone")], "/0/endpoint/0/number", "is required"),
    ([endpoint("phone", number="12345")], "/0/endpoint/0/number", "7 to 15 digits"),
    ([endpoint("phone", number="44-7700-900001")], "/0/endpoint/0/number", "7 to 15 digits"),
    (
        [endpoint("phone", number="447700900001", dtmfAnswer="12x")],
        "/0/endpoint/0/dtmfAnswer",
        "0-9, * and #",
    ),
    (
        [endpoint("phone", number="447700900001", onAnswer={})],
        "/0/endpoint/0/onAnswer/url",
        "is required",
    ),
    (
        [endpoint("phone", number="447700900001", onAnswer={"url": URL, "ringback": "x"})],
        "/0/endpoint/0/onAnswer/ringback",
        "http",
    ),
    ([endpoint("app")], "/0/endpoint/0/user", "is required"),
    ([endpoint("vbc")], "/0/endpoint/0/extension", "is required"),
    ([endpoint("websocket", uri="https://bot.example.com")], "/0/endpoint/0/uri", "ws://"),
    (
        [endpoint("websocket", uri="wss://b.example.com", **{"content-type": "audio/pcm"})],
        "/0/endpoint/0/content-type",
        "audio/l16;rate=8000",
    ),
    (
        [endpoint("websocket", uri="wss://b.example.com", authorization={"type": "custom"})],
        "/0/endpoint/0/authorization/value",
        "is required when type is 'custom'",
    ),
    (
        [endpoint("websocket", uri="wss://b.example.com", authorization={"type": "basic"})],
        "/0/endpoint/0/authorization/type",
        "'vonage' or 'custom'",
    ),
    (
        [endpoint("websocket", uri="wss://b.example.com", headers=[1])],
        "/0/endpoint/0/headers",
        "must be an object",
    ),
    ([endpoint("sip", uri="http://pbx.example.com")], "/0/endpoint/0/uri", "sip: or sips:"),
    ([endpoint("sip")], "/0/endpoint/0/uri", "is required (or 'user' and 'domain')"),
    ([endpoint("sip", uri="sip:a@b", user="a", domain="b")], "/0/endpoint/0/uri", "together"),
    ([endpoint("sip", user="1001")], "/0/endpoint/0/domain", "together with 'user'"),
    (
        [endpoint("sip", uri="sip:a@b", headers={"Queue": 5})],
        "/0/endpoint/0/headers/Queue",
        "must be a string",
    ),
    (
        [endpoint("sip", uri="sip:a@b", standardHeaders={"X-Foo": "1"})],
        "/0/endpoint/0/standardHeaders/X-Foo",
        "only 'User-to-User'",
    ),
    (
        [endpoint("sip", uri="sip:a@b", standardHeaders={"a/b~": "1"})],
        "/0/endpoint/0/standardHeaders/a~1b~0",
        "only 'User-to-User'",
    ),
    # notify
    ([{"action": "notify", "eventUrl": [URL]}], "/0/payload", "is required"),
    ([{"action": "notify", "payload": {}}], "/0/eventUrl", "is required"),
    ([notify(eventUrl=[])], "/0/eventUrl", "at least one URL"),
    ([notify(payload="x")], "/0/payload", "must be an object"),
    ([notify(eventMethod=5)], "/0/eventMethod", "must be a string"),
    # wait
    ([{"action": "wait", "timeout": "soon"}], "/0/timeout", "must be a number"),
    ([{"action": "wait", "timeout": True}], "/0/timeout", "must be a number"),
    # transfer
    ([{"action": "transfer"}], "/0/conversationId", "is required"),
    ([{"action": "transfer", "conversationId": ""}], "/0/conversationId", "must not be empty"),
    ([{"action": "transfer", "conversation_id": 7}], "/0/conversation_id", "must be a string"),
    (
        [{"action": "transfer", "conversationId": "CON-1", "mute": True, "canSpeak": []}],
        "/0/mute",
        "'canSpeak'",
    ),
    # the index of the action at fault
    ([talk(), talk(), {"action": "wait", "timeout": []}], "/2/timeout", "must be a number"),
]


def _issues(data: object) -> list[NccoIssue]:
    with pytest.raises(NccoError) as caught:
        parse_ncco(data)
    issues = caught.value.issues
    assert all(isinstance(issue, NccoIssue) for issue in issues)
    return [issue for issue in issues if isinstance(issue, NccoIssue)]


def test_the_table_is_large_enough() -> None:
    assert len(INVALID) >= 45


@pytest.mark.parametrize(("data", "pointer", "fragment"), INVALID)
def test_invalid_ncco(data: object, pointer: str, fragment: str) -> None:
    issues = _issues(data)
    assert [issue.pointer for issue in issues] == [pointer], issues
    assert fragment in issues[0].message, issues[0].message


def test_issue_names_the_action() -> None:
    (issue,) = _issues([talk(), connect({"type": "phone", "number": "12"})])
    assert issue.action == "connect"
    assert str(issue) == (
        "/1/endpoint/0/number (connect): "
        "must be a phone number of 7 to 15 digits (E.164, without '+')"
    )


def test_all_errors_of_a_document_are_reported() -> None:
    issues = _issues(
        [
            {"action": "talk"},
            talk(loop=-1, level=5),
            {"action": "pay"},
            connect({"type": "phone", "number": "1"}, timeout=500),
        ]
    )
    assert [issue.pointer for issue in issues] == [
        "/0/text",
        "/1/loop",
        "/1/level",
        "/2/action",
        "/3/endpoint/0/number",
        "/3/timeout",
    ]
    assert [issue.action for issue in issues] == [
        "talk",
        "talk",
        "talk",
        "pay",
        "connect",
        "connect",
    ]


def test_error_carries_the_warnings_found() -> None:
    with pytest.raises(NccoError) as caught:
        parse_ncco([talk(colour="blue"), {"action": "talk"}])
    assert [str(w) for w in caught.value.warnings] == [
        "/0/colour (talk): unknown field 'colour' is ignored"
    ]
    assert "/1/text (talk): is required" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "invalid JSON: Expecting value at line 1 column 1"),
        ('[{"action": "talk", "text": "hi"}', "invalid JSON"),
        ('[{"action": "wait", "timeout": NaN}]', "NaN is not valid JSON"),
        (b'[{"action": "talk", "text": "\xff"}]', "not valid UTF-8"),
        ("[" * 100_000 + "]" * 100_000, "invalid JSON"),
    ],
)
def test_invalid_json(text: str | bytes, fragment: str) -> None:
    with pytest.raises(NccoError) as caught:
        parse_ncco_json(text)
    (issue,) = caught.value.issues
    assert isinstance(issue, NccoIssue)
    assert issue.pointer == ""
    assert fragment in issue.message
    assert str(issue).startswith("(document): invalid JSON")


def test_valid_json_with_an_invalid_ncco_points_inside_it() -> None:
    with pytest.raises(NccoError) as caught:
        parse_ncco_json(b'[{"action": "talk", "text": "hi", "loop": "x"}]')
    assert [str(i) for i in caught.value.issues] == [
        "/0/loop (talk): must be an integer of at least 0"
    ]
