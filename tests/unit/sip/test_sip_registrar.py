"""The registrar (RFC 3261 §10.3) with Digest challenges, on virtual time.

REGISTER requests are built as a softphone builds them and answered by
:class:`~trunkline.sip.auth.DigestAuth`, the same client code trunkline uses toward trunks.
"""

from __future__ import annotations

import itertools

import pytest

from trunkline.sip.auth import Challenge, DigestAuth, parse_challenge
from trunkline.sip.core import Peer, SipCore, Transmit
from trunkline.sip.headers import Headers
from trunkline.sip.message import Request, Response, parse_datagram
from trunkline.sip.registrar import Registrar, Reply
from trunkline.sip.uri import SipUri

PHONE = Peer("UDP", "192.0.2.50", 40000)
USERS = {"alice": "wonderland", "bob": "builder"}
T0 = 1_800_000_000.0


def register(
    *,
    user: str = "alice",
    contact: str | None = "<sip:alice@192.0.2.50:40000>",
    expires: int | None = None,
    call_id: str = "reg1",
    cseq: int = 1,
    extra: tuple[tuple[str, str], ...] = (),
) -> Request:
    headers = Headers(
        [
            ("Via", f"SIP/2.0/UDP 192.0.2.50:40000;branch=z9hG4bKr{call_id}{cseq};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{user}@trunkline.example>;tag=f{cseq}"),
            ("To", f"<sip:{user}@trunkline.example>"),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} REGISTER"),
        ]
    )
    if contact is not None:
        headers.add("Contact", contact)
    if expires is not None:
        headers.add("Expires", str(expires))
    for name, value in extra:
        headers.add(name, value)
    return Request(headers, b"", "REGISTER", SipUri("trunkline.example"))


class Phone:
    """A softphone's side of the exchange: it answers challenges and counts its nonces."""

    def __init__(self, user: str = "alice", password: str | None = None) -> None:
        counter = itertools.count(1)
        self.auth = DigestAuth(
            user,
            password if password is not None else USERS[user],
            cnonce=lambda: f"cn{next(counter)}",
            branch=lambda: f"z9hG4bKx{next(counter)}",
        )
        self.challenge: Challenge | None = None

    def sign(self, request: Request) -> Request:
        assert self.challenge is not None
        request.headers.add("Authorization", str(self.auth.authorization(request, self.challenge)))
        return request

    def learn(self, reply: Reply) -> Challenge:
        assert reply.status == 401
        (header,) = [v for n, v in reply.headers if n == "WWW-Authenticate"]
        challenge = parse_challenge(header)
        assert challenge is not None
        self.challenge = challenge
        return challenge


@pytest.fixture
def registrar() -> Registrar:
    return Registrar("trunkline.example", USERS.get, secret=b"s" * 32, nonce_ttl=300.0)


def salts() -> itertools.count[int]:
    return itertools.count(1)


def signed_in(registrar: Registrar, phone: Phone, now: float = T0) -> None:
    phone.learn(registrar.register(register(cseq=99, call_id="hello"), PHONE, now, salt=b"1"))


def contacts(reply: Reply) -> list[str]:
    return [v for n, v in reply.headers if n == "Contact"]


def test_an_unauthenticated_register_is_challenged_with_qop_auth(registrar: Registrar) -> None:
    reply = registrar.register(register(), PHONE, T0, salt=b"salt")
    challenge = Phone().learn(reply)
    assert challenge.realm == "trunkline.example" and challenge.qop == ("auth",)
    assert not challenge.stale
    assert registrar.binding("alice", T0) is None


