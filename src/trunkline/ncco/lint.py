"""Warnings: what Vonage accepts or ignores, but the author probably did not mean.

* unknown fields (Vonage ignores them), with a suggestion when one is close to a real name;
* ``eventUrl``-like fields written as a bare string instead of an array;
* legacy top-level ``input`` settings next to a ``type`` (they are then ignored);
* a ``speech`` object on an ``input`` whose ``type`` has no ``"speech"``;
* ``record`` ``channels`` without ``split`` (recorded as ``split: "conversation"``);
* ``connect`` ``machineDetection`` next to ``advancedMachineDetection`` (which wins);
* a ``talk``/``stream`` with ``bargeIn: true`` whose next action that is not a prompt is not
  an ``input`` (VOICE-API.md §1.2) — the engine then plays it as if ``bargeIn`` were false.
"""

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo

from trunkline.ncco.endpoints import ENDPOINT_TYPES, OnAnswer, PhoneEndpoint
from trunkline.ncco.issues import NccoIssue, escape
from trunkline.ncco.models import (
    ACTION_TYPES,
    LEGACY_INPUT_KEYS,
    Action,
    AdvancedMachineDetection,
    Connect,
    DtmfSettings,
    Input,
    SpeechSettings,
    Stream,
    Talk,
    is_legacy_input,
)

_URL_LIST_FIELDS = frozenset(
    {"event_url", "stream_url", "music_on_hold_url", "partial_results_url"}
)
_ENDPOINT_LIST = "endpoint list"

#: Objects nested in others, by field name; ``_ENDPOINT_LIST`` is an array of endpoints.
_NESTED: dict[type, dict[str, type | str]] = {
    Input: {"dtmf": DtmfSettings, "speech": SpeechSettings},
    Connect: {"endpoint": _ENDPOINT_LIST, "advanced_machine_detection": AdvancedMachineDetection},
    PhoneEndpoint: {"on_answer": OnAnswer},
}
_NOT_ON_THE_WIRE: dict[type, frozenset[str]] = {Input: frozenset({"legacy"})}


@dataclass(frozen=True)
class _Shape:
    known: frozenset[str]
    wire_names: tuple[str, ...]
    url_lists: tuple[str, ...]
    nested: tuple[tuple[str, type | str], ...]


def _names(name: str, info: FieldInfo) -> tuple[str, list[str]]:
    """The wire name of a field and every key that is accepted for it."""
    accepted = [name]
    alias = info.validation_alias
    if isinstance(alias, str):
        accepted.append(alias)
    elif isinstance(alias, AliasChoices):
        accepted.extend(choice for choice in alias.choices if isinstance(choice, str))
    return info.serialization_alias or name, accepted


def _shape(cls: type) -> _Shape:
    fields: dict[str, FieldInfo] = vars(cls)["__pydantic_fields__"]
    skip = _NOT_ON_THE_WIRE.get(cls, frozenset())
    known: set[str] = set()
    wire_names: list[str] = []
    url_lists: list[str] = []
    nested: list[tuple[str, type | str]] = []
    for name, info in fields.items():
        if name in skip:
            continue
        wire, accepted = _names(name, info)
        wire_names.append(wire)
        known.update(accepted)
        if name in _URL_LIST_FIELDS:
            url_lists.extend(accepted)
        inner = _NESTED.get(cls, {}).get(name)
        if inner is not None:
            nested.extend((key, inner) for key in accepted)
    return _Shape(frozenset(known), tuple(wire_names), tuple(url_lists), tuple(nested))


_SHAPES: dict[type, _Shape] = {
    cls: _shape(cls)
    for cls in (
        *ACTION_TYPES.values(),
        *ENDPOINT_TYPES.values(),
        DtmfSettings,
        SpeechSettings,
        AdvancedMachineDetection,
        OnAnswer,
    )
}


def _unknown(key: str, shape: _Shape) -> str:
    message = f"unknown field '{key}' is ignored"
    close = difflib.get_close_matches(key, shape.wire_names, n=1, cutoff=0.75)
    return f"{message} (did you mean '{close[0]}'?)" if close else message


