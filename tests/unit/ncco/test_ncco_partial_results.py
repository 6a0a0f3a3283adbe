"""trunkline's ``partialResultsUrl`` extension of ``input`` speech settings: validation,
the wire form, and that it is a known field (no "unknown field" warning)."""

import pytest

from trunkline.errors import NccoError
from trunkline.ncco import Input, NccoIssue, dump_action, parse_ncco

URL = "https://app.example.com/partial"


def speech_input(**speech: object) -> list[dict[str, object]]:
    return [{"action": "input", "type": ["speech"], "speech": speech}]


def parsed_input(**speech: object) -> Input:
    parsed = parse_ncco(speech_input(**speech))
    assert parsed.warnings == ()
    (action,) = parsed.actions
    assert isinstance(action, Input)
    return action


def test_a_url_is_accepted_and_posts_by_default() -> None:
    speech = parsed_input(partialResultsUrl=[URL]).speech
    assert speech is not None
    assert speech.partial_results_url == (URL,)
    assert speech.partial_results_method is None  # the engine posts (POST)


def test_the_method_may_be_get_in_any_case() -> None:
    speech = parsed_input(partialResultsUrl=[URL], partialResultsMethod="get").speech
    assert speech is not None and speech.partial_results_method == "GET"


def test_absent_it_stays_off_and_out_of_the_wire_form() -> None:
    action = parsed_input(language="en-GB")
    assert action.speech is not None and action.speech.partial_results_url is None
    dumped = dump_action(action)
    speech = dumped["speech"]
    assert isinstance(speech, dict)
    assert "partialResultsUrl" not in speech and "partialResultsMethod" not in speech


def test_the_wire_form_round_trips() -> None:
    action = parsed_input(partialResultsUrl=[URL], partialResultsMethod="GET")
    dumped = dump_action(action)
    speech = dumped["speech"]
    assert isinstance(speech, dict)
    assert speech["partialResultsUrl"] == [URL]
    assert speech["partialResultsMethod"] == "GET"
    assert parse_ncco([dumped]).actions == (action,)


def test_a_bare_string_is_one_url_with_a_warning() -> None:
    parsed = parse_ncco(speech_input(partialResultsUrl=URL))
    (action,) = parsed.actions
    assert isinstance(action, Input) and action.speech is not None
    assert action.speech.partial_results_url == (URL,)
    (warning,) = parsed.warnings
    assert warning.pointer == "/0/speech/partialResultsUrl"
    assert "array of URLs" in warning.message


def test_a_misspelt_name_is_still_flagged() -> None:
    parsed = parse_ncco(speech_input(partialResultUrl=[URL]))
    (warning,) = parsed.warnings
    assert warning.pointer == "/0/speech/partialResultUrl"
    assert "did you mean 'partialResultsUrl'?" in warning.message


@pytest.mark.parametrize(
    ("speech", "pointer", "fragment"),
    [
        (
            {"partialResultsUrl": ["ftp://app.example.com/p"]},
            "/0/speech/partialResultsUrl/0",
            "http",
        ),
        ({"partialResultsUrl": ["/partial"]}, "/0/speech/partialResultsUrl/0", "http"),
        ({"partialResultsUrl": "not a url"}, "/0/speech/partialResultsUrl", "http"),
        ({"partialResultsUrl": []}, "/0/speech/partialResultsUrl", "exactly one URL"),
        ({"partialResultsUrl": [URL, URL]}, "/0/speech/partialResultsUrl", "exactly one URL"),
        ({"partialResultsUrl": 5}, "/0/speech/partialResultsUrl", ""),
        (
            {"partialResultsUrl": [URL], "partialResultsMethod": "PUT"},
            "/0/speech/partialResultsMethod",
            "'GET' or 'POST'",
        ),
    ],
)
def test_invalid_settings_name_the_field(
    speech: dict[str, object], pointer: str, fragment: str
) -> None:
    with pytest.raises(NccoError) as caught:
        parse_ncco(speech_input(**speech))
    (issue,) = caught.value.issues
    assert isinstance(issue, NccoIssue)
    assert issue.pointer == pointer, issue
    assert fragment in issue.message
    assert "/0/speech/partialResults" in str(caught.value)
