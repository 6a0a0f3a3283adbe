"""Typed, frozen models of every NCCO action (VOICE-API.md §2).

The models are pydantic dataclasses: validation happens once, at the edge, and what the
engine receives are plain frozen dataclasses with snake_case attributes. Wire names are
validation aliases (``bargeIn``), the Python names are accepted as well, and dumping with
``by_alias`` gives the wire names back (see :func:`trunkline.ncco.dump_action`).

Each action carries a ``Literal`` ``action`` tag with no default, so ``{"action": "talk"}``
without ``text`` can never be mistaken for another action.

Choices made where the contract leaves room (each enforced below):

* ``input`` without ``type`` (and without ``dtmf``/``speech`` objects) is the legacy
  2016-2019 format: it becomes ``type=("dtmf",)``, ``legacy=True`` and the top-level
  ``timeOut``/``maxDigits``/``submitOnHash`` move into ``dtmf``.
* ``input`` whose ``type`` includes ``"speech"`` but has no ``speech`` object is valid and
  gets ``SpeechSettings()`` (all defaults), so ``speech`` is never ``None`` when speech
  recognition is on.
* ``record`` with ``channels`` and no ``split`` records ``split="conversation"`` (the
  Python SDK adds it too) and defaults ``format`` to ``wav`` above two channels.
* ``conversation``/``transfer``: ``mute`` together with ``canSpeak`` is an error (the SDK
  raises); ``conversation`` ``transcription`` requires ``record: true``.
* ``wait`` clamps ``timeout`` into 0.1 … 7200 s, as Vonage does, instead of rejecting it.
"""

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Self, TypeAlias

from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    Field,
    ModelWrapValidatorHandler,
    TypeAdapter,
    model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic_core import ArgsKwargs

from trunkline.ncco.endpoints import AnyEndpoint, Endpoint
from trunkline.ncco.fields import (
    NCCO_CONFIG,
    CallerId,
    DtmfKey,
    HttpUrl,
    Language,
    Method,
    NonEmptyStr,
    StrList,
    UrlList,
    between,
    clamped,
    one_of,
    rule_error,
)

MAX_TALK_TEXT = 1500
"""Longest ``talk`` text, SSML tags excluded."""

LEGACY_INPUT_KEYS = ("timeOut", "maxDigits", "submitOnHash")
"""Top-level DTMF settings of the legacy ``input`` format."""

_SSML_TAG = re.compile(r"<[^>]*>")


def _talk_text(value: str) -> str:
    if not value.strip():
        raise rule_error("must not be empty")
    spoken = _SSML_TAG.sub("", value) if "<" in value else value
    if len(spoken) > MAX_TALK_TEXT:
        raise rule_error(
            f"must be at most {MAX_TALK_TEXT} characters, SSML tags excluded (got {len(spoken)})"
        )
    return value


def _edit_fields(data: Any, edit: Callable[[dict[str, Any]], None]) -> Any:
    """Apply ``edit`` to the keyword fields of raw input (a dict, or ``__init__`` kwargs)."""
    if isinstance(data, dict):
        fields = dict(data)
        edit(fields)
        return fields
    if isinstance(data, ArgsKwargs):
        fields = dict(data.kwargs or {})
        edit(fields)
        return ArgsKwargs(data.args, fields)
    return data


Loop = Annotated[int, between(0, None, integer=True)]
Level = Annotated[float, between(-1, 1)]


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class Talk:
    """Speak ``text`` (plain or SSML) ``loop`` times; ``loop=0`` repeats forever."""

    action: Literal["talk"]
    text: Annotated[str, AfterValidator(_talk_text)]
    barge_in: bool = Field(default=False, validation_alias="bargeIn", serialization_alias="bargeIn")
    loop: Loop = 1
    level: Level = 0.0
    language: Language = "en-US"
    style: Annotated[int, between(0, None, integer=True)] = 0
    premium: bool = False
    voice_name: str | None = Field(
        default=None, validation_alias="voiceName", serialization_alias="voiceName"
    )


