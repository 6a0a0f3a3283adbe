"""Who may call in (trunkline.door.admission): trunk sources, digest users, refusals."""

from __future__ import annotations

import pytest

from trunkline.config import parse_config
from trunkline.door.admission import Admit, Refuse, admit, caller_of, dialled_number
from trunkline.door.settings import SipSettings
from trunkline.sip.auth import DigestAuth, DigestServer, parse_challenge
from trunkline.sip.message import Request, parse_datagram

NUMBER = "447700900000"
APPS = {NUMBER: "app-ivr"}


def settings(**sip: object) -> SipSettings:
    data = {
        "sip": {"enabled": True, **sip},
        "applications": [{"name": "ivr", "numbers": [NUMBER]}, {"name": "phones"}],
    }
    return parse_config(data).sip


def invite(number: str = NUMBER, caller: str = "447700900100", auth: str | None = None) -> Request:
    lines = [
        f"INVITE sip:{number}@198.51.100.1 SIP/2.0",
        "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK-1",
        f"From: <sip:{caller}@203.0.113.5>;tag=a",
        f"To: <sip:{number}@198.51.100.1>",
        "Call-ID: c1@203.0.113.5",
        "CSeq: 1 INVITE",
        "Contact: <sip:caller@203.0.113.5>",
        "Max-Forwards: 70",
    ]
    if auth:
        lines.append(f"Authorization: {auth}")
    lines.append("Content-Length: 0")
    message = parse_datagram(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, Request)
    return message


def decide(
    request: Request, host: str, s: SipSettings, digest: DigestServer, now: float = 1000.0
) -> Admit | Refuse:
    return admit(
        request,
        host,
        s,
        application_for_number=APPS.get,
        digest=digest,
        salt=b"salt0001",
        now=now,
    )


@pytest.fixture
def digest() -> DigestServer:
    return DigestServer("trunkline", secret=b"k" * 32)


TRUNK = {"trunks": [{"name": "carrier", "sources": ["203.0.113.0/24"]}]}
SOURCE = "192.0.2.66"
USERS = {"users": [{"username": "alice", "password": "correct-horse", "application": "phones"}]}


def test_a_trunk_source_calling_our_number_is_admitted(digest: DigestServer) -> None:
    verdict = decide(invite(), "203.0.113.5", settings(**TRUNK), digest)
    assert isinstance(verdict, Admit)
    assert verdict.application_id == "app-ivr"
    assert verdict.from_ == {"type": "phone", "number": "447700900100"}
    assert verdict.to == {"type": "phone", "number": NUMBER}
    assert verdict.trunk is not None and verdict.trunk.name == "carrier"


def test_a_trunk_calling_a_number_we_do_not_have_gets_404(digest: DigestServer) -> None:
    verdict = decide(invite("447700999999"), "203.0.113.5", settings(**TRUNK), digest)
    assert verdict == Refuse(404, "Not Found")


def test_an_unknown_source_without_users_is_forbidden(digest: DigestServer) -> None:
    verdict = decide(invite(), "192.0.2.66", settings(**TRUNK), digest)
    assert isinstance(verdict, Refuse) and verdict.status == 403


def test_an_unknown_source_is_challenged_when_users_exist(digest: DigestServer) -> None:
    verdict = decide(invite(), "192.0.2.66", settings(**TRUNK, **USERS), digest)
    assert isinstance(verdict, Refuse) and verdict.status == 401
    ((name, value),) = verdict.headers
    assert name == "WWW-Authenticate"
    challenge = parse_challenge(value)
    assert challenge is not None and challenge.realm == "trunkline"


def test_challenges_can_be_turned_off(digest: DigestServer) -> None:
    verdict = decide(invite(), "192.0.2.66", settings(**USERS, challenge=False), digest)
    assert isinstance(verdict, Refuse) and verdict.status == 403


def answer_challenge(
    request: Request, refusal: Admit | Refuse, username: str, password: str
) -> Request:
    assert isinstance(refusal, Refuse)
    challenge = parse_challenge(refusal.headers[0][1])
    assert challenge is not None
    client = DigestAuth(username, password, cnonce=lambda: "c0ffee", branch=lambda: "b")
    creds = client.authorization(request, challenge)
    return invite(auth=str(creds))


def test_a_user_with_the_right_password_is_admitted_to_the_numbers_app(
    digest: DigestServer,
) -> None:
    s = settings(**USERS)
    first = invite()
    again = answer_challenge(first, decide(first, SOURCE, s, digest), "alice", "correct-horse")
    verdict = decide(again, "192.0.2.66", s, digest)
    assert isinstance(verdict, Admit)
    # the dialled number belongs to "ivr": that application answers
    assert verdict.application_id == "app-ivr"
    assert verdict.from_ == {"type": "app", "user": "alice"}
    assert verdict.user == "alice"


