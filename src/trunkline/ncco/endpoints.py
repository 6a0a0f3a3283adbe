"""Endpoints a ``connect`` action (or a REST ``to``) can reach (VOICE-API.md §2.7).

Each endpoint is a frozen pydantic dataclass told apart by its ``type`` tag. Wire names
are validation aliases (``dtmfAnswer``); the snake_case names the Node SDK sends in REST
bodies (``dtmf_answer``, ``content_type``, ``standard_headers``) are accepted too.
"""

from typing import Annotated, Any, Literal, Self, TypeAlias

from pydantic import AfterValidator, AliasChoices, BeforeValidator, Field, model_validator
from pydantic.dataclasses import dataclass

from trunkline.ncco.fields import (
    NCCO_CONFIG,
    DigitText,
    DtmfDigits,
    HttpUrl,
    NonEmptyStr,
    PhoneNumber,
    SipUri,
    WsUrl,
    one_of,
    rule_error,
)

#: Audio formats a websocket endpoint may ask for.
WEBSOCKET_CONTENT_TYPES = ("audio/l16;rate=8000", "audio/l16;rate=16000", "audio/l16;rate=24000")

_MAX_CUSTOM_AUTHORIZATION = 8191  # Java SDK limit for a custom Authorization value
_MAX_USER_TO_USER = 256  # RFC 7433 header value as limited by Vonage


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class OnAnswer:
    """NCCO fetched from ``url`` and run on the callee leg before it joins the call."""

    url: HttpUrl
    ringback_tone: HttpUrl | None = Field(
        default=None,
        validation_alias=AliasChoices("ringbackTone", "ringback_tone", "ringback"),
        serialization_alias="ringbackTone",
    )


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class PhoneEndpoint:
    """A PSTN number; ``number`` is stored as E.164 digits without ``+``."""

    type: Literal["phone"]
    number: PhoneNumber
    dtmf_answer: DtmfDigits | None = Field(
        default=None, validation_alias="dtmfAnswer", serialization_alias="dtmfAnswer"
    )
    on_answer: OnAnswer | None = Field(
        default=None, validation_alias="onAnswer", serialization_alias="onAnswer"
    )
    shaken: str | None = None


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class AppEndpoint:
    """A Client SDK user of the application."""

    type: Literal["app"]
    user: NonEmptyStr


def _content_type(value: object) -> object:
    # "audio/L16; rate=16000" and "audio/l16;rate=16000" mean the same thing.
    return value.replace(" ", "").lower() if isinstance(value, str) else value


def _authorization(value: dict[str, Any]) -> dict[str, Any]:
    kind = value.get("type", "vonage")
    if kind not in ("vonage", "custom"):
        raise rule_error("must be 'vonage' or 'custom'", at="type")
    if kind == "custom":
        secret = value.get("value")
        if not isinstance(secret, str) or not secret:
            raise rule_error("is required when type is 'custom'", at="value")
        if len(secret) > _MAX_CUSTOM_AUTHORIZATION or not secret.isprintable():
            raise rule_error(
                f"must be printable text of at most {_MAX_CUSTOM_AUTHORIZATION} characters",
                at="value",
            )
    return {**value, "type": kind}


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class WebsocketEndpoint:
    """A websocket server that receives and sends the call's 16-bit linear PCM audio.

    ``headers`` is arbitrary JSON metadata sent in the first text message;
    ``authorization`` is ``{"type": "vonage"}`` (a JWT) or ``{"type": "custom", "value": …}``.
    """

    type: Literal["websocket"]
    uri: WsUrl
    content_type: Annotated[
        str, BeforeValidator(_content_type), one_of(*WEBSOCKET_CONTENT_TYPES)
    ] = Field(
        default="audio/l16;rate=16000",
        validation_alias=AliasChoices("content-type", "contentType", "content_type"),
        serialization_alias="content-type",
    )
    headers: dict[str, Any] = Field(default_factory=dict)
    authorization: Annotated[dict[str, Any], AfterValidator(_authorization)] | None = None


def _standard_headers(value: dict[str, str]) -> dict[str, str]:
    for key, text in value.items():
        if key != "User-to-User":
            raise rule_error("only 'User-to-User' is allowed", at=key)
        if len(text) > _MAX_USER_TO_USER:
            raise rule_error(f"must be at most {_MAX_USER_TO_USER} characters", at=key)
    return value


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class SipEndpoint:
    """A SIP destination: either ``uri``, or ``user`` at the trunk named by ``domain``.

    ``headers`` are sent as ``X-<key>`` headers; ``standard_headers`` only carries
    ``User-to-User`` (RFC 7433), sent unprefixed.
    """

    type: Literal["sip"]
    uri: SipUri | None = None
    user: NonEmptyStr | None = None
    domain: NonEmptyStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    standard_headers: Annotated[dict[str, str], AfterValidator(_standard_headers)] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("standardHeaders", "standard_headers"),
        serialization_alias="standardHeaders",
    )

    @model_validator(mode="after")
    def _uri_or_user_at_domain(self) -> Self:
        if self.uri is not None:
            if self.user is not None or self.domain is not None:
                raise rule_error("must not be given together with 'user' and 'domain'", at="uri")
        elif self.user is None and self.domain is None:
            raise rule_error("is required (or 'user' and 'domain')", at="uri")
        elif self.domain is None:
            raise rule_error("is required together with 'user'", at="domain")
        elif self.user is None:
            raise rule_error("is required together with 'domain'", at="user")
        return self


@dataclass(frozen=True, config=NCCO_CONFIG, kw_only=True)
class VbcEndpoint:
    """A Vonage Business Cloud extension."""

    type: Literal["vbc"]
    extension: DigitText


Endpoint: TypeAlias = PhoneEndpoint | AppEndpoint | WebsocketEndpoint | SipEndpoint | VbcEndpoint
"""Any endpoint; ``type`` tells them apart."""

AnyEndpoint = Annotated[Endpoint, Field(discriminator="type")]
""":data:`Endpoint` as a field type, discriminated by ``type``."""

#: Endpoint classes by their ``type`` tag.
ENDPOINT_TYPES: dict[str, type[Endpoint]] = {
    "phone": PhoneEndpoint,
    "app": AppEndpoint,
    "websocket": WebsocketEndpoint,
    "sip": SipEndpoint,
    "vbc": VbcEndpoint,
}
