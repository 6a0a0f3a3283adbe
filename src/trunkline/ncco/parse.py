"""Parse NCCO documents (already-decoded JSON, or JSON text) into typed actions.

Each action is validated on its own, so every error of the document is reported — not just
the first — with a JSON pointer into the document as sent (``/1/endpoint/0/number``).
Parsing runs on every answer webhook; the validators are built once, at import.
"""

import json
from collections.abc import Mapping
from typing import Any, NoReturn

from pydantic import ValidationError

from trunkline.errors import NccoError
from trunkline.ncco.endpoints import Endpoint
from trunkline.ncco.issues import NccoIssue, ParsedNcco, issues_from_validation
from trunkline.ncco.lint import barge_in_warnings, lint_action
from trunkline.ncco.models import (
    ACTION_ADAPTERS,
    ACTION_TYPES,
    ENDPOINT_ADAPTER,
    UNSUPPORTED_ACTIONS,
    Action,
    is_legacy_input,
)

_ACTION_NAMES = ", ".join(ACTION_TYPES)


def _fail(pointer: str, message: str) -> NoReturn:
    raise NccoError([NccoIssue(pointer, message, None)])


def _action_name(raw: Mapping[str, Any], pointer: str) -> tuple[str | None, NccoIssue | None]:
    """The action's name if it is one trunkline runs; otherwise the issue to report."""
    name = raw.get("action")
    where = f"{pointer}/action"
    if name is None:
        return None, NccoIssue(where, "is required", None)
    if not isinstance(name, str):
        return None, NccoIssue(where, f"must be a string naming the action ({_ACTION_NAMES})", None)
    if name in ACTION_ADAPTERS:
        return name, None
    if name in UNSUPPORTED_ACTIONS:
        return None, NccoIssue(where, f"unsupported action '{name}'", name)
    return None, NccoIssue(
        where, f"unknown action '{name}' (expected one of {_ACTION_NAMES})", None
    )


def parse_ncco(data: object) -> ParsedNcco:
    """Validate an NCCO, already decoded from JSON, into typed actions.

    Raises :class:`trunkline.errors.NccoError` listing every error (``issues``) and the
    warnings found so far (``warnings``) when the document is invalid.
    """
    if not isinstance(data, list):
        _fail("", "an NCCO must be a JSON array of actions")
    if not data:
        _fail("", "an NCCO must contain at least one action")
    actions: list[Action] = []
    errors: list[NccoIssue] = []
    warnings: list[NccoIssue] = []
    for index, raw in enumerate(data):
        pointer = f"/{index}"
        if not isinstance(raw, dict):
            errors.append(NccoIssue(pointer, "must be an object with an 'action'", None))
            continue
        name, problem = _action_name(raw, pointer)
        if name is None:
            if problem is not None:
                errors.append(problem)
            continue
        warnings.extend(lint_action(raw, name, pointer))
        try:
            actions.append(ACTION_ADAPTERS[name].validate_python(raw))
        except ValidationError as exc:
            legacy = name == "input" and is_legacy_input(raw)
            errors.extend(issues_from_validation(exc, raw, pointer, name, legacy=legacy))
    if errors:
        raise NccoError([*errors], [*warnings])
    warnings.extend(barge_in_warnings(actions))
    return ParsedNcco(tuple(actions), tuple(warnings))


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def parse_ncco_json(text: str | bytes) -> ParsedNcco:
    """Decode JSON text (``bytes`` in UTF-8/16/32) and :func:`parse_ncco` it.

    Invalid JSON (including ``NaN``/``Infinity``) raises :class:`NccoError` with pointer ``""``.
    """
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        _fail("", f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except UnicodeDecodeError:
        _fail("", "invalid JSON: the text is not valid UTF-8")
    except RecursionError:
        _fail("", "invalid JSON: nested too deeply")
    except ValueError as exc:
        _fail("", f"invalid JSON: {exc}")
    return parse_ncco(data)


def parse_endpoint(data: object, pointer: str = "") -> Endpoint:
    """Validate one endpoint object (a ``connect`` endpoint, or a REST call's ``to``).

    ``pointer`` says where the object sits in the request, for the error pointers.
    Raises :class:`NccoError` when it is invalid.
    """
    if not isinstance(data, dict):
        _fail(pointer, "must be an object with a 'type'")
    try:
        endpoint: Endpoint = ENDPOINT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise NccoError([*issues_from_validation(exc, data, pointer, None)]) from None
    return endpoint
