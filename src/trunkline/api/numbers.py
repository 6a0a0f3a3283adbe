"""The subset of the Numbers API the SDK uses to link a number to an application.

``GET /account/numbers`` lists the numbers trunkline knows (from the config file, the
CLI or earlier updates) with the application each is linked to; ``POST /number/update``
(form-encoded, as the SDK sends it) links one to ``app_id`` or, with an empty
``app_id``, unlinks it. Both take the account's key and secret, as basic auth or as
``api_key``/``api_secret`` parameters. Answers follow the legacy REST API: HTTP 200
with ``error-code`` ``"200"`` on success; other codes name what went wrong.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.api.auth import Authenticator, AuthError
from trunkline.errors import NotFound, StoreError
from trunkline.store.base import Store

#: Country calling codes to ISO 3166 countries, longest prefix first (enough for tests
#: and common fictional ranges; anything else is reported as "XX").
_COUNTRIES = {
    "1": "US",
    "44": "GB",
    "49": "DE",
    "33": "FR",
    "34": "ES",
    "39": "IT",
    "31": "NL",
    "61": "AU",
    "65": "SG",
    "81": "JP",
    "353": "IE",
}


def country_of(number: str) -> str:
    for length in (3, 2, 1):
        code = _COUNTRIES.get(number[:length])
        if code is not None:
            return code
    return "XX"


def number_json(number: str, app_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "country": country_of(number),
        "msisdn": number,
        "type": "mobile-lvn",
        "features": ["VOICE"],
    }
    if app_id is not None:
        body["app_id"] = app_id
        body["voiceCallbackType"] = "app"
        body["voiceCallbackValue"] = app_id
    return body


class NumbersApi:
    def __init__(self, store: Store, auth: Authenticator) -> None:
        self.store = store
        self.auth = auth

    def routes(self) -> list[Route]:
        return [
            Route("/account/numbers", self.list, methods=["GET"]),
            Route("/number/update", self.update, methods=["POST"]),
        ]

    def _check(self, request: Request, params: dict[str, str]) -> Response | None:
        try:
            header = request.headers.get("authorization")
            if header:
                self.auth.basic(header)
            else:
                self.auth.credentials(params.get("api_key"), params.get("api_secret"))
        except AuthError as exc:
            return _status(401, "401", str(exc))
        return None

    async def list(self, request: Request) -> Response:
        params = dict(request.query_params)
        denied = self._check(request, params)
        if denied is not None:
            return denied
        try:
            size = int(params.get("size", "10"))
            index = int(params.get("index", "1"))
        except ValueError:
            return _status(400, "420", "size and index must be integers")
        if not (1 <= size <= 100 and index >= 1):
            return _status(400, "420", "size must be 1 to 100 and index at least 1")
        numbers = self.store.list_numbers()
        app_id = params.get("application_id")
        if app_id:
            numbers = [(n, a) for n, a in numbers if a == app_id]
        has_app = params.get("has_application")
        if has_app in ("true", "false"):
            numbers = [(n, a) for n, a in numbers if (a is not None) == (has_app == "true")]
        pattern = params.get("pattern")
        if pattern:
            strategy = params.get("search_pattern", "0")
            numbers = [(n, a) for n, a in numbers if _matches(n, pattern, strategy)]
        country = params.get("country")
        if country:
            numbers = [(n, a) for n, a in numbers if country_of(n) == country.upper()]
        page = numbers[(index - 1) * size : index * size]
        body: dict[str, Any] = {"count": len(numbers)}
        if page or math.ceil(len(numbers) / size) >= index:
            body["numbers"] = [number_json(n, a) for n, a in page]
        return JSONResponse(body)

    async def update(self, request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", "replace")
        params = dict(parse_qsl(raw, keep_blank_values=True))
        params.update({k: v for k, v in request.query_params.items() if k not in params})
        denied = self._check(request, params)
        if denied is not None:
            return denied
        msisdn = params.get("msisdn", "").lstrip("+")
        if not msisdn or not params.get("country"):
            return _status(400, "420", "country and msisdn are required")
        known = dict(self.store.list_numbers())
        if msisdn not in known:
            return _status(200, "420", f"Number {msisdn} is not known to this trunkline")
        app_id = params.get("app_id") or None
        try:
            self.store.link_number(msisdn, app_id)
        except NotFound:
            return _status(200, "420", f"Application {app_id} does not exist")
        except StoreError as exc:
            return _status(200, "420", str(exc))
        return _status(200, "200", "success")


def _matches(number: str, pattern: str, strategy: str) -> bool:
    if strategy == "1":
        return pattern in number
    if strategy == "2":
        return number.endswith(pattern)
    return number.startswith(pattern)


def _status(http: int, code: str, label: str) -> Response:
    return JSONResponse({"error-code": code, "error-code-label": label}, status_code=http)
