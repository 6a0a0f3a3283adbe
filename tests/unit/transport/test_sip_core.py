"""The pure transaction layer and UAS core (:mod:`trunkline.sip.core`), on virtual time."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from trunkline.sip.core import (
    Answer,
    CallEvent,
    ClearTimer,
    IncomingCall,
    Output,
    Peer,
    Reject,
    RequestFailed,
    ResponseReceived,
    SetTimer,
    SipCore,
    TimerKey,
    Transmit,
    response_peer,
    stamp_via,
)
from trunkline.sip.errors import LocalProtocolError
from trunkline.sip.headers import Headers
from trunkline.sip.message import Request, Response, parse_datagram
from trunkline.sip.timers import TimerValues
from trunkline.sip.uri import SipUri

PHONE = Peer("UDP", "192.0.2.7", 5062)
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\n"
    b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
)


def make_core(**kwargs: object) -> SipCore:
    counter = itertools.count(1)
    return SipCore(
        contact="sip:trunkline@198.51.100.1:5060",
        via_host="198.51.100.1",
        via_port=5060,
        token=lambda: f"t{next(counter)}",
        **kwargs,  # type: ignore[arg-type]
    )


def request(
    method: str = "OPTIONS",
    *,
    branch: str = "z9hG4bKb1",
    call_id: str = "c1",
    cseq: int = 1,
    to_tag: str | None = None,
    via: str = "SIP/2.0/UDP 192.0.2.7:5062;branch={branch};rport",
    extra: str = "",
    body: bytes = b"",
    max_forwards: int = 70,
    cseq_method: str | None = None,
) -> bytes:
    to = "<sip:447700900000@198.51.100.1>" + (f";tag={to_tag}" if to_tag else "")
    head = (
        f"{method} sip:447700900000@198.51.100.1 SIP/2.0\r\n"
        f"Via: {via.format(branch=branch)}\r\n"
        "From: <sip:alice@192.0.2.7>;tag=ft1\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {cseq_method or method}\r\n"
        f"Max-Forwards: {max_forwards}\r\n"
        "Contact: <sip:alice@192.0.2.7:5062>\r\n"
        f"{extra}"
    )
    if body:
        head += "Content-Type: application/sdp\r\n"
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def sent(outputs: list[Output]) -> list[Response | Request]:
    return [o.message for o in outputs if isinstance(o, Transmit)]


def statuses(outputs: list[Output]) -> list[int]:
    return [m.status for m in sent(outputs) if isinstance(m, Response)]


def only(outputs: list[Output], kind: type) -> list[object]:
    return [o for o in outputs if isinstance(o, kind)]


# --------------------------------------------------------------------------- routing


def test_received_and_rport_are_stamped_on_the_top_via() -> None:
    req = parse_datagram(request(via="SIP/2.0/UDP phone.example.com:5062;branch={branch};rport"))
    assert isinstance(req, Request)
    stamp_via(req, Peer("UDP", "203.0.113.9", 40000))
    assert req.via.received == "203.0.113.9"
    assert req.via.rport == 40000
    assert req.via.branch == "z9hG4bKb1"


def test_via_matching_the_source_without_rport_is_left_alone() -> None:
    req = parse_datagram(request(via="SIP/2.0/UDP 192.0.2.7:5062;branch={branch}"))
    assert isinstance(req, Request)
    before = bytes(req)
    stamp_via(req, PHONE)
    assert bytes(req) == before


def test_responses_follow_rport_or_the_sent_by_port_unless_symmetric() -> None:
    core = make_core(symmetric=False)
    out = core.receive_datagram(
        request(via="SIP/2.0/UDP phone.example.com;branch={branch}"), PHONE, 0.0
    )
    (t,) = only(out, Transmit)
    assert isinstance(t, Transmit)
    assert (t.peer.host, t.peer.port) == ("192.0.2.7", 5060)  # received, default port
    core = make_core(symmetric=False)
    out = core.receive_datagram(request(), Peer("UDP", "192.0.2.7", 41000), 0.0)
    (t,) = only(out, Transmit)
    assert isinstance(t, Transmit) and t.peer.port == 41000  # rport
    core = make_core()
    out = core.receive_datagram(
        request(via="SIP/2.0/UDP phone.example.com:5070;branch={branch}"), PHONE, 0.0
    )
    (t,) = only(out, Transmit)
    assert isinstance(t, Transmit) and t.peer == PHONE  # symmetric: back to the source
    tcp = Peer("TCP", "192.0.2.7", 40001, connection=3)
    assert isinstance(t.message, Response)
    assert response_peer(t.message, tcp, symmetric=False) == tcp


# --------------------------------------------------------------------------- OPTIONS, errors


def test_options_is_answered_200_with_allow_and_accept() -> None:
    core = make_core()
    out = core.receive_datagram(request(), PHONE, 0.0)
    (ok,) = sent(out)
    assert isinstance(ok, Response) and ok.status == 200
    assert ok.headers.get("Allow") == "ACK, BYE, CANCEL, INFO, INVITE, OPTIONS, UPDATE"
    assert ok.headers.get("Accept") == "application/sdp"
    assert ok.to.tag == "t1"
    # RFC 3581 §4: with rport, received is added even when it equals the sent-by host.
    assert ok.via.received == "192.0.2.7" and ok.via.rport == 5062
    # Timer J keeps the transaction to absorb retransmissions, which get the same answer.
    assert only(out, SetTimer) == [
        SetTimer(TimerKey(("server", *next(iter(core.servers))), "J"), 32.0)
    ]
    again = core.receive_datagram(request(), PHONE, 1.0)
    assert sent(again) == [ok]
    (key,) = core.servers
    assert core.timer_fired(TimerKey(("server", *key), "J"), 32.0) == []
    assert not core.servers


def test_options_with_max_forwards_zero_is_answered_but_invite_gets_483() -> None:
    core = make_core()
    assert statuses(core.receive_datagram(request(max_forwards=0), PHONE, 0.0)) == [200]
    out = core.receive_datagram(
        request("INVITE", branch="z9hG4bKi", max_forwards=0, body=SDP), PHONE, 0.0
    )
    assert statuses(out) == [100, 483]
    assert not only(out, IncomingCall)


def test_unknown_methods_get_501_with_allow_and_bad_ones_a_stateless_answer() -> None:
    core = make_core()
    out = core.receive_datagram(request("REGISTER"), PHONE, 0.0)
    (resp,) = sent(out)
    assert isinstance(resp, Response) and resp.status == 501
    assert "INVITE" in (resp.headers.get("Allow") or "")
    out = core.receive_datagram(request(cseq_method="BYE", branch="z9hG4bKx"), PHONE, 0.0)
    assert statuses(out) == [400]
    # Malformed: answered without a transaction; garbage and responses: silence.
    bad = request(branch="z9hG4bKy").replace(b"CSeq: 1", b"CSeq: 99999999999")
    out = core.receive_datagram(bad, PHONE, 0.0)
    assert statuses(out) == [400] and not only(out, SetTimer)
    assert core.receive_datagram(b"\x00\xff garbage", PHONE, 0.0) == []
    assert core.receive_datagram(b"SIP/2.0 200 OK\r\n\r\n", PHONE, 0.0) == []


def test_the_same_request_by_another_path_is_a_loop() -> None:
    core = make_core()
    assert statuses(core.receive_datagram(request(branch="z9hG4bKp1"), PHONE, 0.0)) == [200]
    # §8.2.2.2: same From tag, Call-ID and CSeq, no To tag, another branch.
    other = Peer("UDP", "192.0.2.8", 5060)
    assert statuses(core.receive_datagram(request(branch="z9hG4bKp2"), other, 0.1)) == [482]


# --------------------------------------------------------------------------- INVITE


def invite(core: SipCore, now: float = 0.0, **kwargs: object) -> tuple[IncomingCall, list[Output]]:
    out = core.receive_datagram(
        request("INVITE", branch="z9hG4bKinv", body=SDP, **kwargs), PHONE, now
    )  # type: ignore[arg-type]
    assert statuses(out) == [100]
    (call,) = only(out, IncomingCall)
    assert isinstance(call, IncomingCall)
    assert isinstance(call.invite.uri, SipUri) and call.invite.uri.user == "447700900000"
    return call, out


def ack(to_tag: str, branch: str = "z9hG4bKack") -> bytes:
    return request("ACK", branch=branch, to_tag=to_tag, cseq_method="ACK")


def test_a_rejected_invite_is_retransmitted_until_the_ack() -> None:
    core = make_core()
    call, _ = invite(core)
    out = core.decide(call.key, Reject(404), 0.2)
    (resp,) = sent(out)
    assert isinstance(resp, Response) and resp.status == 404 and resp.to.tag
    owner = ("server", *call.key)
    assert SetTimer(TimerKey(owner, "G"), 0.7) in out
    assert SetTimer(TimerKey(owner, "H"), 32.2) in out
    assert statuses(core.timer_fired(TimerKey(owner, "G"), 0.7)) == [404]
    # The ACK for a non-2xx shares the INVITE's branch: the transaction absorbs it.
    out = core.receive_datagram(ack(resp.to.tag or "", branch="z9hG4bKinv"), PHONE, 0.8)
    assert ClearTimer(TimerKey(owner, "G")) in out and not sent(out)
    assert core.decide(call.key, Reject(486), 0.9) == []  # decided already


def test_an_answered_invite_retransmits_its_2xx_until_ack_then_bye_ends_it() -> None:
    core = make_core(timers=TimerValues(t1=0.5, t2=4.0))
    call, _ = invite(core)
    out = core.decide(call.key, Answer(b"v=0\r\n"), 1.0)
    (ok,) = sent(out)
    assert isinstance(ok, Response) and ok.status == 200 and ok.body == b"v=0\r\n"
    assert ok.headers.get("Contact") == "<sip:trunkline@198.51.100.1:5060>"
    assert ok.headers.get("Content-Type") == "application/sdp"
    (dialog,) = core.dialogs
    owner = ("2xx", dialog.call_id, dialog.local_tag, dialog.remote_tag, "1")
    assert SetTimer(TimerKey(owner, "G"), 1.5) in out
    assert SetTimer(TimerKey(owner, "H"), 33.0) in out
    # G doubles up to T2.
    times = []
    now = 1.5
    for _ in range(5):
        out = core.timer_fired(TimerKey(owner, "G"), now)
        assert sent(out) == [ok]
        (again,) = only(out, SetTimer)
        assert isinstance(again, SetTimer)
        times.append(round(again.at - now, 3))
        now = again.at
    assert times == [1.0, 2.0, 4.0, 4.0, 4.0]
    # A retransmitted INVITE is absorbed by the Accepted transaction (RFC 6026).
    assert core.receive_datagram(request("INVITE", branch="z9hG4bKinv", body=SDP), PHONE, now) == []
    out = core.receive_datagram(ack(dialog.local_tag), PHONE, now)
    assert CallEvent("confirmed", "c1") in out
    assert ClearTimer(TimerKey(owner, "G")) in out and ClearTimer(TimerKey(owner, "H")) in out
    assert core.receive_datagram(ack(dialog.local_tag), PHONE, now) == []  # a second ACK
    bye = request("BYE", branch="z9hG4bKbye", cseq=2, to_tag=dialog.local_tag)
    out = core.receive_datagram(bye, PHONE, now + 1)
    assert statuses(out) == [200]
    assert CallEvent("ended", "c1") in out
    assert not core.dialogs
    assert statuses(core.receive_datagram(bye, PHONE, now + 2)) == [200]  # retransmission
    stray = request("BYE", branch="z9hG4bKbye2", cseq=3, to_tag=dialog.local_tag)
    assert statuses(core.receive_datagram(stray, PHONE, now + 3)) == [481]


def test_no_ack_for_the_2xx_ends_the_call_with_our_bye() -> None:
    core = make_core()
    call, _ = invite(core)
    core.decide(call.key, Answer(b"v=0\r\n"), 0.0)
    (dialog,) = core.dialogs
    owner = ("2xx", dialog.call_id, dialog.local_tag, dialog.remote_tag, "1")
    out = core.timer_fired(TimerKey(owner, "H"), 32.0)
    assert CallEvent("no-ack", "c1") in out
    (bye,) = sent(out)
    assert isinstance(bye, Request) and bye.method == "BYE"
    assert str(bye.uri) == "sip:alice@192.0.2.7:5062"  # the caller's Contact
    assert bye.via.host == "198.51.100.1" and (bye.via.branch or "").startswith("z9hG4bK")
    assert not core.dialogs
    # The BYE's client transaction: retransmitted on E, done on the 200.
    (client_key,) = core.clients
    owner_c = ("client", *client_key)
    assert sent(core.timer_fired(TimerKey(owner_c, "E"), 32.5)) == [bye]
    ok = bytes(
        Response(
            Headers(
                [
                    ("Via", str(bye.via)),
                    ("From", bye.headers.get("From") or ""),
                    ("To", bye.headers.get("To") or ""),
                    ("Call-ID", bye.call_id),
                    ("CSeq", str(bye.cseq)),
                ]
            ),
            b"",
            200,
            "OK",
        )
    )
    out = core.receive_datagram(ok, PHONE, 33.0)
    (got,) = only(out, ResponseReceived)
    assert isinstance(got, ResponseReceived) and got.response.status == 200


def test_our_request_times_out_without_an_answer() -> None:
    core = make_core()
    via = core.new_via()
    req = Request(
        Headers(
            [
                ("Via", str(via)),
                ("From", "<sip:trunkline@198.51.100.1>;tag=x"),
                ("To", "<sip:alice@192.0.2.7>"),
                ("Call-ID", "o1"),
                ("CSeq", "1 OPTIONS"),
                ("Max-Forwards", "70"),
            ]
        ),
        b"",
        "OPTIONS",
        SipUri("192.0.2.7", user="alice", port=5062),
    )
    out = core.send_request(req, PHONE, 0.0)
    assert sent(out) == [req]
    with pytest.raises(LocalProtocolError):
        core.send_request(req, PHONE, 0.0)
    (key,) = core.clients
    out = core.timer_fired(TimerKey(("client", *key), "F"), 32.0)
    assert only(out, RequestFailed) == [RequestFailed(req, "timeout")]
    assert not core.clients
    # A response for a transaction that is gone, or with two Vias, is dropped.
    assert (
        core.receive_datagram(
            b"SIP/2.0 200 OK\r\nVia: " + str(via).encode() + b"\r\nFrom: <sip:a@b>;tag=1\r\n"
            b"To: <sip:c@d>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            PHONE,
            33.0,
        )
        == []
    )


def test_cancel_gets_200_and_the_invite_487() -> None:
    core = make_core()
    call, _ = invite(core)
    cancel = request("CANCEL", branch="z9hG4bKinv")  # §9.1: the INVITE's branch
    out = core.receive_datagram(cancel, PHONE, 0.5)
    got = {(m.status, m.cseq.method) for m in sent(out) if isinstance(m, Response)}
    assert got == {(200, "CANCEL"), (487, "INVITE")}
    assert CallEvent("cancelled", "c1") in out
    assert core.decide(call.key, Answer(b"v=0\r\n"), 0.6) == []  # too late: ignored
    # A CANCEL for nothing, and one after the final answer.
    assert statuses(
        core.receive_datagram(request("CANCEL", branch="z9hG4bKnone", call_id="c9"), PHONE, 1)
    ) == [481]
    core2 = make_core()
    call2, _ = invite(core2)
    core2.decide(call2.key, Reject(486), 0.1)
    out = core2.receive_datagram(cancel, PHONE, 0.2)
    assert statuses(out) == [200]
    assert not only(out, CallEvent)


def test_mid_dialog_invites_and_bad_decisions() -> None:
    core = make_core()
    out = core.receive_datagram(
        request("INVITE", branch="z9hG4bKre", to_tag="nosuch", body=SDP), PHONE, 0.0
    )
    assert statuses(out) == [100, 481]
    call, _ = invite(core)
    with pytest.raises(LocalProtocolError):
        core.decide(call.key, Reject(180), 0.1)
    assert statuses(core.decide(call.key, Reject(603), 0.1)) == [603]


def test_an_rfc2543_invite_without_contact_gets_a_dialog_targeting_from() -> None:
    core = make_core()
    raw = request("INVITE", branch="z9hG4bKold", body=SDP).replace(
        b"Contact: <sip:alice@192.0.2.7:5062>\r\n", b""
    )
    out = core.receive_datagram(raw, PHONE, 0.0)
    (call,) = only(out, IncomingCall)
    assert isinstance(call, IncomingCall)
    core.decide(call.key, Answer(b"v=0\r\n"), 0.1)
    (entry,) = core.dialogs.values()
    assert entry.dialog is not None
    assert str(entry.dialog.remote_target) == "sip:alice@192.0.2.7"


def test_a_lost_connection_fails_its_transactions() -> None:
    core = make_core()
    tcp = Peer("TCP", "192.0.2.7", 40001, connection=5)
    out = core.receive_datagram(request("INVITE", branch="z9hG4bKt", body=SDP), tcp, 0.0)
    (call,) = only(out, IncomingCall)
    assert isinstance(call, IncomingCall)
    assert not only(out, SetTimer)  # reliable: no retransmission timers
    core.transport_failed(tcp, 0.1)
    assert not core.servers
    assert core.decide(call.key, Reject(404), 0.2) == []


def test_hangup_sends_bye_on_the_dialog() -> None:
    core = make_core()
    assert core.hangup("c1", 0.0) == []
    call, _ = invite(core)
    core.decide(call.key, Answer(b"v=0\r\n"), 0.1)
    (dialog,) = core.dialogs
    core.receive_datagram(ack(dialog.local_tag), PHONE, 0.2)
    out = core.hangup("c1", 1.0)
    (bye,) = sent(out)
    assert isinstance(bye, Request) and bye.method == "BYE" and bye.call_id == "c1"
    assert bye.from_.tag == dialog.local_tag and bye.to.tag == "ft1"
    assert bye.cseq.number == 1
    assert not core.dialogs
    assert core.hangup("c1", 1.1) == []


def test_mutated_torture_datagrams_never_raise_out_of_the_core() -> None:
    # The core answers, drops or handles every datagram; only outputs come out.
    corpus_dir = Path(__file__).parents[1] / "sip" / "data" / "rfc4475"
    corpus = [p.read_bytes() for p in sorted(corpus_dir.glob("*.dat"))]
    rng = random.Random(4475)
    core = make_core()
    now = 0.0
    for n in range(3000):
        data = bytearray(rng.choice(corpus))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.4:
                data[at] = rng.randrange(256)
            elif choice < 0.7:
                del data[at : at + rng.randint(1, 20)]
            else:
                data[at:at] = rng.choice(corpus)[: rng.randint(1, 40)]
        now += 0.01
        out = core.receive_datagram(bytes(data), Peer("UDP", "192.0.2.9", 5060 + n % 7), now)
        for item in out:
            if isinstance(item, Transmit):
                bytes(item.message)  # serialisable
            elif isinstance(item, IncomingCall):
                core.decide(item.key, Reject(404), now)
    assert statuses(core.receive_datagram(request(branch="z9hG4bKalive"), PHONE, now)) == [200]


def test_ring_sends_180_or_183_with_sdp_and_the_final_keeps_the_tag() -> None:
    core = make_core()
    call, _ = invite(core)
    (ringing,) = sent(core.ring(call.key, None, 0.1))
    assert isinstance(ringing, Response) and ringing.status == 180 and not ringing.body
    assert ringing.headers.get("Contact") == "<sip:trunkline@198.51.100.1:5060>"
    (early,) = sent(core.ring(call.key, SDP, 0.2))
    assert isinstance(early, Response) and early.status == 183 and early.body == SDP
    assert early.headers.get("Content-Type") == "application/sdp"
    # A retransmitted INVITE gets the last provisional again.
    again = core.receive_datagram(request("INVITE", branch="z9hG4bKinv", body=SDP), PHONE, 0.3)
    assert sent(again) == [early]
    (ok,) = sent(core.decide(call.key, Answer(b"v=0\r\n"), 0.4))
    assert isinstance(ok, Response) and ok.to.tag == ringing.to.tag == early.to.tag
    assert core.ring(call.key, None, 0.5) == []  # decided: nothing more to ring


def test_info_and_update_outside_a_dialog_get_481_and_register_without_registrar_501() -> None:
    core = make_core()
    for method in ("INFO", "UPDATE"):
        out = core.receive_datagram(request(method, branch=f"z9hG4bK{method}"), PHONE, 0.0)
        assert statuses(out) == [481], method
    out = core.receive_datagram(request("REGISTER", branch="z9hG4bKreg"), PHONE, 0.0)
    (resp,) = sent(out)
    assert isinstance(resp, Response) and resp.status == 501
    assert "REGISTER" not in (resp.headers.get("Allow") or "")
