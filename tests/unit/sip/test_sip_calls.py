"""Two SIP cores calling each other over a lossy in-memory link, on virtual time.

``a`` places calls (:meth:`SipCore.invite`, the UAC); ``b`` answers them as a script says
(the UAS). Every message crosses the link as bytes and is parsed on the other side; the
link drops, duplicates and delays datagrams from a seeded RNG. Time is a number the world
advances: no sleeps.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from trunkline.sip.auth import DigestServer, Verdict, parse_challenge
from trunkline.sip.core import (
    Answer,
    CallEvent,
    Decision,
    DtmfInfo,
    IncomingCall,
    Output,
    Peer,
    Reject,
    ResponseReceived,
    SetTimer,
    SipCore,
    TimerKey,
    Transmit,
)
from trunkline.sip.dialog import Dialog
from trunkline.sip.message import Request, Response, parse_datagram
from trunkline.sip.sdp import AudioConfig, AudioSession, Direction, parse_sdp
from trunkline.sip.uac import Answered, Ended, Failed, Outbound, OutboundEvent, Progress


def offer_sdp(host: str, port: int) -> bytes:
    return bytes(AudioSession(AudioConfig(host, port), session_id=7).create_offer())


@dataclass
class Node:
    """One endpoint: a core, its timers, and what came out of it besides messages."""

    name: str
    core: SipCore
    peer: Peer
    timers: dict[TimerKey, float] = field(default_factory=dict)
    events: list[Output] = field(default_factory=list)
    sent: list[Request | Response] = field(default_factory=list)

    def outbound(self) -> list[OutboundEvent]:
        return [e.event for e in self.events if isinstance(e, Outbound)]

    def call_events(self) -> list[str]:
        return [e.kind for e in self.events if isinstance(e, CallEvent)]

    def sent_requests(self, method: str) -> list[Request]:
        return [m for m in self.sent if isinstance(m, Request) and m.method == method]


#: What the callee does with an INVITE: (delay, "ring" | "early" | decision) steps.
Step = tuple[float, "str | Decision"]


class World:
    """Two cores, a lossy link and a virtual clock."""

    def __init__(
        self,
        seed: int = 1,
        *,
        loss: float = 0.0,
        dup: float = 0.0,
        delay: tuple[float, float] = (0.01, 0.1),
        script: list[Step] | None = None,
        drop: Callable[[Node, Request | Response], bool] | None = None,
        **b_kwargs: object,
    ) -> None:
        self.rng = random.Random(seed)
        self.loss, self.dup, self.delay = loss, dup, delay
        self.drop = drop
        self.now = 0.0
        self.queue: list[tuple[float, int, str, object]] = []
        self.seq = itertools.count()
        self.a = self._node("a", "192.0.2.1")
        self.b = self._node("b", "192.0.2.2", **b_kwargs)
        self.script: list[Step] = (
            script if script is not None else [(0.5, "ring"), (1.0, Answer(b""))]
        )
        self.decide: Callable[[IncomingCall], Decision] | None = None

    def _node(self, name: str, host: str, **kwargs: object) -> Node:
        counter = itertools.count(1)
        core = SipCore(
            contact=f"sip:{name}@{host}:5060",
            via_host=host,
            via_port=5060,
            token=lambda: f"{name}{next(counter)}",
            **kwargs,  # type: ignore[arg-type]
        )
        return Node(name, core, Peer("UDP", host, 5060))

    def node_at(self, peer: Peer) -> Node:
        return self.a if peer.host == self.a.peer.host else self.b

    # -- scheduling
    def at(self, when: float, kind: str, payload: object) -> None:
        heapq.heappush(self.queue, (when, next(self.seq), kind, payload))

    def later(self, delay: float, node: Node, action: Callable[[], list[Output]]) -> None:
        self.at(self.now + delay, "do", (node, action))

    def apply(self, node: Node, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Transmit):
                self.send(node, out)
            elif isinstance(out, SetTimer):
                node.timers[out.key] = out.at
                self.at(out.at, "timer", (node, out.key, out.at))
            elif type(out).__name__ == "ClearTimer":
                node.timers.pop(out.key, None)  # type: ignore[union-attr]
            else:
                node.events.append(out)
                if isinstance(out, IncomingCall):
                    self.on_incoming(node, out)

    def on_incoming(self, node: Node, call: IncomingCall) -> None:
        if self.decide is not None:
            decision = self.decide(call)
            self.apply(node, node.core.decide(call.key, decision, self.now))
            return
        for delay, step in self.script:
            self.later(delay, node, self._step(node, call, step))

    def _step(
        self, node: Node, call: IncomingCall, step: str | Decision
    ) -> Callable[[], list[Output]]:
        if step == "ring":
            return lambda: node.core.ring(call.key, None, self.now)
        if step == "early":
            sdp = offer_sdp("192.0.2.2", 6000)
            return lambda: node.core.ring(call.key, sdp, self.now)
        assert not isinstance(step, str)
        decision = step
        if isinstance(decision, Answer) and not decision.sdp:
            offer = parse_sdp(call.invite.body)
            session = AudioSession(AudioConfig("192.0.2.2", 6000), session_id=9)
            decision = Answer(bytes(session.receive_offer(offer)[0]))
        return lambda: node.core.decide(call.key, decision, self.now)

    def send(self, src: Node, out: Transmit) -> None:
        src.sent.append(out.message)
        dst = self.node_at(out.peer)
        if self.drop is not None and self.drop(src, out.message):
            return
        wire = bytes(out.message)
        if self.rng.random() < self.loss:
            return
        for _ in range(2 if self.rng.random() < self.dup else 1):
            self.at(self.now + self.rng.uniform(*self.delay), "deliver", (dst, wire, src.peer))

    def run(self, until: float) -> None:
        while self.queue and self.queue[0][0] <= until:
            when, _, kind, payload = heapq.heappop(self.queue)
            self.now = when
            if kind == "deliver":
                dst, wire, source = payload  # type: ignore[misc]
                self.apply(dst, dst.core.receive_message(parse_datagram(wire), source, when))
            elif kind == "timer":
                node, key, due = payload  # type: ignore[misc]
                if node.timers.get(key) == due:
                    del node.timers[key]
                    self.apply(node, node.core.timer_fired(key, when))
            else:
                node, action = payload  # type: ignore[misc]
                self.apply(node, action())
        self.now = max(self.now, until)

    # -- the calls
    def call(self, **kwargs: object) -> str:
        params: dict[str, object] = {
            "from_uri": "sip:447700900001@192.0.2.1",
            "to_uri": "sip:447700900002@192.0.2.2",
            "sdp": offer_sdp("192.0.2.1", 5000),
            "peer": self.b.peer,
            **kwargs,
        }
        call_id, out = self.a.core.invite(
            "sip:447700900002@192.0.2.2",
            now=self.now,
            **params,  # type: ignore[arg-type]
        )
        self.apply(self.a, out)
        return call_id

    def act(self, node: Node, outputs: list[Output]) -> None:
        self.apply(node, outputs)

    def settle(self) -> None:
        """Run until every timer on both sides has fired or been cleared."""
        self.run(self.now + 200.0)
        assert not self.a.timers and not self.b.timers
        assert not self.a.core.clients and not self.b.core.clients
        assert not self.a.core.servers and not self.b.core.servers


def answered(events: list[OutboundEvent]) -> list[Answered]:
    return [e for e in events if isinstance(e, Answered)]


# --------------------------------------------------------------------------- set-up and BYE


def test_a_call_rings_is_answered_and_the_caller_hangs_up() -> None:
    w = World()
    call_id = w.call(from_display="Alice")
    w.run(5.0)
    events = w.a.outbound()
    assert events[0] == Progress(180, None)
    (ok,) = answered(events)
    assert parse_sdp(ok.sdp).media[0].port == 6000
    assert w.b.call_events() == ["confirmed"]
    (incoming,) = [e for e in w.b.events if isinstance(e, IncomingCall)]
    assert incoming.invite.call_id == call_id
    assert incoming.invite.from_.display_name == "Alice"
    assert incoming.peer == w.a.peer
    (ack,) = w.a.sent_requests("ACK")
    assert ack.cseq.number == 1 and ack.to.tag is not None
    w.act(w.a, w.a.core.hangup(call_id, w.now))
    w.settle()
    assert w.b.call_events() == ["confirmed", "ended"]
    assert len(w.a.outbound()) == 2  # no event for our own hang-up
    assert not w.a.core.dialogs and not w.b.core.dialogs and not w.a.core.outgoing


def test_early_media_is_progress_183_with_the_sdp() -> None:
    w = World(script=[(0.2, "early"), (1.0, Answer(b""))])
    w.call()
    w.run(5.0)
    progress, ok = w.a.outbound()
    assert isinstance(progress, Progress) and progress.status == 183
    assert progress.sdp is not None and b"m=audio 6000" in progress.sdp
    assert isinstance(ok, Answered)


def test_the_callee_hangs_up() -> None:
    w = World()
    call_id = w.call()
    w.run(5.0)
    w.act(w.b, w.b.core.hangup(call_id, w.now))
    w.settle()
    assert w.a.outbound()[-1] == Ended("callee")
    assert w.b.call_events() == ["confirmed"]
    (bye,) = w.b.sent_requests("BYE")
    assert bye.uri == parse_datagram(bytes(w.a.sent_requests("INVITE")[0])).contacts[0].uri
    assert not w.a.core.dialogs and not w.a.core.outgoing


@pytest.mark.parametrize("seed", range(25))
def test_calls_over_a_lossy_link_end_the_same_way(seed: int) -> None:
    w = World(seed, loss=0.25, dup=0.1, delay=(0.01, 0.3))
    call_id = w.call()
    w.run(40.0)
    events = w.a.outbound()
    # Provisional responses are not retransmitted: the 180 may be lost; the answer may not.
    assert [type(e) for e in events if not isinstance(e, Progress)] == [Answered]
    assert sum(isinstance(e, Progress) for e in events) <= 1
    assert w.b.call_events() == ["confirmed"]  # lost ACKs: the 2xx came again, was re-ACKed
    w.act(w.a, w.a.core.hangup(call_id, w.now))
    w.settle()
    assert w.b.call_events() == ["confirmed", "ended"]
    invites = w.b.core.dialogs, w.a.core.dialogs
    assert invites == ({}, {})


@pytest.mark.parametrize(
    ("status", "reason"),
    [(486, "Busy Here"), (603, "Decline"), (408, "Request Timeout"), (480, "Gone fishing")],
)
def test_final_refusals_are_one_failed_event(status: int, reason: str) -> None:
    w = World(
        loss=0.2,
        dup=0.2,
        script=[(0.2, "ring"), (0.5, Reject(status, reason if status == 480 else None))],
    )
    w.call()
    w.settle()
    events = w.a.outbound()
    assert events[-1] == Failed(status, reason)
    assert sum(isinstance(e, Failed) for e in events) == 1
    assert not w.a.core.outgoing and not w.a.core.dialogs
    # The ACK for a non-2xx is the transaction's (same branch as the INVITE).
    (invite,) = w.a.sent_requests("INVITE")[:1]
    assert all(a.via.branch == invite.via.branch for a in w.a.sent_requests("ACK"))


def test_no_answer_at_all_fails_with_a_timeout() -> None:
    w = World(loss=1.0)
    w.call()
    w.settle()
    assert w.a.outbound() == [Failed(None, "timeout")]
    assert len(w.a.sent_requests("INVITE")) == 7  # A: 0.5, 1, 2, 4, 8, 16 then B at 32


def test_a_lost_ack_gets_the_2xx_again_and_it_is_re_acked() -> None:
    dropped: list[Request] = []

    def drop_first_ack(node: Node, message: Request | Response) -> bool:
        if isinstance(message, Request) and message.method == "ACK" and not dropped:
            dropped.append(message)
            return True
        return False

    w = World(drop=drop_first_ack)
    w.call()
    w.run(5.0)
    acks = w.a.sent_requests("ACK")
    assert len(acks) == 2 and bytes(acks[0]) == bytes(acks[1])
    oks = [m for m in w.b.sent if isinstance(m, Response) and m.status == 200]
    assert len(oks) == 2  # the first 2xx and one retransmission (Timer G at T1)
    assert len(answered(w.a.outbound())) == 1
    assert w.b.call_events() == ["confirmed"]


# --------------------------------------------------------------------------- CANCEL


def test_cancel_while_ringing_is_one_failed_487() -> None:
    w = World(script=[(0.2, "ring"), (5.0, Answer(b""))])
    call_id = w.call()
    w.run(1.0)
    w.act(w.a, w.a.core.cancel(call_id, w.now))
    w.act(w.a, w.a.core.cancel(call_id, w.now))  # twice: one CANCEL
    w.settle()
    assert w.a.outbound() == [Progress(180, None), Failed(487, "Request Terminated")]
    assert w.b.call_events() == ["cancelled"]
    (cancel,) = w.a.sent_requests("CANCEL")
    assert cancel.via.branch == w.a.sent_requests("INVITE")[0].via.branch
    assert not w.a.core.outgoing


def test_cancel_before_any_response_waits_for_the_first_provisional() -> None:
    w = World(script=[(5.0, Answer(b""))], delay=(0.05, 0.05))
    call_id = w.call()
    out = w.a.core.cancel(call_id, w.now)
    assert out == []  # §9.1: no CANCEL before a provisional response
    w.run(0.2)  # the 100 Trying arrives at 0.1
    (cancel,) = w.a.sent_requests("CANCEL")
    w.settle()
    assert w.a.outbound() == [Failed(487, "Request Terminated")]
    assert w.b.call_events() == ["cancelled"]
    assert cancel.cseq.method == "CANCEL"


def test_a_2xx_crossing_the_cancel_is_acked_then_ended_with_bye() -> None:
    w = World(script=[(0.2, "ring"), (1.0, Answer(b""))], delay=(0.05, 0.05))
    call_id = w.call()
    w.run(1.02)  # b answered at 1.05 (its INVITE arrived at 0.05); the 2xx is on the wire
    w.run(1.06)
    w.act(w.a, w.a.core.cancel(call_id, w.now))
    assert w.a.sent_requests("CANCEL")
    w.settle()
    assert w.a.outbound() == [Progress(180, None), Failed(487, "Request Terminated")]
    assert len(w.a.sent_requests("ACK")) == 1 and len(w.a.sent_requests("BYE")) == 1
    assert w.b.call_events() == ["confirmed", "ended"]
    assert not w.a.core.dialogs and not w.b.core.dialogs


def test_cancel_after_the_answer_is_a_hang_up() -> None:
    w = World()
    call_id = w.call()
    w.run(5.0)
    w.act(w.a, w.a.core.cancel(call_id, w.now))
    w.settle()
    assert not w.a.sent_requests("CANCEL") and len(w.a.sent_requests("BYE")) == 1
    assert w.b.call_events() == ["confirmed", "ended"]


# --------------------------------------------------------------------------- in the dialog


def _reinvite(w: World, sender: Node, call_id: str, sdp: bytes, method: str = "INVITE") -> None:
    leg = next(leg for leg in sender.core.dialogs.values() if leg.call_id == call_id)
    assert leg.dialog is not None
    req = leg.dialog.create_request(
        method,
        via=sender.core.new_via(),
        headers=[("Contact", f"<{sender.core.contact}>"), ("Content-Type", "application/sdp")],
        body=sdp,
    )
    other = w.b if sender is w.a else w.a
    w.act(sender, sender.core.send_request(req, other.peer, w.now))


def _ack_2xx(w: World, sender: Node, call_id: str) -> None:
    """What a UA does with the 2xx to its re-INVITE: ACK it in the dialog (§13.2.2.4)."""
    got, *_ = [
        e
        for e in sender.events
        if isinstance(e, ResponseReceived)
        and e.request.method == "INVITE"
        and e.response.status == 200
    ]
    leg = next(leg for leg in sender.core.dialogs.values() if leg.call_id == call_id)
    assert isinstance(leg.dialog, Dialog)
    ack = leg.dialog.ack(got.request.cseq.number, via=sender.core.new_via())
    w.act(sender, [Transmit(ack, w.b.peer if sender is w.a else w.a.peer)])


def test_re_invite_hold_and_resume_from_the_callee() -> None:
    offers: list[tuple[str, bytes]] = []
    local = AudioSession(AudioConfig("192.0.2.1", 5000), session_id=3)

    def reoffer(call_id: str, offer: bytes) -> bytes | None:
        offers.append((call_id, offer))
        answer, _ = local.receive_offer(parse_sdp(offer))
        return bytes(answer)

    w = World()
    w.a.core.reoffer = reoffer
    call_id = w.call()
    w.run(5.0)
    remote = AudioSession(AudioConfig("192.0.2.2", 6000), session_id=4)
    remote.create_offer()
    _reinvite(w, w.b, call_id, bytes(remote.hold()))
    w.run(6.0)
    assert offers and offers[0][0] == call_id
    # The 2xx comes again until our ACK (Timer G): the ICT passes each copy on.
    got, *again = [
        e for e in w.b.events if isinstance(e, ResponseReceived) and e.response.status == 200
    ]
    assert all(bytes(r.response) == bytes(got.response) for r in again)
    answer = parse_sdp(got.response.body)
    assert answer.direction_of(answer.media[0]) is Direction.RECVONLY
    assert w.a.core.awaiting_ack() == set()  # only first-INVITE 2xx count there
    _ack_2xx(w, w.b, call_id)
    w.run(7.0)
    assert not w.a.core._unacked  # the ACK stopped the 2xx retransmissions
    # No reoffer handler: 488, and the call goes on.
    w.a.core.reoffer = None
    _reinvite(w, w.b, call_id, bytes(remote.resume()))
    w.run(8.0)
    statuses = [e.response.status for e in w.b.events if isinstance(e, ResponseReceived)]
    assert statuses[-1] == 488
    assert call_id in {leg.call_id for leg in w.a.core.dialogs.values()}


def test_re_invite_to_an_inbound_call_and_an_update() -> None:
    seen: list[bytes] = []

    def reoffer(call_id: str, offer: bytes) -> bytes | None:
        seen.append(offer)
        return offer_sdp("192.0.2.2", 6002)

    w = World(reoffer=reoffer)
    call_id = w.call()
    w.run(5.0)
    _reinvite(w, w.a, call_id, offer_sdp("192.0.2.1", 5002))
    w.run(6.0)
    oks = [e for e in w.a.events if isinstance(e, ResponseReceived) and e.response.status == 200]
    assert b"m=audio 6002" in oks[-1].response.body
    assert w.b.call_events() == ["confirmed"]  # a re-INVITE is no new call
    _ack_2xx(w, w.a, call_id)
    _reinvite(w, w.a, call_id, offer_sdp("192.0.2.1", 5004), method="UPDATE")
    w.run(7.0)
    assert len(seen) == 2 and b"m=audio 5004" in seen[1]
    ok = [e for e in w.a.events if isinstance(e, ResponseReceived)][-1]
    assert ok.request.method == "UPDATE" and ok.response.status == 200
    assert b"m=audio 6002" in ok.response.body


def test_a_re_invite_2xx_never_acked_ends_the_call() -> None:
    w = World(reoffer=lambda call_id, offer: offer_sdp("192.0.2.2", 6002))
    call_id = w.call()
    w.run(5.0)
    _reinvite(w, w.a, call_id, offer_sdp("192.0.2.1", 5002))  # and never ACK its 2xx
    w.settle()
    assert w.b.call_events() == ["confirmed", "no-ack"]
    assert w.a.outbound()[-1] == Ended("callee")


def test_info_digits_are_reported() -> None:
    w = World()
    call_id = w.call()
    w.run(5.0)
    leg = next(iter(w.a.core.dialogs.values()))
    assert leg.dialog is not None
    for ctype, body in [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
        ("application/dtmf", b"#"),
        ("application/dtmf-relay", b"Signal=11\r\n"),
    ]:
        info = leg.dialog.create_request(
            "INFO", via=w.a.core.new_via(), headers=[("Content-Type", ctype)], body=body
        )
        w.act(w.a, w.a.core.send_request(info, w.b.peer, w.now))
        w.run(w.now + 1.0)  # one at a time: a lower CSeq arriving late would get 500
    assert [e.digit for e in w.b.events if isinstance(e, DtmfInfo)] == ["5", "#", "#"]
    assert {e.call_id for e in w.b.events if isinstance(e, DtmfInfo)} == {call_id}
    infos = [e for e in w.a.events if isinstance(e, ResponseReceived)]
    assert [e.response.status for e in infos] == [200, 200, 200]


# --------------------------------------------------------------------------- digest client


def challenging(
    w: World, password: str, *, proxy: bool = False, stale_first: bool = False
) -> Callable[[IncomingCall], Decision]:
    guard = DigestServer("trunk.example", secret=b"k" * 32)
    header = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    issued: list[int] = []

    def decide(call: IncomingCall) -> Decision:
        verdict, _ = guard.check(
            call.invite, w.now, lambda user: password if user == "acct" else None, proxy=proxy
        )
        if verdict is Verdict.OK:
            return Answer(offer_sdp("192.0.2.2", 6000))
        # The first nonce handed out is an old one, when asked: it is stale on its return.
        when = w.now - 1000 if stale_first and not issued else w.now
        issued.append(1)
        challenge = guard.challenge(
            when, f"s{len(issued)}".encode(), stale=verdict is Verdict.STALE
        )
        return Reject(407 if proxy else 401, None, ((header, str(challenge)),))

    return decide


@pytest.mark.parametrize("proxy", [False, True])
def test_digest_challenge_is_answered_once(proxy: bool) -> None:
    w = World()
    w.decide = challenging(w, "s3cret", proxy=proxy)
    w.call(credentials=("acct", "s3cret"))
    w.run(5.0)
    invites = w.a.sent_requests("INVITE")
    assert len(invites) == 2
    assert [i.cseq.number for i in invites] == [1, 2]
    assert invites[0].call_id == invites[1].call_id
    assert invites[0].from_.tag == invites[1].from_.tag
    assert invites[0].via.branch != invites[1].via.branch
    name = "Proxy-Authorization" if proxy else "Authorization"
    assert "qop=auth" in (invites[1].headers.get(name) or "")
    assert answered(w.a.outbound())
    (ack,) = w.a.sent_requests("ACK")[-1:]
    assert ack.headers.get(name) == invites[1].headers.get(name)  # §22.1 on the 2xx ACK


def test_a_wrong_password_fails_with_the_second_challenge() -> None:
    w = World()
    w.decide = challenging(w, "right")
    w.call(credentials=("acct", "wrong"))
    w.settle()
    assert len(w.a.sent_requests("INVITE")) == 2
    (failed,) = w.a.outbound()
    assert isinstance(failed, Failed) and failed.status == 401


def test_no_credentials_fails_on_the_challenge() -> None:
    w = World()
    w.decide = challenging(w, "right")
    w.call()
    w.settle()
    assert w.a.outbound() == [Failed(401, "Unauthorized")]


def test_a_stale_nonce_is_answered_again() -> None:
    w = World()
    w.now = 5000.0
    w.decide = challenging(w, "s3cret", stale_first=True)
    w.call(credentials=("acct", "s3cret"))
    w.run(5005.0)
    invites = w.a.sent_requests("INVITE")
    assert len(invites) == 3
    assert answered(w.a.outbound())
    second_401 = [m for m in w.b.sent if isinstance(m, Response) and m.status == 401][1]
    challenge = parse_challenge(second_401.headers.get("WWW-Authenticate") or "")
    assert challenge is not None and challenge.stale


def test_a_cancel_after_a_challenge_waits_for_the_new_invite_to_be_heard() -> None:
    w = World(delay=(0.05, 0.05))
    w.decide = challenging(w, "s3cret")
    call_id = w.call(credentials=("acct", "s3cret"))
    w.run(0.11)  # the 401 came back at 0.10 and the INVITE with credentials left
    assert len(w.a.sent_requests("INVITE")) == 2
    assert w.a.core.cancel(call_id, w.now) == []  # no provisional for the new INVITE yet
    w.settle()
    # b answered the second INVITE at once: the 2xx crossed our wish to cancel.
    assert w.a.outbound() == [Failed(487, "Request Terminated")]
    assert len(w.a.sent_requests("BYE")) == 1
    assert w.b.call_events() == ["confirmed", "ended"]
