"""trunkline's SIP layers, pure and sans-I/O (bytes in, events out, never a socket).

* :mod:`~trunkline.sip.message` — parsing (datagrams, streams) and serialisation;
  :mod:`~trunkline.sip.headers` and :mod:`~trunkline.sip.uri` for the typed values.
* :mod:`~trunkline.sip.validate` — what a UA refuses after parsing (RFC 3261 §8.2).
* :mod:`~trunkline.sip.transaction` and :mod:`~trunkline.sip.timers` — RFC 3261 §17.
* :mod:`~trunkline.sip.core` — the transaction table, Via routing, CANCEL, OPTIONS, the UAS
  and the UAC with re-INVITE/UPDATE/INFO in dialogs (RFC 3261 §8, §9, §13, §14, §18); its
  socket shell is :mod:`trunkline.transport`.
* :mod:`~trunkline.sip.uac` — outbound calls: their events and their state table.
* :mod:`~trunkline.sip.registrar` — REGISTER and the bindings table (RFC 3261 §10.3).
* :mod:`~trunkline.sip.dialog` — RFC 3261 §12.
* :mod:`~trunkline.sip.sdp` — RFC 4566 and RFC 3264 offer/answer for G.711 audio.
* :mod:`~trunkline.sip.auth` — HTTP Digest (RFC 2617, RFC 7616) as server and client.
"""

from trunkline.sip.errors import LocalProtocolError, RemoteProtocolError, SipError
from trunkline.sip.headers import CSeq, Headers, NameAddr, Via
from trunkline.sip.message import (
    NEED_DATA,
    KeepAlive,
    Message,
    NeedData,
    Request,
    Response,
    StreamParser,
    make_response,
    parse_datagram,
    response_for_error,
)
from trunkline.sip.uri import AbsoluteUri, SipUri, Uri, parse_uri

__all__ = [
    "NEED_DATA",
    "AbsoluteUri",
    "CSeq",
    "Headers",
    "KeepAlive",
    "LocalProtocolError",
    "Message",
    "NameAddr",
    "NeedData",
    "RemoteProtocolError",
    "Request",
    "Response",
    "SipError",
    "SipUri",
    "StreamParser",
    "Uri",
    "Via",
    "make_response",
    "parse_datagram",
    "parse_uri",
    "response_for_error",
]
