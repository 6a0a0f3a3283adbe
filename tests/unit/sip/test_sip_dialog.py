"""Dialogs: creation on both sides, route sets, CSeq, target refresh, BYE."""

from __future__ import annotations

import pytest

from trunkline.sip.dialog import Dialog, DialogId, DialogState, dialog_id
from trunkline.sip.errors import LocalProtocolError, RemoteProtocolError
from trunkline.sip.headers import Headers, Via
from trunkline.sip.message import Request, Response, make_response, parse_datagram
from trunkline.sip.uri import SipUri

VIA_A = Via("UDP", "alice.example", 5060, (("branch", "z9hG4bKa2"),))
VIA_B = Via("UDP", "bob.example", 5060, (("branch", "z9hG4bKb2"),))


def invite() -> Request:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP proxy2.example;branch=z9hG4bKp2"),
            ("Via", "SIP/2.0/UDP alice.example:5060;branch=z9hG4bKa1"),
            ("Record-Route", "<sip:proxy2.example;lr>"),
            ("Record-Route", "<sip:proxy1.example;lr>"),
            ("From", '"Alice" <sip:alice@example.com>;tag=a1'),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", "dlg-1"),
            ("CSeq", "10 INVITE"),
            ("Max-Forwards", "68"),
            ("Contact", "<sip:alice@198.51.100.5:5060>"),
        ]
    )
    # Over the wire, as the UAS would see it.
    msg = parse_datagram(bytes(Request(headers, b"", "INVITE", SipUri("example.com", user="bob"))))
    assert isinstance(msg, Request)
    return msg


def answer(req: Request, status: int = 200) -> Response:
    resp = make_response(req, status, to_tag="b1", headers=[("Contact", "<sip:bob@203.0.113.9>")])
    got = parse_datagram(bytes(resp))
    assert isinstance(got, Response)
    return got


def test_both_sides_agree_on_the_dialog() -> None:
    req = invite()
    ok = answer(req)
    uas = Dialog.as_uas(req, ok)
    uac = Dialog.as_uac(req, ok)
    assert uac.id == DialogId("dlg-1", "a1", "b1") and uas.id == DialogId("dlg-1", "b1", "a1")
    assert dialog_id(ok, local_is_from=True) == uac.id
    assert dialog_id(req, local_is_from=False) == DialogId("dlg-1", "", "a1")
    assert [str(r.uri) for r in uas.route_set] == ["sip:proxy2.example;lr", "sip:proxy1.example;lr"]
    assert [str(r.uri) for r in uac.route_set] == ["sip:proxy1.example;lr", "sip:proxy2.example;lr"]
    assert str(uac.remote_target) == "sip:bob@203.0.113.9"
    assert str(uas.remote_target) == "sip:alice@198.51.100.5:5060"
    assert uac.state is uas.state is DialogState.CONFIRMED


def test_in_dialog_requests_use_the_route_set_and_count_cseq() -> None:
    req = invite()
    uac = Dialog.as_uac(req, answer(req))
    uas = Dialog.as_uas(req, answer(req))
    ack = uac.ack(10, via=VIA_A)
    assert ack.cseq.number == 10 and ack.cseq.method == "ACK"
    assert str(ack.uri) == "sip:bob@203.0.113.9"
    assert ack.headers.get_all("Route") == ["<sip:proxy1.example;lr>", "<sip:proxy2.example;lr>"]
    info = uac.create_request("INFO", via=VIA_A)
    assert info.cseq.number == 11 and info.to.tag == "b1" and info.from_.tag == "a1"
    wire = parse_datagram(bytes(info))
    assert isinstance(wire, Request)
    assert uas.receive_request(wire) is None and uas.remote_cseq == 11
    assert uas.receive_request(wire) is None  # the same number again is not out of order
    old = uac.create_request("INFO", via=VIA_A)
    old.headers.set("CSeq", "5 INFO")
    assert uas.receive_request(parse_datagram(bytes(old))) == 500  # type: ignore[arg-type]
    stranger = uac.create_request("INFO", via=VIA_A)
    stranger.headers.set("From", "<sip:mallory@example.com>;tag=zz")
    assert uas.receive_request(parse_datagram(bytes(stranger))) == 481  # type: ignore[arg-type]


def test_uas_side_requests_go_back_along_the_record_route() -> None:
    req = invite()
    uas = Dialog.as_uas(req, answer(req))
    bye = uas.create_request("BYE", via=VIA_B)
    assert bye.cseq.number == 1 and bye.to.tag == "a1" and bye.from_.tag == "b1"
    assert str(bye.uri) == "sip:alice@198.51.100.5:5060"
    assert bye.headers.get_all("Route")[0] == "<sip:proxy2.example;lr>"
    assert uas.terminated
    with pytest.raises(LocalProtocolError):
        uas.create_request("INFO", via=VIA_B)


def test_strict_router_becomes_the_request_uri() -> None:
    req = invite()
    req.headers.set("Record-Route", "<sip:strict.example>")
    uac = Dialog.as_uac(req, answer(req))
    bye = uac.create_request("BYE", via=VIA_A)
    assert str(bye.uri) == "sip:strict.example"
    assert bye.headers.get_all("Route") == ["<sip:bob@203.0.113.9>"]


def test_early_dialog_confirms_on_2xx_and_refreshes_target() -> None:
    req = invite()
    ringing = answer(req, 180)
    uac = Dialog.as_uac(req, ringing)
    assert uac.state is DialogState.EARLY
    ok = make_response(req, 200, to_tag="b1", headers=[("Contact", "<sip:bob@192.0.2.44>")])
    uac.receive_response(req, ok)
    assert uac.state is DialogState.CONFIRMED and str(uac.remote_target) == "sip:bob@192.0.2.44"
    # A re-INVITE from the peer moves the target again.
    uas_side = uac.create_request("INFO", via=VIA_A)  # any request of ours
    assert uas_side.cseq.number == 11
    reinvite = Dialog.as_uas(req, answer(req)).create_request(
        "INVITE", via=VIA_B, headers=[("Contact", "<sip:bob@192.0.2.45>")]
    )
    assert uac.receive_request(parse_datagram(bytes(reinvite))) is None  # type: ignore[arg-type]
    assert str(uac.remote_target) == "sip:bob@192.0.2.45"


def test_rejected_early_dialog_and_481_terminate() -> None:
    req = invite()
    early = Dialog.as_uac(req, answer(req, 183))
    early.receive_response(req, answer(req, 486))
    assert early.terminated
    confirmed = Dialog.as_uac(req, answer(req))
    info = confirmed.create_request("INFO", via=VIA_A)
    confirmed.receive_response(info, make_response(info, 481))
    assert confirmed.terminated


def test_responses_that_cannot_create_dialogs() -> None:
    req = invite()
    with pytest.raises(RemoteProtocolError):
        Dialog.as_uac(req, make_response(req, 180))  # no To tag
    no_contact = make_response(req, 200, to_tag="b1")
    with pytest.raises(RemoteProtocolError):
        Dialog.as_uac(req, no_contact)
    with pytest.raises(LocalProtocolError):
        Dialog.as_uac(req, answer(req)).create_request("ACK", via=VIA_A)  # needs the CSeq
