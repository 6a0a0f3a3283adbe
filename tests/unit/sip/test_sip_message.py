"""Message building, serialisation and round-trip properties (hypothesis)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trunkline.sip.errors import LocalProtocolError, RemoteProtocolError
from trunkline.sip.headers import (
    CSeq,
    Headers,
    NameAddr,
    Via,
    parse_name_addr,
    parse_via,
    split_commas,
)
from trunkline.sip.message import (
    NEED_DATA,
    Request,
    Response,
    StreamParser,
    make_response,
    parse_datagram,
)
from trunkline.sip.uri import SipUri, escape_user, parse_uri, unescape

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
hosts = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z][a-z0-9]{0,8}){0,3}", fullmatch=True)
users = st.text(min_size=1, max_size=12).map(escape_user)
params = st.lists(
    st.tuples(
        st.text("abcdefgh", min_size=1, max_size=5), st.none() | st.text("xyz09", min_size=1)
    ),
    max_size=3,
).map(tuple)
uris = st.builds(
    SipUri,
    host=hosts,
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.none() | users,
    port=st.none() | st.integers(1, 65535),
    params=params,
)
display = st.none() | st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20
)
name_addrs = st.builds(NameAddr, uri=uris, display_name=display, params=params)
vias = st.builds(
    Via,
    transport=st.sampled_from(["UDP", "TCP", "TLS"]),
    host=hosts,
    port=st.none() | st.integers(1, 65535),
    params=st.tuples(st.tuples(st.just("branch"), tokens.map(lambda t: "z9hG4bK" + t))),
)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(st.sampled_from(["INVITE", "BYE", "OPTIONS", "REGISTER"]) | tokens)
    headers = Headers()
    for via in draw(st.lists(vias, min_size=1, max_size=3)):
        headers.add("Via", str(via))
    headers.add("From", str(draw(name_addrs)))
    headers.add("To", str(draw(name_addrs)))
    headers.add("Call-ID", draw(tokens))
    headers.add("CSeq", str(CSeq(draw(st.integers(0, 2**32 - 1)), method)))
    headers.add("Max-Forwards", str(draw(st.integers(0, 255))))
    for contact in draw(st.lists(name_addrs, max_size=3)):
        headers.add("Contact", str(contact))
    for name, value in draw(
        st.lists(st.tuples(st.sampled_from(["X-Foo", "Subject", "User-Agent"]), tokens), max_size=3)
    ):
        headers.add(name, value)
    return Request(headers, draw(st.binary(max_size=200)), method, draw(uris))


@given(requests())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_built_requests_round_trip(req: Request) -> None:
    wire = bytes(req)
    got = parse_datagram(wire)
    assert isinstance(got, Request)
    assert (got.method, got.uri, got.body) == (req.method, req.uri, req.body)
    assert got.from_ == req.from_ and got.to == req.to and got.contacts == req.contacts
    assert got.vias == req.vias and got.cseq == req.cseq
    assert bytes(got) == wire
    # The same message over a stream, cut anywhere.
    parser = StreamParser()
    for i in range(0, len(wire), 7):
        parser.feed(wire[i : i + 7])
    assert [bytes(m) for m in parser.events()] == [wire]


@given(name_addrs)
def test_name_addr_round_trips(value: NameAddr) -> None:
    assert parse_name_addr(str(value)) == value


@given(uris)
def test_uri_round_trips(uri: SipUri) -> None:
    assert parse_uri(str(uri)) == uri


@given(st.text(max_size=20))
def test_escape_user_then_unescape(text: str) -> None:
    assert unescape(escape_user(text)) == text


@given(st.binary(max_size=600))
@settings(max_examples=300)
def test_arbitrary_bytes_only_raise_the_documented_error(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        parse_datagram(data)
    parser = StreamParser()
    parser.feed(data)
    with contextlib.suppress(RemoteProtocolError):
        parser.events()


@given(st.lists(st.integers(1, 50), min_size=1, max_size=30))
def test_stream_cuts_do_not_change_the_messages(cuts: list[int]) -> None:
    one = b"OPTIONS sip:a@b.example SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
    one += b"From: <sip:x@y>;tag=1\r\nTo: <sip:a@b.example>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
    two = one.replace(b"c1", b"c2").replace(b"1 OPTIONS", b"2 OPTIONS")
    wire = b"\r\n\r\n" + one + b"l: 5\r\n\r\nhello" + two + b"Content-Length: 0\r\n\r\n"
    parser = StreamParser()
    got = []
    pos = 0
    for n in [*cuts, len(wire)]:
        parser.feed(wire[pos : pos + n])
        pos += n
        got += parser.events()
    assert [type(e).__name__ for e in got] == ["KeepAlive", "Request", "Request"]
    assert [m.call_id for m in got[1:]] == ["c1", "c2"]  # type: ignore[union-attr]
    assert got[1].body == b"hello"  # type: ignore[union-attr]
    assert parser.next_event() is NEED_DATA


def test_compact_forms_folding_and_lists() -> None:
    wire = (
        b"INVITE sip:bob@example.com SIP/2.0\r\n"
        b"v: SIP/2.0/UDP a.example;branch=z9hG4bKa, SIP/2.0/UDP b.example:5070;received=10.0.0.1"
        b";rport=5070;branch=z9hG4bKb\r\n"
        b"f: Alice <sip:alice@example.com>;tag=1\r\nt: <sip:bob@example.com>\r\n"
        b"i: abc\r\n"
        b"CSeq: 1\r\n INVITE\r\n"
        b'm: "A, B" <sip:a@h;lr>;q=0.5, <sip:b@h?X=1>\r\n'
        b"k: timer,\r\n\t100rel\r\n"
        b"l: 0\r\n\r\n"
    )
    msg = parse_datagram(wire)
    assert isinstance(msg, Request)
    assert [v.branch for v in msg.vias] == ["z9hG4bKa", "z9hG4bKb"]
    assert msg.vias[1].received == "10.0.0.1" and msg.vias[1].rport == 5070
    assert msg.from_.display_name == "Alice"
    assert msg.cseq == CSeq(1, "INVITE")
    assert [c.display_name for c in msg.contacts] == ["A, B", None]
    assert msg.headers.values("Supported") == ["timer", "100rel"]
    assert "Call-ID: abc" in bytes(msg).decode()


def test_split_commas_respects_quotes_and_brackets() -> None:
    assert split_commas('"a,b" <sip:x@y;p=1,2>, c') == ['"a,b" <sip:x@y;p=1,2>', "c"]
    with pytest.raises(RemoteProtocolError):
        split_commas('"a, b')
    with pytest.raises(RemoteProtocolError):
        split_commas("a,,b")


@pytest.mark.parametrize(
    "bad",
    [
        "SIP/2.0/UDP",
        "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP host;branch",
        "SIP/3.0/UDP host",
        "SIP/2.0/UDP host;;",
    ],
)
def test_bad_vias(bad: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_via(bad)


@pytest.mark.parametrize(
    "bad",
    [b"INVITE sip:a@b SIP/2.0\nVia: x\r\n\r\n", b"INVITE sip:a@b SIP/2.0\r\nVia\r\n\r\n", b"\r\n"],
)
def test_bare_lf_and_broken_lines_are_refused(bad: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_datagram(bad)


def test_make_response_copies_the_transaction_headers() -> None:
    req = parse_datagram(
        b"INVITE sip:bob@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP a.example;branch=z9hG4bKa\r\n"
        b"Via: SIP/2.0/UDP b.example;branch=z9hG4bKb\r\n"
        b"Record-Route: <sip:p1.example;lr>\r\n"
        b"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
        b"Call-ID: abc\r\nCSeq: 7 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(req, Request)
    ringing = make_response(req, 180, to_tag="xyz")
    assert [v.branch for v in ringing.vias] == ["z9hG4bKa", "z9hG4bKb"]
    assert ringing.to.tag == "xyz" and ringing.reason == "Ringing"
    assert ringing.headers.get("Record-Route") == "<sip:p1.example;lr>"
    busy = make_response(req, 486, to_tag="xyz")
    assert "Record-Route" not in busy.headers
    trying = make_response(req, 100, to_tag="xyz")
    assert trying.to.tag is None
    again = parse_datagram(bytes(busy))
    assert isinstance(again, Response) and again.status == 486 and again.cseq == CSeq(7, "INVITE")


@pytest.mark.parametrize(
    ("name", "value"), [("X-Evil", "a\r\nVia: injected"), ("Bad Name", "x"), ("X", "a\nb")]
)
def test_header_injection_is_refused(name: str, value: str) -> None:
    with pytest.raises(LocalProtocolError):
        Headers([(name, value)])
    with pytest.raises(LocalProtocolError):
        Headers().add(name, value)
    with pytest.raises(LocalProtocolError):
        Headers().set(name, value)


@pytest.mark.parametrize(
    "wire",
    [
        b"SIP/2.0 1\xc2\xb23 Odd\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1;rport=\xc2\xb2\r\n"
        b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 BYE\r\n\r\n",
    ],
)
def test_non_ascii_digits_are_not_numbers(wire: bytes) -> None:
    # str.isdigit() accepts '²' and int() then fails: these must be clean refusals (drop).
    with pytest.raises(RemoteProtocolError) as err:
        parse_datagram(wire)
    assert err.value.status is None