def _single_stream_url(value: tuple[str, ...]) -> tuple[str, ...]:
    if len(value) != 1:
        raise rule_error("must contain exactly one URL")
    return value


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class Stream:
    """Play the audio file at ``stream_url[0]`` ``loop`` times; ``loop=0`` repeats forever."""

    action: Literal["stream"]
    stream_url: Annotated[UrlList, AfterValidator(_single_stream_url)] = Field(
        validation_alias="streamUrl", serialization_alias="streamUrl"
    )
    level: Level = 0.0
    barge_in: bool = Field(default=False, validation_alias="bargeIn", serialization_alias="bargeIn")
    loop: Loop = 1


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class DtmfSettings:
    """When an ``input`` submits its digits."""

    time_out: Annotated[float, between(0, 10)] = Field(
        default=3.0, validation_alias="timeOut", serialization_alias="timeOut"
    )
    max_digits: Annotated[int, between(1, 20, integer=True)] = Field(
        default=4, validation_alias="maxDigits", serialization_alias="maxDigits"
    )
    submit_on_hash: bool = Field(
        default=False, validation_alias="submitOnHash", serialization_alias="submitOnHash"
    )


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class SpeechSettings:
    """Speech recognition settings of an ``input``."""

    uuid: StrList | None = None
    end_on_silence: Annotated[float, between(0.4, 10)] = Field(
        default=2.0, validation_alias="endOnSilence", serialization_alias="endOnSilence"
    )
    language: Language = "en-US"
    context: StrList = ()
    start_timeout: Annotated[float, between(1, 60)] = Field(
        default=10.0, validation_alias="startTimeout", serialization_alias="startTimeout"
    )
    max_duration: Annotated[float, between(1, 60)] = Field(
        default=60.0, validation_alias="maxDuration", serialization_alias="maxDuration"
    )
    save_audio: bool = Field(
        default=False, validation_alias="saveAudio", serialization_alias="saveAudio"
    )
    sensitivity: Annotated[int, between(0, 100, integer=True)] = 90
    #: trunkline extension (not Vonage): interim hypotheses are posted to this URL while
    #: the caller speaks, as ``{"speech": {"partial": text}}`` events (docs/compatibility.md).
    #: Exactly one URL when given; None (not given) keeps a plain Vonage NCCO's wire form.
    partial_results_url: Annotated[UrlList, AfterValidator(_single_stream_url)] | None = Field(
        default=None,
        validation_alias="partialResultsUrl",
        serialization_alias="partialResultsUrl",
    )
    #: the HTTP method of ``partial_results_url``; None means ``POST``
    partial_results_method: Method | None = Field(
        default=None,
        validation_alias="partialResultsMethod",
        serialization_alias="partialResultsMethod",
    )


def is_legacy_input(raw: Mapping[str, object]) -> bool:
    """True for the legacy ``input`` format: no ``type`` and no ``dtmf``/``speech`` object."""
    return "type" not in raw and "dtmf" not in raw and "speech" not in raw


