"""Digest authentication: RFC vectors, the server's nonce expiry, the client flow."""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkline.sip.auth import (
    Challenge,
    Credentials,
    DigestAuth,
    Verdict,
    challenge_response,
    compute_ha1,
    compute_response,
    credentials_from,
    make_challenge,
    parse_challenge,
    parse_credentials,
    verify,
)
from trunkline.sip.errors import RemoteProtocolError
from trunkline.sip.headers import Headers
from trunkline.sip.message import Request, Response, parse_datagram
from trunkline.sip.uri import SipUri

SECRET = b"registrar-secret"
REALM = "trunkline.example"


@pytest.mark.parametrize(
    ("algorithm", "realm", "password", "nonce", "cnonce", "expected"),
    [
        # RFC 2617 §3.5
        (
            "MD5",
            "testrealm@host.com",
            "Circle Of Life",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "0a4f113b",
            "6629fae49393a05397450978507c4ef1",
        ),
        # RFC 7616 §3.9.1, MD5 and SHA-256
        (
            "MD5",
            "http-auth@example.org",
            "Circle of Life",
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            "8ca523f5e9506fed4657c9700eebdbec",
        ),
        (
            "SHA-256",
            "http-auth@example.org",
            "Circle of Life",
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
    ],
)
def test_known_vectors(
    algorithm: str, realm: str, password: str, nonce: str, cnonce: str, expected: str
) -> None:
    ha1 = compute_ha1(algorithm, "Mufasa", realm, password)
    got = compute_response(
        algorithm,
        ha1,
        method="GET",
        uri="/dir/index.html",
        nonce=nonce,
        qop="auth",
        nc="00000001",
        cnonce=cnonce,
    )
    assert got == expected


def test_rfc7616_challenge_parses() -> None:
    value = (
        'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256,'
        ' nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",'
        ' opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    ch = parse_challenge(value)
    assert ch is not None
    assert (ch.realm, ch.algorithm, ch.qop) == (
        "http-auth@example.org",
        "SHA-256",
        ("auth", "auth-int"),
    )
    assert ch.opaque == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
    assert parse_challenge(str(ch)) == ch
    assert parse_challenge('Basic realm="x"') is None
    with pytest.raises(RemoteProtocolError):
        parse_challenge('Digest realm="x", nonce=')
    with pytest.raises(RemoteProtocolError):
        parse_challenge('Digest realm="x"')


def register(cseq: int = 1, auth: str | None = None) -> Request:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP phone.example:5060;branch=z9hG4bKr1"),
            ("From", "<sip:alice@trunkline.example>;tag=f1"),
            ("To", "<sip:alice@trunkline.example>"),
            ("Call-ID", "reg-1"),
            ("CSeq", f"{cseq} REGISTER"),
            ("Max-Forwards", "70"),
            ("Contact", "<sip:alice@192.0.2.10:5060>"),
        ]
    )
    if auth:
        headers.add("Authorization", auth)
    return Request(headers, b"", "REGISTER", SipUri("trunkline.example"))


class Registrar:
    """A tiny server built on the module: challenge, then verify at a given time."""

    def __init__(self, algorithm: str = "MD5") -> None:
        self.now = 1000.0
        self.salt = 0
        self.algorithm = algorithm

    def handle(self, request: Request) -> Response:
        creds = credentials_from(request)
        verdict = Verdict.INVALID
        if creds:
            verdict = verify(
                creds[0],
                method=request.method,
                realm=REALM,
                secret=SECRET,
                now=self.now,
                password="s3cret" if creds[0].username == "alice" else "x-unknown-user",
                request_uri=str(request.uri),
                nonce_ttl=60,
            )
        if verdict is Verdict.OK:
            from trunkline.sip.message import make_response

            return make_response(request, 200, to_tag="t")
        self.salt += 1
        challenge = make_challenge(
            REALM,
            secret=SECRET,
            now=self.now,
            salt=self.salt.to_bytes(4, "big"),
            algorithm=self.algorithm,
            stale=verdict is Verdict.STALE,
        )
        return challenge_response(request, [challenge], to_tag="t")


def run_flow(auth: DigestAuth, registrar: Registrar, request: Request) -> list[Response]:
    flow = auth.auth_flow(request)
    out = []
    sent = next(flow)
    while True:
        # Through the wire and back, so the headers are parsed as a peer would.
        reply = registrar.handle(_wire(sent))
        out.append(_wire(reply))
        try:
            sent = flow.send(out[-1])
        except StopIteration:
            return out


def _wire(msg: Request | Response) -> Request | Response:  # type: ignore[misc]
    return parse_datagram(bytes(msg))