def test_register_refresh_query_and_remove(registrar: Registrar) -> None:
    phone = Phone()
    signed_in(registrar, phone)
    reply = registrar.register(phone.sign(register(expires=600)), PHONE, T0, salt=b"2")
    assert reply.status == 200
    assert contacts(reply) == ["<sip:alice@192.0.2.50:40000>;expires=600"]
    binding = registrar.binding("alice", T0 + 1)
    assert binding is not None
    assert (binding.user, binding.contact, binding.peer) == (
        "alice",
        "sip:alice@192.0.2.50:40000",
        PHONE,
    )
    assert binding.expires_at == T0 + 600
    # A second contact (its own expires parameter wins over the header), then a refresh.
    second = "<sip:alice@198.51.100.7:5060>;expires=120"
    reply = registrar.register(
        phone.sign(register(contact=second, expires=600, cseq=2)), PHONE, T0 + 10, salt=b"3"
    )
    assert len(contacts(reply)) == 2
    reply = registrar.register(phone.sign(register(cseq=3)), PHONE, T0 + 20, salt=b"4")
    assert reply.status == 200
    binding = registrar.binding("alice", T0 + 20)
    assert binding is not None and binding.expires_at == T0 + 20 + 3600  # default expiry
    # A query: no Contact, the bindings listed.
    reply = registrar.register(
        phone.sign(register(contact=None, cseq=4)), PHONE, T0 + 30, salt=b"5"
    )
    assert reply.status == 200 and len(contacts(reply)) == 2
    # Remove one with Expires: 0, then all with "*".
    reply = registrar.register(phone.sign(register(expires=0, cseq=5)), PHONE, T0 + 40, salt=b"6")
    assert contacts(reply) == ["<sip:alice@198.51.100.7:5060>;expires=90"]
    reply = registrar.register(
        phone.sign(register(contact="*", expires=0, cseq=6)), PHONE, T0 + 50, salt=b"7"
    )
    assert reply == Reply(200, None, ())
    assert registrar.binding("alice", T0 + 50) is None


def test_bindings_expire_on_the_clock(registrar: Registrar) -> None:
    phone = Phone()
    signed_in(registrar, phone)
    registrar.register(phone.sign(register(expires=60)), PHONE, T0, salt=b"2")
    assert registrar.binding("alice", T0 + 59.9) is not None
    assert registrar.binding("alice", T0 + 60) is None
    assert registrar.expire(T0 + 61) == 0


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("too brief", 423),
        ("too long is shortened", 200),
        ("star without expires 0", 400),
        ("another user's address", 403),
        ("out of order", 500),
        ("bad expires", 400),
    ],
)
def test_refusals(registrar: Registrar, case: str, status: int) -> None:
    phone = Phone()
    signed_in(registrar, phone)
    registrar.register(phone.sign(register(cseq=5, expires=300)), PHONE, T0, salt=b"2")
    request = {
        "too brief": register(expires=30, cseq=6),
        "too long is shortened": register(expires=999999, cseq=6),
        "star without expires 0": register(contact="*", expires=60, cseq=6),
        "another user's address": register(cseq=6).__class__(
            Headers(
                [
                    (n, v.replace("sip:alice@", "sip:bob@") if n == "To" else v)
                    for n, v in register(cseq=6).headers
                ]
            ),
            b"",
            "REGISTER",
            SipUri("trunkline.example"),
        ),
        "out of order": register(cseq=4),
        "bad expires": register(cseq=6, extra=(("Expires", "soon"),)),
    }[case]
    reply = registrar.register(phone.sign(request), PHONE, T0 + 1, salt=b"3")
    assert reply.status == status
    if status == 423:
        assert ("Min-Expires", "60") in reply.headers
    if case == "too long is shortened":
        binding = registrar.binding("alice", T0 + 1)
        assert binding is not None and binding.expires_at == T0 + 1 + 3600
    else:
        binding = registrar.binding("alice", T0 + 1)
        assert binding is not None and binding.expires_at == T0 + 300  # unchanged


