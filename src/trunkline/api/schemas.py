"""Request bodies of the Voice REST API (``/v1/calls``), validated at the edge.

pydantic models with the limits of spec/VOICE-API.md §5 in ``Field(...)``; the
SDK quirks the spec lists are accepted (a bare string for ``from``, ``answer_url``,
``event_url`` or ``stream_url``; ``level`` as a number or a numeric string). The
endpoint in ``to`` and the NCCO are validated by :mod:`trunkline.ncco`, so their
errors point exactly where the NCCO engine would. :func:`invalid_parameters` turns
any of these errors into the ``invalid_parameters`` list of a problem document.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from trunkline.ncco import NccoIssue

Method = Annotated[
    Literal["GET", "POST"], BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v)
]
CALL_STATUSES = (
    "started",
    "ringing",
    "answered",
    "machine",
    "completed",
    "busy",
    "cancelled",
    "failed",
    "rejected",
    "timeout",
    "unanswered",
)


def _as_list(value: Any) -> Any:
    """The SDKs send URL arrays; curl examples send bare strings. Accept both."""
    return [value] if isinstance(value, str) else value


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise PydanticCustomError("url", "must be an http(s) URL")
    return value


Url = Annotated[str, Field(min_length=1, max_length=2048)]
UrlList = Annotated[list[Url], BeforeValidator(_as_list), Field(min_length=1, max_length=1)]


def _level(value: Any) -> Any:
    """``level`` is a string in the OpenAPI document and a number from the Python SDK."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise PydanticCustomError("level", "must be a number from -1 to 1") from None
    return value


