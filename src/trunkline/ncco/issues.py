"""What the parser reports: issues pointing into the NCCO, and the parse result.

pydantic's errors are translated here: its ``loc`` tuples become RFC 6901 JSON pointers
into the document as the application sent it (union tag names that pydantic inserts are
dropped, legacy ``input`` settings point where they were written), and its messages
become the short "must be …" phrases a Vonage user expects.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from trunkline.ncco.endpoints import ENDPOINT_TYPES
from trunkline.ncco.fields import RULE_ERROR
from trunkline.ncco.models import Action


@dataclass(frozen=True)
class NccoIssue:
    """One problem (error or warning) at one place in an NCCO."""

    pointer: str
    """RFC 6901 JSON pointer into the NCCO (``/1/endpoint/0/number``); ``""`` = whole document."""
    message: str
    """What was expected, e.g. ``must be a phone number of 7 to 15 digits``."""
    action: str | None = None
    """The name of the action at fault, when known (``connect``)."""

    def __str__(self) -> str:
        where = self.pointer or "(document)"
        if self.action:
            where = f"{where} ({self.action})"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class ParsedNcco:
    """A valid NCCO: its actions, and the warnings found on the way."""

    actions: tuple[Action, ...]
    warnings: tuple[NccoIssue, ...]


def escape(token: str) -> str:
    """Escape one JSON pointer reference token (RFC 6901 §3)."""
    if "~" in token or "/" in token:
        return token.replace("~", "~0").replace("/", "~1")
    return token


_ENDPOINT_TAGS = ", ".join(f"'{tag}'" for tag in ENDPOINT_TYPES)

_MESSAGES = {
    "missing": "is required",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "tuple_type": "must be an array",
    "list_type": "must be an array",
    "dict_type": "must be an object",
    "dataclass_type": "must be an object",
    "dataclass_args_type": "must be an object",
    "model_attributes_type": "must be an object",
    "model_type": "must be an object",
    "union_tag_invalid": f"must be one of {_ENDPOINT_TAGS}",
    "union_tag_not_found": f"is required: one of {_ENDPOINT_TAGS}",
}


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"must be {expected}" if expected else "is not an allowed value"
    message = _MESSAGES.get(kind)
    if message is not None:
        return message
    text = error["msg"]
    if text.startswith("Input should be "):
        return "must be " + text.removeprefix("Input should be ")
    return text.removeprefix("Value error, ")


def _location(error: ErrorDetails, legacy: bool) -> tuple[int | str, ...]:
    loc = tuple(error["loc"])
    if legacy and len(loc) > 1 and loc[0] == "dtmf":
        loc = loc[1:]  # legacy settings were written at the top level of the action
    ctx = error.get("ctx")
    if error["type"] == RULE_ERROR and ctx and ctx.get("at"):
        loc += (str(ctx["at"]),)
    elif error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc += ("type",)
    return loc


def pointer_for(raw: object, loc: Iterable[int | str], prefix: str = "") -> str:
    """Turn a pydantic ``loc`` into a JSON pointer into ``raw``, the data as sent.

    ``raw`` is walked alongside ``loc`` so that what pydantic adds and the document does
    not contain is left out: union tags (``("endpoint", 0, "phone", "number")`` is
    ``/endpoint/0/number``) and the index it gives a bare string accepted as a one-item
    array.
    """
    parts = [prefix]
    current: Any = raw
    for part in loc:
        if isinstance(current, Mapping):
            if isinstance(part, str) and part not in current and part == current.get("type"):
                continue  # the tag of a discriminated union
            parts.append(escape(str(part)))
            current = current.get(part)
        elif isinstance(current, list | tuple):
            parts.append(escape(str(part)))
            in_range = isinstance(part, int) and 0 <= part < len(current)
            current = current[part] if isinstance(part, int) and in_range else None
        elif isinstance(part, int):
            continue  # an index into a scalar that was accepted as a one-item array
        else:
            parts.append(escape(part))
            current = None
    return "/".join(parts)


def issues_from_validation(
    exc: ValidationError,
    raw: object,
    prefix: str,
    action: str | None,
    *,
    legacy: bool = False,
) -> list[NccoIssue]:
    """The issues of one validation failure of ``raw`` (found at ``prefix`` in the NCCO)."""
    issues: list[NccoIssue] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors(include_url=False):
        pointer = pointer_for(raw, _location(error, legacy), prefix)
        message = _message(error)
        if (pointer, message) not in seen:
            seen.add((pointer, message))
            issues.append(NccoIssue(pointer, message, action))
    return issues