def test_a_user_calling_something_else_reaches_their_own_application(
    digest: DigestServer,
) -> None:
    s = settings(**USERS)
    first = invite("bob")
    refusal = decide(first, "192.0.2.66", s, digest)
    assert isinstance(refusal, Refuse)
    challenge = parse_challenge(refusal.headers[0][1])
    assert challenge is not None
    client = DigestAuth("alice", "correct-horse", cnonce=lambda: "c", branch=lambda: "b")
    again = invite("bob", auth=str(client.authorization(first, challenge)))
    verdict = decide(again, "192.0.2.66", s, digest)
    assert isinstance(verdict, Admit)
    assert verdict.application_id == s.user_apps["alice"]
    assert verdict.to["type"] == "sip"


def test_a_wrong_password_is_forbidden(digest: DigestServer) -> None:
    s = settings(**USERS)
    first = invite()
    again = answer_challenge(first, decide(first, "192.0.2.66", s, digest), "alice", "guess")
    verdict = decide(again, "192.0.2.66", s, digest)
    assert isinstance(verdict, Refuse) and verdict.status == 403


def test_an_unknown_user_looks_like_a_wrong_password(digest: DigestServer) -> None:
    s = settings(**USERS)
    first = invite()
    again = answer_challenge(first, decide(first, "192.0.2.66", s, digest), "mallory", "x")
    verdict = decide(again, "192.0.2.66", s, digest)
    assert isinstance(verdict, Refuse) and verdict.status == 403


def test_a_replayed_invite_is_refused(digest: DigestServer) -> None:
    s = settings(**USERS)
    first = invite()
    again = answer_challenge(first, decide(first, SOURCE, s, digest), "alice", "correct-horse")
    assert isinstance(decide(again, "192.0.2.66", s, digest), Admit)
    replay = decide(again, "192.0.2.66", s, digest)
    assert isinstance(replay, Refuse) and replay.status == 403


def test_an_expired_nonce_is_challenged_again_as_stale(digest: DigestServer) -> None:
    s = settings(**USERS)
    first = invite()
    again = answer_challenge(first, decide(first, SOURCE, s, digest), "alice", "correct-horse")
    verdict = decide(again, "192.0.2.66", s, digest, now=1000.0 + 301)
    assert isinstance(verdict, Refuse) and verdict.status == 401
    challenge = parse_challenge(verdict.headers[0][1])
    assert challenge is not None and challenge.stale


def test_dialled_numbers_and_callers_lose_their_plus() -> None:
    request = invite("+447700900000", "+447700900100")
    assert dialled_number(request) == NUMBER
    assert caller_of(request) == "447700900100"


CARRIER = {
    "trunks": [
        {
            "name": "carrier",
            "sources": ["203.0.113.0/24"],
            "inbound_auth": True,
            "username": "carrier-acct",
            "password": "carrier-pw",
        }
    ]
}


def test_a_trunk_with_inbound_auth_must_prove_itself_even_from_its_sources(
    digest: DigestServer,
) -> None:
    s = settings(**CARRIER)
    first = invite()
    refusal = decide(first, "203.0.113.5", s, digest)
    assert isinstance(refusal, Refuse) and refusal.status == 401
    again = answer_challenge(first, refusal, "carrier-acct", "carrier-pw")
    verdict = decide(again, "203.0.113.5", s, digest)
    assert isinstance(verdict, Admit)
    assert verdict.trunk is not None and verdict.trunk.name == "carrier"
    assert verdict.from_ == {"type": "phone", "number": "447700900100"}


def test_trunk_credentials_from_outside_its_sources_are_refused(digest: DigestServer) -> None:
    s = settings(**CARRIER)
    first = invite()
    # from elsewhere the trunk is unknown, so there is nobody to authenticate as
    assert decide(first, "192.0.2.66", s, digest) == Refuse(403, "Forbidden")


def test_a_trunk_known_only_by_credentials_is_admitted_from_anywhere(
    digest: DigestServer,
) -> None:
    trunk = dict(CARRIER["trunks"][0], sources=[])
    s = settings(trunks=[trunk])
    first = invite()
    refusal = decide(first, "192.0.2.66", s, digest)
    again = answer_challenge(first, refusal, "carrier-acct", "carrier-pw")
    verdict = decide(again, "192.0.2.66", s, digest)
    assert isinstance(verdict, Admit) and verdict.trunk is not None
    wrong = answer_challenge(first, decide(first, "192.0.2.66", s, digest), "carrier-acct", "x")
    assert decide(wrong, "192.0.2.66", s, digest) == Refuse(403, "Forbidden")