def _input_types(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise rule_error("must contain 'dtmf' and/or 'speech'")
    if len(set(value)) != len(value):
        raise rule_error("must not name an input type twice")
    return value


def _wire_input(raw: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Normalise a wire ``input``; also return the key holding DTMF settings, if any."""
    fields = dict(raw)
    fields.pop("legacy", None)  # derived from the shape, never read from the wire
    if is_legacy_input(raw):
        settings = {key: fields.pop(key) for key in LEGACY_INPUT_KEYS if key in fields}
        fields.update(type=["dtmf"], dtmf=settings, legacy=True)
        return fields, next(iter(settings), "")
    types = raw.get("type")
    if isinstance(types, list | tuple) and "speech" in types and raw.get("speech") is None:
        fields["speech"] = {}
    dtmf = raw.get("dtmf")
    return fields, "dtmf" if isinstance(dtmf, dict) and dtmf else ""


def _init_input(data: ArgsKwargs) -> tuple[ArgsKwargs, str]:
    fields = dict(data.kwargs or {})
    types = fields.get("type")
    if isinstance(types, list | tuple) and "speech" in types and fields.get("speech") is None:
        fields["speech"] = SpeechSettings()
    dtmf = fields.get("dtmf")
    given = dtmf is not None and dtmf not in ({}, DtmfSettings())
    return ArgsKwargs(data.args, fields), "dtmf" if given else ""


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class Input:
    """Collect DTMF digits and/or speech, then post the result to ``event_url``.

    ``legacy`` is true for the legacy format (see the module docstring): the engine then
    posts the legacy result payload. In ``asynchronous`` mode no DTMF settings may be given.
    """

    action: Literal["input"]
    type: Annotated[
        tuple[Annotated[str, one_of("dtmf", "speech")], ...], AfterValidator(_input_types)
    ]
    dtmf: DtmfSettings = DtmfSettings()
    speech: SpeechSettings | None = None
    mode: Annotated[str, one_of("synchronous", "asynchronous")] = "synchronous"
    event_url: UrlList = Field(
        default=(), validation_alias="eventUrl", serialization_alias="eventUrl"
    )
    event_method: Method = Field(
        default="POST", validation_alias="eventMethod", serialization_alias="eventMethod"
    )
    legacy: bool = False

    @model_validator(mode="wrap")
    @classmethod
    def _shape(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        dtmf_at = ""
        if isinstance(data, dict):
            data, dtmf_at = _wire_input(data)
        elif isinstance(data, ArgsKwargs):
            data, dtmf_at = _init_input(data)
        result = handler(data)
        if dtmf_at and result.mode == "asynchronous":
            raise rule_error("DTMF settings are not allowed when mode is 'asynchronous'", dtmf_at)
        return result


def _as_number(value: object) -> float:
    """``value`` as a number if it reads as one (it is validated properly later), else 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 0
    try:
        return float(value)
    except ValueError:
        return 0


def _record_defaults(fields: dict[str, Any]) -> None:
    channels = fields.get("channels")
    if channels is None:
        return
    if fields.get("split") is None:
        fields["split"] = "conversation"
    if "format" not in fields and _as_number(channels) > 2:
        fields["format"] = "wav"


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class Record:
    """Record the call. Synchronous only with ``end_on_silence`` or ``end_on_key``."""

    action: Literal["record"]
    format: Annotated[str, one_of("mp3", "wav", "ogg")] = "mp3"
    split: Annotated[str, one_of("conversation")] | None = None
    channels: Annotated[int, between(1, 32, integer=True)] | None = None
    end_on_silence: Annotated[float, between(3, 10)] | None = Field(
        default=None, validation_alias="endOnSilence", serialization_alias="endOnSilence"
    )
    end_on_key: DtmfKey | None = Field(
        default=None, validation_alias="endOnKey", serialization_alias="endOnKey"
    )
    time_out: Annotated[float, between(3, 7200)] = Field(
        default=7200.0, validation_alias="timeOut", serialization_alias="timeOut"
    )
    beep_start: bool = Field(
        default=False, validation_alias="beepStart", serialization_alias="beepStart"
    )
    event_url: UrlList = Field(
        default=(), validation_alias="eventUrl", serialization_alias="eventUrl"
    )
    event_method: Method = Field(
        default="POST", validation_alias="eventMethod", serialization_alias="eventMethod"
    )
    transcription: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _channel_defaults(cls, data: Any) -> Any:
        return _edit_fields(data, _record_defaults)


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class Conversation:
    """Join the named conversation (conference); the leg stays until it leaves."""

    action: Literal["conversation"]
    name: NonEmptyStr
    music_on_hold_url: UrlList = Field(
        default=(), validation_alias="musicOnHoldUrl", serialization_alias="musicOnHoldUrl"
    )
    start_on_enter: bool = Field(
        default=True, validation_alias="startOnEnter", serialization_alias="startOnEnter"
    )
    end_on_exit: bool = Field(
        default=False, validation_alias="endOnExit", serialization_alias="endOnExit"
    )
    record: bool = False
    event_url: UrlList = Field(
        default=(), validation_alias="eventUrl", serialization_alias="eventUrl"
    )
    event_method: Method = Field(
        default="POST", validation_alias="eventMethod", serialization_alias="eventMethod"
    )
    can_speak: StrList | None = Field(
        default=None, validation_alias="canSpeak", serialization_alias="canSpeak"
    )
    can_hear: StrList | None = Field(
        default=None, validation_alias="canHear", serialization_alias="canHear"
    )
    mute: bool = False
    transcription: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.mute and self.can_speak is not None:
            raise rule_error("must not be true together with 'canSpeak'", at="mute")
        if self.transcription is not None and not self.record:
            raise rule_error("requires 'record': true", at="transcription")
        return self


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class AdvancedMachineDetection:
    """Voicemail detection; overrides ``machineDetection`` (VOICE-API.md §4.4)."""

    behavior: Annotated[str, one_of("continue", "hangup")] = "continue"
    mode: Annotated[str, one_of("default", "detect", "detect_beep")] = "detect"
    beep_timeout: Annotated[int, between(30, 120, integer=True)] = Field(
        default=45,
        validation_alias=AliasChoices("beepTimeout", "beep_timeout"),
        serialization_alias="beep_timeout",
    )


def _one_endpoint(value: object) -> object:
    if isinstance(value, list | tuple) and len(value) != 1:
        raise rule_error(f"must contain exactly one endpoint (got {len(value)})")
    return value


def _one_url(value: object) -> object:
    # The Python SDK sends ringbackTone as a one-element array.
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise rule_error("must be a URL or an array of one URL")
        return value[0]
    return value


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class Connect:
    """Call ``endpoint[0]`` and bridge it into this conversation."""

    action: Literal["connect"]
    endpoint: Annotated[tuple[AnyEndpoint, ...], BeforeValidator(_one_endpoint)]
    from_: CallerId | None = Field(
        default=None, validation_alias="from", serialization_alias="from"
    )
    random_from_number: bool = Field(
        default=False, validation_alias="randomFromNumber", serialization_alias="randomFromNumber"
    )
    event_type: Annotated[str, one_of("synchronous")] | None = Field(
        default=None, validation_alias="eventType", serialization_alias="eventType"
    )
    timeout: Annotated[float, between(1, 120)] = 60.0
    limit: Annotated[float, between(1, 7200)] = 7200.0
    machine_detection: Annotated[str, one_of("continue", "hangup")] | None = Field(
        default=None, validation_alias="machineDetection", serialization_alias="machineDetection"
    )
    advanced_machine_detection: AdvancedMachineDetection | None = Field(
        default=None,
        validation_alias="advancedMachineDetection",
        serialization_alias="advancedMachineDetection",
    )
    event_url: UrlList = Field(
        default=(), validation_alias="eventUrl", serialization_alias="eventUrl"
    )
    event_method: Method = Field(
        default="POST", validation_alias="eventMethod", serialization_alias="eventMethod"
    )
    ringback_tone: Annotated[HttpUrl, BeforeValidator(_one_url)] | None = Field(
        default=None, validation_alias="ringbackTone", serialization_alias="ringbackTone"
    )

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.random_from_number and self.from_ is not None:
            raise rule_error("must not be true when 'from' is given", at="randomFromNumber")
        return self


def _some_url(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise rule_error("must contain at least one URL")
    return value


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class Notify:
    """Post ``payload`` to ``event_url`` and wait for the reply (which may be an NCCO)."""

    action: Literal["notify"]
    payload: dict[str, Any]
    event_url: Annotated[UrlList, AfterValidator(_some_url)] = Field(
        validation_alias="eventUrl", serialization_alias="eventUrl"
    )
    event_method: Method = Field(
        default="POST", validation_alias="eventMethod", serialization_alias="eventMethod"
    )


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class Wait:
    """Pause for ``timeout`` seconds (clamped into 0.1 … 7200)."""

    action: Literal["wait"]
    timeout: Annotated[float, clamped(0.1, 7200)] = 10.0


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class Transfer:
    """Move every leg of this conversation into the existing ``conversation_id``."""

    action: Literal["transfer"]
    conversation_id: NonEmptyStr = Field(
        validation_alias=AliasChoices("conversationId", "conversation_id"),
        serialization_alias="conversationId",
    )
    can_hear: StrList | None = Field(
        default=None, validation_alias="canHear", serialization_alias="canHear"
    )
    can_speak: StrList | None = Field(
        default=None, validation_alias="canSpeak", serialization_alias="canSpeak"
    )
    mute: bool = False

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.mute and self.can_speak is not None:
            raise rule_error("must not be true together with 'canSpeak'", at="mute")
        return self


Action: TypeAlias = (
    Talk | Stream | Input | Record | Conversation | Connect | Notify | Wait | Transfer
)
"""Any NCCO action; ``action`` tells them apart."""

AnyAction = Annotated[Action, Field(discriminator="action")]
""":data:`Action` as a field type, discriminated by ``action``."""

#: Action classes by their ``action`` tag, in the order of VOICE-API.md §2.
ACTION_TYPES: dict[str, type[Action]] = {
    "talk": Talk,
    "stream": Stream,
    "input": Input,
    "record": Record,
    "conversation": Conversation,
    "connect": Connect,
    "notify": Notify,
    "wait": Wait,
    "transfer": Transfer,
}

#: Actions that existed on Vonage but that trunkline does not run.
UNSUPPORTED_ACTIONS = frozenset({"pay"})

#: One validator per action, built once at import (parsing runs on every answer webhook).
ACTION_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(cls) for name, cls in ACTION_TYPES.items()
}

ENDPOINT_ADAPTER: TypeAdapter[Endpoint] = TypeAdapter(AnyEndpoint)
"""Validator of one endpoint, discriminated by ``type``."""
