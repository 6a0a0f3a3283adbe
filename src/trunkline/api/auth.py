"""Who is asking: application JWTs (RS256) and account basic auth (spec/VOICE-API.md §6.1).

Every ``/v1/calls`` request carries ``Authorization: Bearer <JWT>`` signed with the
application's private key. PyJWT does the cryptography; this module decides what a
valid token is, the way Vonage does:

* the header's ``alg`` is ``RS256`` and nothing else (``none`` and HS256 signed with
  the public key as an HMAC secret are refused before any key is touched);
* ``application_id`` names an application that has a public key;
* ``iat``, ``jti`` and ``exp`` are present; ``exp`` is in the future, ``iat`` is not in
  the future (both with :attr:`Authenticator.leeway`), and a token lives at most 24 h.

The Application and Numbers APIs also take ``Authorization: Basic`` with the account's
API key and secret, as Vonage does. Time is an input (``now``), so tests can move it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from trunkline.domain import Application
from trunkline.errors import TrunklineError
from trunkline.store.base import Store

#: Longest life Vonage allows a token (``exp - iat``).
MAX_LIFETIME = 24 * 3600
#: Clock skew tolerated on ``iat``/``exp``/``nbf``.
LEEWAY = 30.0


class AuthError(TrunklineError):
    """The request's credentials are missing or wrong (401)."""


class RateLimited(TrunklineError):
    """Too many requests for the application's limit (429)."""


@dataclass(frozen=True)
class Account:
    """The account's API key and secret (basic auth for the Application and Numbers APIs)."""

    api_key: str
    api_secret: str


class Authenticator:
    """Checks credentials against the store's applications and the configured account."""

    def __init__(
        self,
        store: Store,
        *,
        account: Account | None = None,
        now: Callable[[], float] = time.time,
        leeway: float = LEEWAY,
    ) -> None:
        self.store = store
        self.account = account
        self.now = now
        self.leeway = leeway
        self._keys: dict[str, tuple[str, RSAPublicKey]] = {}
        self._created: dict[str, deque[float]] = {}

    # -- application JWT ---------------------------------------------------------------
    def application(self, authorization: str | None) -> Application:
        """The application whose valid JWT is in ``authorization``; else :class:`AuthError`."""
        token = _bearer(authorization)
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError(f"The token is not a JWT: {exc}") from None
        if header.get("alg") != "RS256":
            raise AuthError(f"The token must be signed with RS256, not {header.get('alg')!r}")
        app_id = claims.get("application_id")
        if not isinstance(app_id, str) or not app_id:
            raise AuthError("The token has no application_id claim")
        app = self.store.get_application(app_id)
        if app is None or not app.public_key:
            raise AuthError(f"Application {app_id} does not exist or has no public key")
        self._verify(token, app)
        return app

    def _verify(self, token: str, app: Application) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public_key(app),
                algorithms=["RS256"],
                # times are checked below against our own clock (an input), not PyJWT's
                options={
                    "require": ["iat", "jti", "exp"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                },
            )
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"The token has no {exc.claim} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthError("The token's signature does not match the application") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"The token is invalid: {exc}") from None
        now = self.now()
        iat, exp, nbf = claims["iat"], claims["exp"], claims.get("nbf", 0)
        if not all(_is_number(v) for v in (iat, exp, nbf)):
            raise AuthError("iat, exp and nbf must be numbers")
        if exp <= now - self.leeway:
            raise AuthError("The token has expired")
        if iat > now + self.leeway or nbf > now + self.leeway:
            raise AuthError("The token is not valid yet (iat or nbf in the future)")
        if exp - iat > MAX_LIFETIME:
            raise AuthError("The token lives longer than 24 hours")
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise AuthError("The token's jti must be a non-empty string")
        return claims

    def _public_key(self, app: Application) -> RSAPublicKey:
        pem = app.public_key or ""
        cached = self._keys.get(app.id)
        if cached is not None and cached[0] == pem:
            return cached[1]
        try:
            key = load_pem_public_key(pem.encode())
        except ValueError:
            raise AuthError(f"Application {app.id} has an unreadable public key") from None
        if not isinstance(key, RSAPublicKey):
            raise AuthError(f"Application {app.id}'s public key is not an RSA key")
        self._keys[app.id] = (pem, key)
        return key

    # -- account -------------------------------------------------------------------------
    def account_or_application(self, authorization: str | None) -> None:
        """Basic auth with the account key/secret, or any application's valid JWT."""
        if authorization and authorization[:6].lower() == "basic ":
            self.basic(authorization)
            return
        self.application(authorization)

    def basic(self, authorization: str | None) -> None:
        """Check ``Basic base64(key:secret)``; :class:`AuthError` when it is not the account's."""
        if not authorization or authorization[:6].lower() != "basic ":
            raise AuthError("Basic authentication with the account API key and secret required")
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise AuthError("The basic credentials are not base64 'key:secret'") from None
        key, sep, secret = decoded.partition(":")
        acct = self.account
        if (
            not sep
            or acct is None
            or not hmac.compare_digest(key.encode(), acct.api_key.encode())
            or not hmac.compare_digest(secret.encode(), acct.api_secret.encode())
        ):
            raise AuthError("The API key or secret is wrong")

    def credentials(self, api_key: str | None, api_secret: str | None) -> None:
        """``api_key``/``api_secret`` given as parameters (the legacy REST APIs allow it)."""
        acct = self.account
        if (
            acct is None
            or api_key is None
            or api_secret is None
            or not hmac.compare_digest(api_key.encode(), acct.api_key.encode())
            or not hmac.compare_digest(api_secret.encode(), acct.api_secret.encode())
        ):
            raise AuthError("The API key or secret is wrong")

    # -- rate limit ------------------------------------------------------------------------
    def admit_call(self, app: Application, *, window: float = 1.0) -> None:
        """Count one call creation; :class:`RateLimited` beyond ``app.call_rate_limit``/s."""
        limit = app.call_rate_limit
        if limit is None:
            return
        now = self.now()
        times = self._created.setdefault(app.id, deque())
        while times and times[0] <= now - window:
            times.popleft()
        if len(times) >= limit * window:
            raise RateLimited("Please wait, then retry your request")
        times.append(now)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("You did not provide correct credentials (Authorization: Bearer <JWT>)")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("You did not provide correct credentials (Authorization: Bearer <JWT>)")
    return token.strip()
