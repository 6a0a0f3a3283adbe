"""HTTP Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616: MD5 and SHA-256).

Server side: :func:`make_challenge` issues a nonce that carries its own issue time and an
HMAC, so verifying needs no nonce table; :func:`verify` checks credentials against a
password (or a stored HA1) and the time the caller passes in — no clock is read here.

Client side: :class:`DigestAuth` answers 401/407 challenges; its :meth:`DigestAuth.auth_flow`
is a generator in the httpx style: it yields requests and is sent the responses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from enum import Enum

from trunkline.sip.errors import RemoteProtocolError
from trunkline.sip.message import Request, Response, make_response

__all__ = [
    "ALGORITHMS",
    "Challenge",
    "Credentials",
    "DigestAuth",
    "DigestServer",
    "Verdict",
    "challenge_response",
    "compute_ha1",
    "compute_response",
    "credentials_from",
    "make_challenge",
    "make_nonce",
    "parse_challenge",
    "parse_credentials",
    "verify",
]

#: Digest algorithm name -> hashlib name (RFC 7616 §3.2; the -sess variants are not offered).
ALGORITHMS = {"MD5": "md5", "SHA-256": "sha256"}


def _h(algorithm: str, text: str) -> str:
    return hashlib.new(ALGORITHMS[algorithm], text.encode("utf-8")).hexdigest()


def compute_ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """HA1 = H(username:realm:password) — what a registrar may store instead of passwords."""
    return _h(algorithm, f"{username}:{realm}:{password}")


def compute_response(
    algorithm: str,
    ha1: str,
    *,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
) -> str:
    """The request-digest (RFC 2617 §3.2.2.1; without qop, the RFC 2069 form)."""
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop is None:
        return _h(algorithm, f"{ha1}:{nonce}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


_AUTH_PARAM = re.compile(
    r'\s*([A-Za-z0-9\-.!%*_+`\'~]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]+)\s*(?:,|\Z)', re.S
)


def _parse(value: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        m = _AUTH_PARAM.match(rest, pos)
        if m is None:
            raise RemoteProtocolError(f"malformed auth parameters: {value[:80]!r}")
        name, raw = m.group(1).lower(), m.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        if name in params:
            raise RemoteProtocolError(f"auth parameter {name} given twice")
        params[name] = raw
        pos = m.end()
    return scheme, params


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Challenge:
    """A Digest challenge (WWW-Authenticate / Proxy-Authenticate)."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ("auth",)
    opaque: str | None = None
    stale: bool = False

    def __str__(self) -> str:
        parts = [f"realm={_quote(self.realm)}", f"nonce={_quote(self.nonce)}"]
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f"qop={_quote(','.join(self.qop))}")
        if self.stale:
            parts.append("stale=true")
        return "Digest " + ", ".join(parts)


def parse_challenge(value: str) -> Challenge | None:
    """Parse a challenge; ``None`` if it is not Digest. Malformed Digest raises (400)."""
    scheme, params = _parse(value)
    if scheme.lower() != "digest":
        return None
    if "realm" not in params or "nonce" not in params:
        raise RemoteProtocolError("Digest challenge without realm or nonce")
    qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=params.get("algorithm", "MD5"),
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
    )


