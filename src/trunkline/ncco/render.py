"""Actions back to wire JSON, and one-line summaries for timelines and the CLI."""

import re
from typing import assert_never

from trunkline.ncco.endpoints import (
    AppEndpoint,
    Endpoint,
    PhoneEndpoint,
    SipEndpoint,
    VbcEndpoint,
    WebsocketEndpoint,
)
from trunkline.ncco.models import (
    ACTION_ADAPTERS,
    Action,
    Connect,
    Conversation,
    DtmfSettings,
    Input,
    Notify,
    Record,
    Stream,
    Talk,
    Transfer,
    Wait,
)

_DEFAULT_DTMF = DtmfSettings()
_TAG = re.compile(r"<[^>]*>")
_CLIP = 40


def dump_action(action: Action) -> dict[str, object]:
    """The action as Vonage wire JSON: wire names, no ``None`` values.

    The result parses back (:func:`trunkline.ncco.parse_ncco`) to an equal action; a legacy
    ``input`` is written back in the legacy format.
    """
    data: dict[str, object] = ACTION_ADAPTERS[action.action].dump_python(
        action, mode="json", by_alias=True, exclude_none=True
    )
    if isinstance(action, Input):
        del data["legacy"]
        dtmf = data.pop("dtmf")
        keep_dtmf = action.dtmf != _DEFAULT_DTMF and isinstance(dtmf, dict)
        if action.legacy:
            del data["type"]
            data.pop("speech", None)
            if keep_dtmf and isinstance(dtmf, dict):
                data.update(dtmf)
        elif keep_dtmf:
            data["dtmf"] = dtmf
    return data


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _clip(text: str) -> str:
    """One line of at most ``_CLIP`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= _CLIP else line[: _CLIP - 1].rstrip() + "…"


def _loop(loop: int) -> str:
    return "loop forever" if loop == 0 else f"loop {loop}"


def _prompt_details(first: str, action: Talk | Stream) -> str:
    details = [first, _loop(action.loop)] if first else [_loop(action.loop)]
    if action.level:
        details.append(f"level {action.level:g}")
    if action.barge_in:
        details.append("barge-in")
    return ", ".join(details)


def _talk(action: Talk) -> str:
    text = _TAG.sub(" ", action.text) if "<" in action.text else action.text
    first = action.language
    if action.voice_name:
        first += f" {action.voice_name}"
    if action.premium:
        first += " premium"
    return f'talk "{_clip(text)}" ({_prompt_details(first, action)})'


def _input(action: Input) -> str:
    details: list[str] = []
    if "dtmf" in action.type:
        if action.mode == "asynchronous":
            details.append("asynchronous")
        else:
            digits = action.dtmf.max_digits
            details.append(f"max {digits} digit{'' if digits == 1 else 's'}")
            details.append(f"timeout {_seconds(action.dtmf.time_out)}")
            if action.dtmf.submit_on_hash:
                details.append("# submits")
    if action.speech is not None and "speech" in action.type:
        details.append(f"speech {action.speech.language}")
    if action.legacy:
        details.append("legacy")
    return f"input {'+'.join(action.type)} ({', '.join(details)})"


def _record(action: Record) -> str:
    details: list[str] = []
    if action.channels is not None:
        details.append(f"{action.channels} channels")
    elif action.split is not None:
        details.append("split")
    if action.end_on_key is not None:
        details.append(f"until key {action.end_on_key}")
    if action.end_on_silence is not None:
        details.append(f"until {_seconds(action.end_on_silence)} silence")
    if action.end_on_key is None and action.end_on_silence is None:
        details.append("asynchronous")
    details.append(f"max {_seconds(action.time_out)}")
    if action.beep_start:
        details.append("beep")
    if action.transcription is not None:
        details.append("transcribed")
    return f"record {action.format} ({', '.join(details)})"


def _conversation(action: Conversation) -> str:
    details = ["start on enter" if action.start_on_enter else "waits for moderator"]
    if action.end_on_exit:
        details.append("end on exit")
    if action.record:
        details.append("record")
    if action.mute:
        details.append("muted")
    return f'conversation "{_clip(action.name)}" ({", ".join(details)})'


def _endpoint(endpoint: Endpoint) -> str:
    match endpoint:
        case PhoneEndpoint():
            return f"phone {endpoint.number}"
        case AppEndpoint():
            return f"app {_clip(endpoint.user)}"
        case WebsocketEndpoint():
            return f"websocket {endpoint.uri}"
        case SipEndpoint():
            return f"sip {endpoint.uri or f'{endpoint.user}@{endpoint.domain}'}"
        case VbcEndpoint():
            return f"vbc {endpoint.extension}"
        case _:
            assert_never(endpoint)


def _connect(action: Connect) -> str:
    details: list[str] = []
    if action.event_type is not None:
        details.append(action.event_type)
    details.append(f"timeout {_seconds(action.timeout)}")
    target = action.endpoint[0]
    if isinstance(target, WebsocketEndpoint):
        details.append(target.content_type)
    if action.from_ is not None:
        details.append(f"from {_clip(action.from_)}")
    elif action.random_from_number:
        details.append("random from number")
    if action.advanced_machine_detection is not None:
        amd = action.advanced_machine_detection
        details.append(f"AMD {amd.mode} → {amd.behavior}")
    elif action.machine_detection is not None:
        details.append(f"machine detection → {action.machine_detection}")
    return f"connect {_endpoint(target)} ({', '.join(details)})"


def summarize(action: Action) -> str:
    """One line describing the action, e.g. ``talk "Welcome to…" (en-US, loop 1)``."""
    match action:
        case Talk():
            return _talk(action)
        case Stream():
            return f"stream {action.stream_url[0]} ({_prompt_details('', action)})"
        case Input():
            return _input(action)
        case Record():
            return _record(action)
        case Conversation():
            return _conversation(action)
        case Connect():
            return _connect(action)
        case Notify():
            method = " (GET)" if action.event_method == "GET" else ""
            return f"notify {action.event_url[0]}{method}"
        case Wait():
            return f"wait {_seconds(action.timeout)}"
        case Transfer():
            muted = " (muted)" if action.mute else ""
            return f"transfer to {action.conversation_id}{muted}"
        case _:
            assert_never(action)