def test_a_replayed_nonce_count_is_refused(registrar: Registrar) -> None:
    phone = Phone()
    signed_in(registrar, phone)
    first = phone.sign(register(expires=300))
    assert registrar.register(first, PHONE, T0, salt=b"2").status == 200
    # The same request again (same nonce, same nc): an attacker replaying a capture.
    removal = phone.sign(register(expires=0, cseq=2))
    assert registrar.register(removal, PHONE, T0 + 1, salt=b"3").status == 200
    assert registrar.binding("alice", T0 + 1) is None
    again = phone.sign(register(expires=300, cseq=3))
    assert registrar.register(again, PHONE, T0 + 2, salt=b"4").status == 200
    replayed = registrar.register(removal, PHONE, T0 + 3, salt=b"5")
    assert replayed.status == 401
    assert registrar.binding("alice", T0 + 3) is not None
    # The phone's next count on the same nonce is fine.
    later = phone.sign(register(expires=300, cseq=4))
    assert later.headers.get("Authorization") and "nc=00000004" in (
        later.headers.get("Authorization") or ""
    )
    assert registrar.register(later, PHONE, T0 + 4, salt=b"6").status == 200
    # Counts are forgotten with their nonce.
    assert registrar.digest.tracked == 1
    registrar.register(register(cseq=9), PHONE, T0 + 301, salt=b"7")
    assert registrar.digest.tracked == 0


def test_a_stale_nonce_is_rechallenged_with_stale_true(registrar: Registrar) -> None:
    phone = Phone()
    signed_in(registrar, phone)
    reply = registrar.register(phone.sign(register()), PHONE, T0 + 301, salt=b"2")
    challenge = phone.learn(reply)
    assert challenge.stale
    reply = registrar.register(phone.sign(register(cseq=2)), PHONE, T0 + 302, salt=b"3")
    assert reply.status == 200


@pytest.mark.parametrize("who", ["wrong password", "unknown user", "no qop"])
def test_bad_credentials_are_challenged_again(registrar: Registrar, who: str) -> None:
    phone = Phone("alice", "guess") if who == "wrong password" else Phone()
    if who == "unknown user":
        phone = Phone.__new__(Phone)
        phone.auth = DigestAuth("mallory", "x", cnonce=lambda: "c", branch=lambda: "z9hG4bKm")
        phone.challenge = None
    signed_in(registrar, phone)
    if who == "no qop":
        assert phone.challenge is not None
        phone.challenge = Challenge(phone.challenge.realm, phone.challenge.nonce, qop=())
    request = register(user="mallory" if who == "unknown user" else "alice")
    reply = registrar.register(phone.sign(request), PHONE, T0 + 1, salt=b"2")
    assert reply.status == 401
    challenge = phone.learn(reply)
    assert not challenge.stale
    assert registrar.binding("alice", T0 + 1) is None


def test_the_core_hands_register_to_the_registrar(registrar: Registrar) -> None:
    counter = itertools.count(1)
    core = SipCore(
        contact="sip:trunkline@198.51.100.1:5060",
        via_host="198.51.100.1",
        via_port=5060,
        token=lambda: f"t{next(counter)}",
        registrar=registrar,
    )
    phone = Phone()

    def send(request: Request, now: float) -> Response:
        out = core.receive_datagram(bytes(request), PHONE, now)
        (sent,) = [o.message for o in out if isinstance(o, Transmit)]
        assert isinstance(sent, Response)
        return parse_datagram(bytes(sent))  # type: ignore[return-value]

    first = send(register(), T0)
    assert first.status == 401
    assert "REGISTER" in (core._allow or "")
    phone.learn(
        Reply(401, None, (("WWW-Authenticate", first.headers.get("WWW-Authenticate") or ""),))
    )
    ok = send(phone.sign(register(cseq=2)), T0 + 1)
    assert ok.status == 200 and ok.to.tag
    (contact,) = ok.contacts
    assert contact.param("expires") == "3600"
    binding = registrar.binding("alice", T0 + 2)
    assert binding is not None and binding.peer == PHONE