def _unknown_keys(
    raw: Mapping[str, Any], cls: type, shape: _Shape, pointer: str, action: str
) -> list[NccoIssue]:
    legacy = cls is Input and is_legacy_input(raw)
    out: list[NccoIssue] = []
    for key in raw:
        if key in shape.known:
            continue
        where = f"{pointer}/{escape(key)}"
        if cls is Input and key in LEGACY_INPUT_KEYS:
            if not legacy:
                message = (
                    f"'{key}' is only read in the legacy input format (without 'type') "
                    "and is ignored here; move it into 'dtmf'"
                )
                out.append(NccoIssue(where, message, action))
            continue
        out.append(NccoIssue(where, _unknown(key, shape), action))
    return out


def _walk(
    raw: Mapping[str, Any], cls: type, pointer: str, action: str, out: list[NccoIssue]
) -> None:
    shape = _SHAPES[cls]
    if not shape.known.issuperset(raw):
        out.extend(_unknown_keys(raw, cls, shape, pointer, action))
    for key in shape.url_lists:
        if isinstance(raw.get(key), str):
            message = "should be an array of URLs; the bare string is used as one URL"
            out.append(NccoIssue(f"{pointer}/{escape(key)}", message, action))
    for key, inner in shape.nested:
        value = raw.get(key)
        if value is None:
            continue
        where = f"{pointer}/{escape(key)}"
        if inner == _ENDPOINT_LIST and isinstance(value, list):
            for index, item in enumerate(value):
                kind = item.get("type") if isinstance(item, dict) else None
                endpoint = ENDPOINT_TYPES.get(kind) if isinstance(kind, str) else None
                if endpoint is not None:
                    _walk(item, endpoint, f"{where}/{index}", action, out)
        elif isinstance(inner, type) and isinstance(value, dict):
            _walk(value, inner, where, action, out)


def _has(raw: Mapping[str, Any], *keys: str) -> bool:
    return any(raw.get(key) is not None for key in keys)


def lint_action(raw: Mapping[str, Any], action: str, pointer: str) -> list[NccoIssue]:
    """Warnings about one raw action object found at ``pointer`` (its name is known)."""
    out: list[NccoIssue] = []
    _walk(raw, ACTION_TYPES[action], pointer, action, out)
    if action == "input":
        types = raw.get("type")
        if (
            isinstance(types, list)
            and "speech" not in types
            and isinstance(raw.get("speech"), dict)
        ):
            out.append(
                NccoIssue(
                    f"{pointer}/speech",
                    "is ignored because 'type' does not include 'speech'",
                    action,
                )
            )
    elif action == "record":
        if _has(raw, "channels") and not _has(raw, "split"):
            out.append(
                NccoIssue(
                    f"{pointer}/channels",
                    "without 'split' is recorded as split 'conversation'",
                    action,
                )
            )
    elif (
        action == "connect"
        and _has(raw, "machineDetection", "machine_detection")
        and _has(raw, "advancedMachineDetection", "advanced_machine_detection")
    ):
        out.append(
            NccoIssue(
                f"{pointer}/machineDetection",
                "is ignored because 'advancedMachineDetection' is given",
                action,
            )
        )
    return out


def barge_in_warnings(actions: Sequence[Action]) -> list[NccoIssue]:
    """Warn about each ``bargeIn`` prompt that is not followed by an ``input`` (§1.2)."""
    out: list[NccoIssue] = []
    following: Action | None = None  # next action that is not a prompt, scanning backwards
    for index in range(len(actions) - 1, -1, -1):
        action = actions[index]
        if not isinstance(action, Talk | Stream):
            following = action
            continue
        if action.barge_in and not isinstance(following, Input):
            found = f"'{following.action}'" if following is not None else "the end of the NCCO"
            out.append(
                NccoIssue(
                    f"/{index}/bargeIn",
                    f"has no effect: the next action after the prompts is {found}, not 'input'",
                    action.action,
                )
            )
    out.reverse()
    return out