def _auth(password: str = "s3cret") -> DigestAuth:
    counter = iter(range(1, 1000))
    return DigestAuth(
        "alice",
        password,
        cnonce=lambda: f"cn{next(counter)}",
        branch=lambda: f"z9hG4bKb{next(counter)}",
    )


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_client_answers_the_challenge_and_registers(algorithm: str) -> None:
    responses = run_flow(_auth(), Registrar(algorithm), register())
    assert [r.status for r in responses] == [401, 200]


def test_retried_request_is_a_new_transaction_in_the_same_dialog() -> None:
    auth = _auth()
    first = register()
    challenge = Registrar().handle(first)
    assert isinstance(challenge, Response)
    again = auth.retry(first, challenge)
    assert again is not None
    assert again.cseq.number == 2 and again.call_id == first.call_id
    assert again.via.branch != first.via.branch and again.from_ == first.from_
    (creds,) = credentials_from(again)
    assert creds.qop == "auth" and creds.nc == "00000001" and creds.uri == "sip:trunkline.example"


def test_wrong_password_gives_up_after_one_retry() -> None:
    responses = run_flow(_auth("wrong"), Registrar(), register())
    assert [r.status for r in responses] == [401, 401]


def test_expired_nonce_is_stale_and_the_client_retries_once_more() -> None:
    registrar = Registrar()
    auth = _auth()
    first = register()
    challenge = registrar.handle(first)
    assert isinstance(challenge, Response)
    again = auth.retry(first, challenge)
    assert again is not None
    registrar.now += 61  # the nonce (60 s) has expired by the time the retry arrives
    stale = registrar.handle(again)
    assert "stale=true" in (stale.headers.get("WWW-Authenticate") or "")
    # The full flow: 401, stale 401, then 200.
    registrar = Registrar()
    flow = auth.auth_flow(register())
    statuses = []
    sent = next(flow)
    for step in range(3):
        if step == 1:
            registrar.now += 61
        reply = registrar.handle(sent)
        statuses.append(reply.status)
        try:
            sent = flow.send(reply)
        except StopIteration:
            break
    assert statuses == [401, 401, 200]


def test_verify_refuses_forged_nonce_wrong_realm_and_wrong_uri() -> None:
    ch = make_challenge(REALM, secret=SECRET, now=0, salt=b"1")
    auth = _auth()
    good = auth.authorization(register(), ch)
    kwargs = {"method": "REGISTER", "realm": REALM, "secret": SECRET, "password": "s3cret"}
    assert verify(good, now=10, **kwargs) is Verdict.OK  # type: ignore[arg-type]
    assert verify(good, now=10, request_uri="sip:other", **kwargs) is Verdict.INVALID  # type: ignore[arg-type]
    assert verify(good, now=400, **kwargs) is Verdict.STALE  # type: ignore[arg-type]
    forged = make_challenge(REALM, secret=b"other", now=0, salt=b"1")
    assert verify(auth.authorization(register(), forged), now=10, **kwargs) is Verdict.INVALID  # type: ignore[arg-type]
    assert verify(good, now=10, **{**kwargs, "realm": "x"}) is Verdict.INVALID  # type: ignore[arg-type]
    ha1 = compute_ha1("MD5", "alice", REALM, "s3cret")
    assert (
        verify(good, method="REGISTER", realm=REALM, secret=SECRET, ha1=ha1, now=10) is Verdict.OK
    )


def test_credentials_round_trip_and_unknown_scheme_from_rfc4475() -> None:
    creds = Credentials(
        "alice", REALM, "n", "sip:x", "abc", "SHA-256", "auth", "00000001", "c", "o"
    )
    assert parse_credentials(str(creds)) == creds
    # RFC 4475 §3.3.7 (regaut01): an unknown scheme is not an error; the registrar re-challenges.
    data = (Path(__file__).parent / "data" / "rfc4475" / "regaut01.dat").read_bytes()
    request = parse_datagram(data)
    assert isinstance(request, Request)
    assert credentials_from(request) == []
    assert Registrar().handle(request).status == 401


def test_non_challenge_responses_end_the_flow() -> None:
    auth = _auth()
    assert auth.retry(register(), Response(Headers(), b"", 403, "Forbidden")) is None
    only_basic = Response(
        Headers([("WWW-Authenticate", 'Basic realm="x"')]), b"", 401, "Unauthorized"
    )
    assert auth.retry(register(), only_basic) is None
    sha = Challenge(REALM, "n2", "SHA-256")
    both = Response(
        Headers(
            [("WWW-Authenticate", str(Challenge(REALM, "n1"))), ("WWW-Authenticate", str(sha))]
        ),
        b"",
        401,
        "Unauthorized",
    )
    again = auth.retry(register(), both)
    assert again is not None and credentials_from(again)[0].algorithm == "SHA-256"
