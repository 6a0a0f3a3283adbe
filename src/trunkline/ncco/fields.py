"""Field types shared by the NCCO models.

Each public name here is an ``Annotated`` alias (or a factory of validator metadata): the
Python type the engine sees plus the validators that word errors the way a Vonage user
reads them ("must be an integer between 1 and 20") instead of pydantic's defaults.

Validation is lax, like Vonage: numbers may arrive as strings (``"timeout": "10"``) and
booleans as ``"true"``/``"false"``. Booleans are *not* accepted where a number is
expected (``"loop": true`` is an error rather than a silent ``1``).
"""

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

#: Configuration of every NCCO model: wire names (``bargeIn``) and Python names
#: (``barge_in``) are both accepted, unknown keys are ignored (the parser warns about
#: them), and ``NaN``/``Infinity`` are never numbers.
NCCO_CONFIG = ConfigDict(populate_by_name=True, extra="ignore", allow_inf_nan=False)

#: Error type of the rules this package adds; ``ctx["at"]`` (when present) names the key,
#: in the object that raised, that the error points at.
RULE_ERROR = "ncco_rule"


def rule_error(message: str, at: str = "") -> PydanticCustomError:
    """An NCCO validation error; ``at`` is the key of the current object it points at."""
    return PydanticCustomError(RULE_ERROR, message, {"at": at} if at else None)


def _num(value: float) -> str:
    return f"{value:g}"


def _limits(lo: float | None, hi: float | None, noun: str) -> str:
    if lo is not None and hi is not None:
        return f"must be {noun} between {_num(lo)} and {_num(hi)}"
    if lo is not None:
        return f"must be {noun} of at least {_num(lo)}"
    if hi is not None:
        return f"must be {noun} of at most {_num(hi)}"
    return f"must be {noun}"


def between(lo: float | None, hi: float | None, *, integer: bool = False) -> WrapValidator:
    """Validator metadata: a number (``integer``: a whole number) within ``[lo, hi]``."""
    message = _limits(lo, hi, "an integer" if integer else "a number")

    def check(value: object, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, bool):
            raise rule_error(message)
        try:
            result = handler(value)
        except ValidationError:
            raise rule_error(message) from None
        if (lo is not None and result < lo) or (hi is not None and result > hi):
            raise rule_error(message)
        return result

    return WrapValidator(check)


def clamped(lo: float, hi: float) -> WrapValidator:
    """Validator metadata: any number, brought into ``[lo, hi]`` instead of rejected."""
    message = "must be a number"

    def clamp(value: object, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, bool):
            raise rule_error(message)
        try:
            result = handler(value)
        except ValidationError:
            raise rule_error(message) from None
        return min(max(result, lo), hi)

    return WrapValidator(clamp)


def _quote_choices(choices: tuple[str, ...]) -> str:
    quoted = [f"'{c}'" for c in choices]
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} or {quoted[1]}"
    return "one of " + ", ".join(quoted)


def one_of(*choices: str) -> AfterValidator:
    """Validator metadata: a string equal to one of ``choices``."""
    allowed = frozenset(choices)
    message = f"must be {_quote_choices(choices)}"

    def check(value: str) -> str:
        if value not in allowed:
            raise rule_error(message)
        return value

    return AfterValidator(check)


def matching(pattern: str, message: str, flags: int = 0) -> AfterValidator:
    """Validator metadata: a string that fully matches ``pattern``."""
    compiled = re.compile(pattern, flags)

    def check(value: str) -> str:
        if compiled.fullmatch(value) is None:
            raise rule_error(message)
        return value

    return AfterValidator(check)


def _not_empty(value: str) -> str:
    if not value.strip():
        raise rule_error("must not be empty")
    return value


def _number_as_text(value: object) -> object:
    """Accept a JSON number where a digit string is expected (``"number": 447700900001``)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


_PHONE = re.compile(r"[0-9]{7,15}")


def _phone_number(value: str) -> str:
    digits = value[1:] if value.startswith("+") else value
    if _PHONE.fullmatch(digits) is None:
        raise rule_error("must be a phone number of 7 to 15 digits (E.164, without '+')")
    return digits


def _strip_plus(value: str) -> str:
    if value.startswith("+") and value[1:].isdigit():
        return value[1:]
    return value


def _bare_url_to_tuple(value: object) -> object:
    # Vonage requires an array; a bare string is accepted and the parser warns about it.
    return (value,) if isinstance(value, str) else value


NonEmptyStr = Annotated[str, AfterValidator(_not_empty)]
"""A string with at least one non-blank character."""

HttpUrl = Annotated[
    str,
    matching(r"https?://[^\s/?#]+\S*", "must be an http:// or https:// URL", re.IGNORECASE),
]
"""An absolute ``http``/``https`` URL."""

WsUrl = Annotated[
    str, matching(r"wss?://[^\s/?#]+\S*", "must be a ws:// or wss:// URL", re.IGNORECASE)
]
"""An absolute ``ws``/``wss`` URL."""

SipUri = Annotated[str, matching(r"sips?:\S+", "must be a sip: or sips: URI", re.IGNORECASE)]
"""A ``sip:`` or ``sips:`` URI."""

UrlList = Annotated[tuple[HttpUrl, ...], BeforeValidator(_bare_url_to_tuple)]
"""``eventUrl``-like field: an array of URLs (a bare string is accepted as one URL)."""

StrList = tuple[str, ...]
"""An array of strings (leg uuids, hint phrases)."""

Method = Annotated[str, BeforeValidator(_upper), one_of("GET", "POST")]
"""An HTTP method for a webhook, ``GET`` or ``POST`` (any case on the wire)."""

PhoneNumber = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_phone_number)]
"""E.164 digits, 7 to 15 of them; a leading ``+`` is dropped, a JSON number accepted."""

CallerId = Annotated[
    str, BeforeValidator(_number_as_text), AfterValidator(_not_empty), AfterValidator(_strip_plus)
]
"""``connect``'s ``from``: a number (``+`` dropped) or, as Vonage's own samples do, a name."""

DigitText = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_not_empty)]
"""A non-empty string that may be written as a JSON number (a VBC extension)."""

Language = Annotated[
    str, matching(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", "must be a language code such as 'en-US'")
]
"""A BCP-47 language tag such as ``en-US`` or ``cmn-CN``."""

DtmfDigits = Annotated[
    str,
    BeforeValidator(_number_as_text),
    matching(r"[0-9*#p]+", "must contain only the keys 0-9, * and # and p (a 500 ms pause)"),
]
"""Digits to send on answer; ``p`` is a 500 ms pause."""

DtmfKey = Annotated[
    str, BeforeValidator(_number_as_text), matching(r"[0-9*#]", "must be one key: 0-9, * or #")
]
"""A single DTMF key."""