Level = Annotated[float, BeforeValidator(_level), Field(ge=-1, le=1)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class FromPhone(_Body):
    type: Literal["phone"] = "phone"
    number: str = Field(min_length=1, max_length=256)


def _from(value: Any) -> Any:
    """The Python SDK may send ``"from": "sip:…"``; make it an endpoint."""
    if isinstance(value, str):
        return {"type": "phone", "number": value}
    return value


class AdvancedMachineDetection(_Body):
    behavior: Literal["continue", "hangup"] = "continue"
    mode: Literal["default", "detect", "detect_beep"] = "detect"
    beep_timeout: int = Field(45, ge=45, le=120)


class CreateCall(_Body):
    """``POST /v1/calls`` (spec §5.2). ``to`` and ``ncco`` stay raw: the NCCO parser checks them."""

    to: list[dict[str, Any]] = Field(min_length=1, max_length=1)
    from_: Annotated[FromPhone | None, BeforeValidator(_from)] = Field(None, alias="from")
    random_from_number: bool = False
    ncco: list[Any] | None = Field(None, min_length=1)
    answer_url: UrlList | None = None
    answer_method: Method = "GET"
    event_url: UrlList | None = None
    event_method: Method = "POST"
    machine_detection: Literal["continue", "hangup"] | None = None
    advanced_machine_detection: AdvancedMachineDetection | None = None
    length_timer: int = Field(7200, ge=1, le=86400)
    ringing_timer: int = Field(60, ge=1, le=120)

    @field_validator("answer_url", "event_url")
    @classmethod
    def _urls(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for url in value:
                _url(url)
        return value

    @model_validator(mode="after")
    def _exclusive(self) -> CreateCall:
        if (self.ncco is None) == (self.answer_url is None):
            raise PydanticCustomError("exclusive", "give exactly one of ncco and answer_url")
        if (self.from_ is None) == (not self.random_from_number):
            raise PydanticCustomError(
                "exclusive", "give exactly one of from and random_from_number: true"
            )
        return self


class NccoDestination(_Body):
    type: Literal["ncco"]
    ncco: list[Any] | None = Field(None, min_length=1)
    url: UrlList | None = None

    @model_validator(mode="after")
    def _one(self) -> NccoDestination:
        if (self.ncco is None) == (self.url is None):
            raise PydanticCustomError("exclusive", "give exactly one of ncco and url")
        if self.url is not None:
            _url(self.url[0])
        return self


class ModifyCall(_Body):
    """``PUT /v1/calls/{uuid}`` (spec §5.5)."""

    action: Literal["hangup", "mute", "unmute", "earmuff", "unearmuff", "transfer"]
    destination: NccoDestination | None = None

    @model_validator(mode="after")
    def _destination(self) -> ModifyCall:
        if self.action == "transfer" and self.destination is None:
            raise PydanticCustomError("destination", "transfer needs a destination")
        return self


class TalkBody(_Body):
    """``PUT /v1/calls/{uuid}/talk`` (spec §5.7)."""

    text: str = Field(min_length=1, max_length=3000)
    language: str = Field("en-US", min_length=2, max_length=16)
    style: int = Field(0, ge=0, le=100)
    premium: bool = False
    loop: int = Field(1, ge=0, le=1000)
    level: Level = 0.0
    voice_name: str | None = None


class StreamBody(_Body):
    """``PUT /v1/calls/{uuid}/stream`` (spec §5.6)."""

    stream_url: UrlList
    loop: int = Field(1, ge=0, le=1000)
    level: Level = 0.0

    @field_validator("stream_url")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            _url(url)
        return value


class DtmfBody(_Body):
    """``PUT /v1/calls/{uuid}/dtmf`` (spec §5.8)."""

    digits: str = Field(min_length=1, max_length=256, pattern=r"^[0-9*#pA-Da-d]+$")


class ListQuery(_Body):
    """``GET /v1/calls`` query (spec §5.3)."""

    status: Literal[CALL_STATUSES] | None = None  # type: ignore[valid-type]
    date_start: str | None = None
    date_end: str | None = None
    page_size: int = Field(10, ge=1, le=100)
    record_index: int = Field(0, ge=0)
    order: Literal["asc", "desc"] = "asc"
    conversation_uuid: str | None = None


# -- errors as invalid_parameters -------------------------------------------------------


def invalid_parameters(exc: ValidationError) -> list[dict[str, str]]:
    """One ``{name, reason}`` per pydantic error; ``name`` is the dotted field path."""
    params = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"] if not _is_tag(p)]
        name = _dotted(loc) or "body"
        if err["type"] == "exclusive":
            name = "ncco" if "ncco" in err["msg"] and "answer_url" in err["msg"] else name
            if "random_from_number" in err["msg"]:
                name = "from"
            if "ncco and url" in err["msg"]:
                name = _dotted([*loc, "url"]) if loc else "destination"
        params.append({"name": name, "reason": _reason(err)})
    return params


def ncco_parameters(prefix: str, issues: list[NccoIssue] | list[object]) -> list[dict[str, str]]:
    """NCCO/endpoint issues as ``invalid_parameters`` named ``prefix`` + JSON pointer path."""
    params = []
    for issue in issues:
        if isinstance(issue, NccoIssue):
            parts = [p for p in issue.pointer.split("/") if p]
            params.append({"name": _dotted([prefix, *parts]), "reason": issue.message})
        else:
            params.append({"name": prefix, "reason": str(issue)})
    return params


def _is_tag(part: object) -> bool:
    return isinstance(part, str) and (part.startswith("function-") or "[" in part)


def _dotted(parts: list[str]) -> str:
    out = ""
    for part in parts:
        if part.isdigit():
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else part
    return out


def _reason(err: Any) -> str:
    if err["type"] == "missing":
        return "is required"
    if err["type"] == "literal_error":
        return str(err["msg"]).replace("Input should be", "must be")
    return str(err["msg"]).removeprefix("Value error, ")


def parse_json(raw: bytes) -> Any:
    """The request body as JSON; ``{}`` when empty. Raises ``ValueError`` when not JSON."""
    if not raw.strip():
        return {}
    return json.loads(raw)