@dataclass(frozen=True, slots=True)
class Credentials:
    """Digest credentials (Authorization / Proxy-Authorization)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None

    def __str__(self) -> str:
        parts = [
            f"username={_quote(self.username)}",
            f"realm={_quote(self.realm)}",
            f"nonce={_quote(self.nonce)}",
            f"uri={_quote(self.uri)}",
            f"response={_quote(self.response)}",
            f"algorithm={self.algorithm}",
        ]
        if self.qop is not None:
            parts += [f"qop={self.qop}", f"nc={self.nc}", f"cnonce={_quote(self.cnonce or '')}"]
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        return "Digest " + ", ".join(parts)


def parse_credentials(value: str) -> Credentials | None:
    """Parse credentials; ``None`` if not Digest (RFC 4475 §3.3.7: re-challenge then)."""
    scheme, params = _parse(value)
    if scheme.lower() != "digest":
        return None
    try:
        return Credentials(
            username=params["username"],
            realm=params["realm"],
            nonce=params["nonce"],
            uri=params["uri"],
            response=params["response"],
            algorithm=params.get("algorithm", "MD5"),
            qop=params.get("qop"),
            nc=params.get("nc"),
            cnonce=params.get("cnonce"),
            opaque=params.get("opaque"),
        )
    except KeyError as exc:
        raise RemoteProtocolError(f"Digest credentials without {exc.args[0]}") from None


# --------------------------------------------------------------------------- server


def make_nonce(secret: bytes, issued_at: int, salt: bytes) -> str:
    """A self-verifying nonce: issue time, caller-supplied random salt, HMAC-SHA256 of both."""
    body = issued_at.to_bytes(8, "big") + salt
    mac = hmac.new(secret, body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(body + mac).decode("ascii").rstrip("=")


def _nonce_issued_at(secret: bytes, nonce: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
    except ValueError:
        return None
    if len(raw) < 8 + 16:
        return None
    body, mac = raw[:-16], raw[-16:]
    if not hmac.compare_digest(mac, hmac.new(secret, body, hashlib.sha256).digest()[:16]):
        return None
    return int.from_bytes(body[:8], "big")


def make_challenge(
    realm: str,
    *,
    secret: bytes,
    now: float,
    salt: bytes,
    algorithm: str = "MD5",
    stale: bool = False,
    opaque: str | None = None,
) -> Challenge:
    """A challenge whose nonce was issued at ``now`` (the caller's clock, as data)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm}")
    nonce = make_nonce(secret, int(now), salt)
    return Challenge(realm, nonce, algorithm, ("auth",), opaque, stale)


class Verdict(Enum):
    """Outcome of :func:`verify`."""

    OK = "ok"
    STALE = "stale"  # right password, expired nonce: re-challenge with stale=true
    INVALID = "invalid"  # wrong password, foreign nonce, wrong realm or URI: re-challenge


def verify(
    credentials: Credentials,
    *,
    method: str,
    realm: str,
    secret: bytes,
    now: float,
    password: str | None = None,
    ha1: str | None = None,
    nonce_ttl: float = 300.0,
    request_uri: str | None = None,
) -> Verdict:
    """Check credentials for ``method`` against ``password`` (or a stored ``ha1``).

    The nonce must be one of ours (HMAC) and younger than ``nonce_ttl`` seconds at ``now``;
    with ``request_uri``, the digest URI must equal it (RFC 2617 §3.2.2.5). Unknown users
    should be verified against a dummy password so that they look like wrong passwords.
    """
    if credentials.realm != realm or credentials.algorithm not in ALGORITHMS:
        return Verdict.INVALID
    if request_uri is not None and credentials.uri != request_uri:
        return Verdict.INVALID
    if credentials.qop not in (None, "auth"):
        return Verdict.INVALID
    if credentials.qop == "auth" and (not credentials.nc or not credentials.cnonce):
        return Verdict.INVALID
    issued = _nonce_issued_at(secret, credentials.nonce)
    if issued is None:
        return Verdict.INVALID
    if ha1 is None:
        if password is None:
            raise ValueError("verify needs a password or an HA1")
        ha1 = compute_ha1(credentials.algorithm, credentials.username, realm, password)
    expected = compute_response(
        credentials.algorithm,
        ha1,
        method=method,
        uri=credentials.uri,
        nonce=credentials.nonce,
        qop=credentials.qop,
        nc=credentials.nc,
        cnonce=credentials.cnonce,
    )
    if not hmac.compare_digest(expected, credentials.response.lower()):
        return Verdict.INVALID
    if not issued <= now < issued + nonce_ttl:
        return Verdict.STALE
    return Verdict.OK


def credentials_from(request: Request, *, proxy: bool = False) -> list[Credentials]:
    """Every Digest credential in Authorization (or Proxy-Authorization); others skipped."""
    name = "Proxy-Authorization" if proxy else "Authorization"
    found = (parse_credentials(v) for v in request.headers.get_all(name))
    return [c for c in found if c is not None]


def challenge_response(
    request: Request, challenges: list[Challenge], *, proxy: bool = False, to_tag: str
) -> Response:
    """The 401 (or 407 with ``proxy``) carrying ``challenges`` (§22.1, §22.3)."""
    status = 407 if proxy else 401
    name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    return make_response(
        request, status, to_tag=to_tag, headers=[(name, str(c)) for c in challenges]
    )


# --------------------------------------------------------------------------- client


class DigestAuth:
    """Answers Digest challenges for one set of credentials (a trunk or a SIP user).

    ``cnonce`` and ``branch`` supply the randomness (client nonces, the new Via branch of the
    re-sent request), so the flow itself stays pure and testable.
    """

    def __init__(
        self,
        username: str,
        password: str,
        *,
        cnonce: Callable[[], str],
        branch: Callable[[], str],
    ) -> None:
        self.username = username
        self.password = password
        self._cnonce = cnonce
        self._branch = branch
        self._nc: dict[str, int] = {}

    def authorization(self, request: Request, challenge: Challenge) -> Credentials:
        """Credentials answering ``challenge`` for ``request`` (nonce count kept per nonce)."""
        uri = str(request.uri)
        ha1 = compute_ha1(challenge.algorithm, self.username, challenge.realm, self.password)
        qop = "auth" if "auth" in challenge.qop else None
        nc = cnonce = None
        if qop is not None:
            count = self._nc.get(challenge.nonce, 0) + 1
            self._nc[challenge.nonce] = count
            nc, cnonce = f"{count:08x}", self._cnonce()
        response = compute_response(
            challenge.algorithm,
            ha1,
            method=request.method,
            uri=uri,
            nonce=challenge.nonce,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
        )
        return Credentials(
            self.username,
            challenge.realm,
            challenge.nonce,
            uri,
            response,
            challenge.algorithm,
            qop,
            nc,
            cnonce,
            challenge.opaque,
        )

    @staticmethod
    def _usable(response: Response) -> tuple[str, list[Challenge]]:
        header = "Proxy-Authenticate" if response.status == 407 else "WWW-Authenticate"
        out: list[Challenge] = []
        for value in response.headers.get_all(header):
            try:
                challenge = parse_challenge(value)
            except RemoteProtocolError:
                continue
            if challenge is None or challenge.algorithm not in ALGORITHMS:
                continue
            if challenge.qop and "auth" not in challenge.qop:
                continue
            out.append(challenge)
        # Prefer SHA-256 when offered (RFC 7616 §3.7), then the server's order.
        out.sort(key=lambda c: c.algorithm != "SHA-256")
        return header, out

    def retry(self, request: Request, response: Response) -> Request | None:
        """The request to send again after a 401/407, or ``None`` if it cannot be answered."""
        if response.status not in (401, 407):
            return None
        header, challenges = self._usable(response)
        if not challenges:
            return None
        auth_name = "Proxy-Authorization" if header == "Proxy-Authenticate" else "Authorization"
        headers = request.headers.copy()
        headers.remove(auth_name)
        # §22.2: same Call-ID, From tag; CSeq + 1; a new branch for the new transaction.
        via = request.via.with_params(branch=self._branch())
        vias = [str(via)] + [str(v) for v in request.vias[1:]]
        headers.remove("Via")
        for value in reversed(vias):
            headers.prepend("Via", value)
        headers.set("CSeq", f"{request.cseq.number + 1} {request.method}")
        again = Request(headers, request.body, request.method, request.uri)
        headers.add(auth_name, str(self.authorization(again, challenges[0])))
        return again

    def auth_flow(self, request: Request) -> Generator[Request, Response, None]:
        """Yield ``request``; after a 401/407, yield it again with credentials.

        A second challenge is answered only when it says the nonce went stale
        (RFC 2617 §3.2.1); otherwise the credentials are wrong and the flow ends, leaving
        the last response to the caller.
        """
        response = yield request
        again = self.retry(request, response)
        if again is None:
            return
        response = yield again
        if response.status in (401, 407) and any(c.stale for c in self._usable(response)[1]):
            final = self.retry(again, response)
            if final is not None:
                yield final


# --------------------------------------------------------------------------- server, replay-proof


class DigestServer:
    """Challenges and checks Digest credentials for one realm, refusing replays.

    Nonces are stateless (:func:`make_nonce`); what is kept is the highest nonce-count seen
    for each nonce still alive, so that a request replayed with a count already used is
    refused (RFC 2617 §3.2.2, RFC 7616 §3.4.6). Only ``qop=auth`` credentials are accepted:
    without a count there is nothing to stop a replay. The table forgets a nonce when it
    expires, so it holds at most the nonces issued in the last ``nonce_ttl`` seconds.
    """

    def __init__(
        self,
        realm: str,
        *,
        secret: bytes,
        nonce_ttl: float = 300.0,
        algorithm: str = "MD5",
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unsupported algorithm {algorithm}")
        self.realm = realm
        self.secret = secret
        self.nonce_ttl = nonce_ttl
        self.algorithm = algorithm
        self._counts: dict[str, tuple[int, float]] = {}  # nonce -> (highest nc, expires at)

    def challenge(self, now: float, salt: bytes, *, stale: bool = False) -> Challenge:
        """A fresh challenge (``stale`` when the client's password was right, RFC 2617 §3.2.1)."""
        return make_challenge(
            self.realm,
            secret=self.secret,
            now=now,
            salt=salt,
            algorithm=self.algorithm,
            stale=stale,
        )

    def check(
        self,
        request: Request,
        now: float,
        lookup: Callable[[str], str | None],
        *,
        proxy: bool = False,
    ) -> tuple[Verdict, str | None]:
        """Verify the request's credentials for this realm: the verdict and the username.

        No credentials for the realm, a foreign nonce, a wrong password, an unknown user
        or a replayed nonce-count are all :attr:`Verdict.INVALID` (challenge again); a right
        password on an expired nonce is :attr:`Verdict.STALE`.
        """
        self._forget(now)
        try:
            found = [c for c in credentials_from(request, proxy=proxy) if c.realm == self.realm]
        except RemoteProtocolError:
            return Verdict.INVALID, None
        if not found:
            return Verdict.INVALID, None
        creds = found[0]
        if creds.qop != "auth" or creds.nc is None:
            return Verdict.INVALID, creds.username
        try:
            count = int(creds.nc, 16)
        except ValueError:
            return Verdict.INVALID, creds.username
        password = lookup(creds.username)
        verdict = verify(
            creds,
            method=request.method,
            realm=self.realm,
            secret=self.secret,
            now=now,
            # An unknown user is checked against a password nobody has: same answer, same cost.
            password=password if password is not None else "\x00unknown\x00",
            nonce_ttl=self.nonce_ttl,
            request_uri=str(request.uri),
        )
        if verdict is not Verdict.OK:
            return verdict, creds.username
        if password is None:
            return Verdict.INVALID, creds.username
        seen = self._counts.get(creds.nonce, (0, 0.0))[0]
        if count <= seen:
            return Verdict.INVALID, creds.username  # replayed (or reordered) nonce-count
        issued = _nonce_issued_at(self.secret, creds.nonce)
        assert issued is not None  # verify() checked the HMAC
        self._counts[creds.nonce] = (count, issued + self.nonce_ttl)
        return Verdict.OK, creds.username

    def _forget(self, now: float) -> None:
        if self._counts:
            gone = [n for n, (_, expires) in self._counts.items() if expires <= now]
            for nonce in gone:
                del self._counts[nonce]

    @property
    def tracked(self) -> int:
        """How many nonces have counts remembered."""
        return len(self._counts)
