"""Client and server transactions connected through a lossy in-memory link on virtual time.

The link drops, duplicates and delays datagrams from a seeded RNG; every message crosses it
as bytes and is parsed on the other side. Time is a number the test advances: no sleeps.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field

import pytest

from trunkline.sip.errors import LocalProtocolError
from trunkline.sip.headers import Headers
from trunkline.sip.message import Request, Response, make_response, parse_datagram
from trunkline.sip.timers import CancelTimer, StartTimer, Timer, TimerFired, TimerValues
from trunkline.sip.transaction import (
    Action,
    ClientTransaction,
    InviteServerTransaction,
    PassToTU,
    SendMessage,
    ServerTransaction,
    State,
    Terminated,
    TransactionTimeout,
    build_cancel,
    client_key,
    client_transaction,
    server_key,
    server_transaction,
)
from trunkline.sip.uri import SipUri

T = TimerValues()


def request(method: str, branch: str = "z9hG4bKtest1", cseq: int = 1) -> Request:
    headers = Headers(
        [
            ("Via", f"SIP/2.0/UDP client.example:5060;branch={branch}"),
            ("Max-Forwards", "70"),
            ("From", "<sip:alice@example.com>;tag=a1"),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", "call-1@client.example"),
            ("CSeq", f"{cseq} {method}"),
            ("Route", "<sip:proxy.example;lr>"),
        ]
    )
    return Request(headers, b"", method, SipUri("example.com", user="bob"))


@dataclass
class Side:
    """One endpoint: its transactions, its timers and what its TU saw."""

    name: str
    client: ClientTransaction | None = None
    servers: dict[tuple[str, ...], ServerTransaction] = field(default_factory=dict)
    timers: dict[tuple[int, Timer], float] = field(default_factory=dict)
    tu: list[Request | Response] = field(default_factory=list)
    timeouts: list[Timer] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)
    terminated: int = 0
    timed_out_at: float | None = None


class World:
    """Two sides, a lossy link and a virtual clock."""

    def __init__(
        self,
        seed: int,
        *,
        loss: float = 0.0,
        dup: float = 0.0,
        delay: tuple[float, float] = (0.01, 0.3),
        reliable: bool = False,
        final: int = 486,
        ring_after: float = 1.0,
        answer_after: float = 2.0,
    ) -> None:
        self.rng = random.Random(seed)
        self.loss, self.dup, self.delay = loss, dup, delay
        self.reliable = reliable
        self.final, self.ring_after, self.answer_after = final, ring_after, answer_after
        self.now = 0.0
        self.queue: list[tuple[float, int, str, object]] = []
        self.seq = itertools.count()
        self.a = Side("a")
        self.b = Side("b")

    def at(self, when: float, kind: str, payload: object) -> None:
        heapq.heappush(self.queue, (when, next(self.seq), kind, payload))

    def send(self, src: Side, msg: Request | Response) -> None:
        wire = bytes(msg)
        src.sent.append(wire)
        dst = self.b if src is self.a else self.a
        if self.rng.random() < self.loss:
            return
        copies = 2 if self.rng.random() < self.dup else 1
        for _ in range(copies):
            self.at(self.now + self.rng.uniform(*self.delay), "deliver", (dst, wire))

    def apply(self, side: Side, tx: object, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SendMessage):
                self.send(side, action.message)
            elif isinstance(action, StartTimer):
                assert action.at >= self.now
                side.timers[(id(tx), action.name)] = action.at
                self.at(action.at, "timer", (side, tx, action.name, action.at))
            elif isinstance(action, CancelTimer):
                side.timers.pop((id(tx), action.name), None)
            elif isinstance(action, PassToTU):
                side.tu.append(action.message)
                self.on_tu(side, tx, action.message)
            elif isinstance(action, TransactionTimeout):
                side.timeouts.append(action.timer)
                side.timed_out_at = self.now
            elif isinstance(action, Terminated):
                side.terminated += 1

    def on_tu(self, side: Side, tx: object, msg: Request | Response) -> None:
        if side is self.b and isinstance(msg, Request) and msg.method != "ACK":
            if msg.method == "INVITE":
                self.at(self.now + self.ring_after, "respond", (tx, 180))
            self.at(self.now + self.answer_after, "respond", (tx, self.final))

    def deliver(self, dst: Side, wire: bytes) -> None:
        msg = parse_datagram(wire)
        if isinstance(msg, Response):
            tx = dst.client
            assert tx is not None and client_key(msg) == client_key(tx.request)
            self.apply(dst, tx, tx.receive(msg, self.now))
            return
        key = server_key(msg)
        server = dst.servers.get(key)
        if server is None:
            if msg.method == "ACK":
                dst.tu.append(msg)  # an ACK for a 2xx: its own transaction, for the TU
                return
            server = server_transaction(msg, reliable=self.reliable)
            dst.servers[key] = server
            self.apply(dst, server, server.start(self.now))
        else:
            self.apply(dst, server, server.receive(msg, self.now))

    def run(self, first: Request, until: float = 300.0) -> None:
        client = client_transaction(first, reliable=self.reliable)
        self.a.client = client
        self.apply(self.a, client, client.start(self.now))
        while self.queue and self.queue[0][0] <= until:
            when, _, kind, payload = heapq.heappop(self.queue)
            self.now = when
            if kind == "deliver":
                dst, wire = payload  # type: ignore[misc]
                self.deliver(dst, wire)
            elif kind == "timer":
                side, tx, name, due = payload  # type: ignore[misc]
                if side.timers.get((id(tx), name)) == due:  # not cancelled or restarted
                    del side.timers[(id(tx), name)]
                    self.apply(side, tx, tx.timer_fired(TimerFired(name), self.now))
            elif kind == "respond":
                tx, status = payload  # type: ignore[misc]
                if tx.state in (State.TRYING, State.PROCEEDING):
                    resp = make_response(tx.request, status, to_tag="b1")
                    self.apply(self.b, tx, tx.respond(resp, self.now))


def _statuses(msgs: list[Request | Response]) -> list[int]:
    return [m.status for m in msgs if isinstance(m, Response)]


def test_invite_rejected_on_a_perfect_link() -> None:
    w = World(1, delay=(0.01, 0.1))
    w.run(request("INVITE"))
    assert _statuses(w.a.tu) == [100, 180, 486]
    assert [m.method for m in w.b.tu if isinstance(m, Request)] == ["INVITE"]
    server = next(iter(w.b.servers.values()))
    assert w.a.client is not None and w.a.client.terminated and server.terminated
    assert w.a.timeouts == w.b.timeouts == []
    acks = [parse_datagram(x) for x in w.a.sent if x.startswith(b"ACK")]
    assert len(acks) == 1
    ack = acks[0]
    assert isinstance(ack, Request) and ack.cseq.method == "ACK" and ack.to.tag == "b1"
    assert ack.via.branch == "z9hG4bKtest1" and ack.headers.get("Route") == "<sip:proxy.example;lr>"


@pytest.mark.parametrize("seed", range(40))
def test_invite_rejected_over_a_lossy_link(seed: int) -> None:
    w = World(seed, loss=0.3, dup=0.15)
    w.run(request("INVITE"))
    server = next(iter(w.b.servers.values()))
    # The server's TU saw the INVITE once, whatever the link did.
    assert [m.method for m in w.b.tu if isinstance(m, Request)] == ["INVITE"]
    # The client's TU saw the final response exactly once, then everything terminated.
    assert _statuses(w.a.tu).count(486) == 1
    assert w.a.client is not None and w.a.client.terminated and server.terminated
    assert w.a.timers == {} and w.b.timers == {}
    # Retransmissions are bounded by the timers (A doubles; G is capped at T2 until H).
    assert sum(x.startswith(b"INVITE") for x in w.a.sent) <= 7
    assert sum(x.startswith(b"SIP/2.0 486") for x in w.b.sent) <= 11
    # The server got an ACK (Confirmed) unless every one was lost; then Timer H says so.
    assert w.b.timeouts in ([], [Timer.H])


@pytest.mark.parametrize("seed", range(20))
def test_options_over_a_lossy_link(seed: int) -> None:
    w = World(seed, loss=0.3, dup=0.15, final=200)
    w.run(request("OPTIONS"))
    server = next(iter(w.b.servers.values()))
    assert [m.method for m in w.b.tu if isinstance(m, Request)] == ["OPTIONS"]
    assert _statuses(w.a.tu) == [200] or w.a.timeouts == [Timer.F]
    assert w.a.client is not None and w.a.client.terminated and server.terminated
    assert w.a.timers == {} and w.b.timers == {}


def test_invite_on_a_dead_link_times_out_with_timer_b_after_seven_sends() -> None:
    w = World(7, loss=1.0)
    w.run(request("INVITE"))
    sends = [x for x in w.a.sent if x.startswith(b"INVITE")]
    assert len(sends) == 7  # at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s
    assert w.a.timeouts == [Timer.B] and w.a.timed_out_at == pytest.approx(64 * T.t1)
    assert w.a.client is not None and w.a.client.terminated


def test_non_invite_on_a_dead_link_retransmits_at_t2_then_times_out_with_timer_f() -> None:
    w = World(7, loss=1.0)
    w.run(request("BYE"))
    assert len(w.a.sent) == 11  # 0, .5, 1.5, 3.5, then every T2 until 32 s
    assert w.a.timeouts == [Timer.F] and w.a.timed_out_at == pytest.approx(64 * T.t1)


def test_reliable_transport_never_retransmits_and_ends_at_once() -> None:
    w = World(3, reliable=True)
    w.run(request("INVITE"))
    assert sum(x.startswith(b"INVITE") for x in w.a.sent) == 1
    assert sum(x.startswith(b"SIP/2.0 486") for x in w.b.sent) == 1
    server = next(iter(w.b.servers.values()))
    assert w.a.client is not None and w.a.client.terminated and server.terminated
    assert w.a.timers == {} and w.b.timers == {}


def test_2xx_goes_to_the_tu_and_accepted_states_absorb_retransmissions() -> None:
    w = World(5, final=200)
    w.run(request("INVITE"), until=1000)
    # Provisional responses may repeat (a retransmitted INVITE gets the 100 again).
    assert sorted(set(_statuses(w.a.tu))) == [100, 180, 200] and _statuses(w.a.tu)[-1] == 200
    assert not any(x.startswith(b"ACK") for x in w.a.sent)  # 2xx ACK is the TU's job
    server = next(iter(w.b.servers.values()))
    assert isinstance(server, InviteServerTransaction)
    assert w.a.client is not None and w.a.client.terminated and server.terminated
    assert w.a.timeouts == [] and w.b.timeouts == []


def test_accepted_ict_passes_retransmitted_2xx_and_ignores_the_rest() -> None:
    tx = client_transaction(request("INVITE"), reliable=False)
    tx.start(0.0)
    ok = make_response(tx.request, 200, to_tag="x")
    first = tx.receive(ok, 1.0)
    assert PassToTU(ok) in first and StartTimer(Timer.M, 1.0 + 64 * T.t1) in first
    assert tx.receive(ok, 2.0) == [PassToTU(ok)]
    assert tx.receive(make_response(tx.request, 180, to_tag="x"), 2.0) == []
    assert Terminated() in tx.timer_fired(TimerFired(Timer.M), 33.0)


def test_impossible_transitions_are_local_protocol_errors() -> None:
    nist = server_transaction(request("OPTIONS"), reliable=False)
    nist.start(0.0)
    nist.respond(make_response(nist.request, 200, to_tag="t"), 0.1)
    with pytest.raises(LocalProtocolError, match="no transition from COMPLETED on TU_FINAL"):
        nist.respond(make_response(nist.request, 404, to_tag="t"), 0.2)
    with pytest.raises(LocalProtocolError, match="not running"):
        nist.timer_fired(TimerFired(Timer.A), 0.3)
    ict = client_transaction(request("INVITE"), reliable=False)
    with pytest.raises(LocalProtocolError):
        ict.receive(make_response(ict.request, 180), 0.0)  # not started
    with pytest.raises(LocalProtocolError):
        client_transaction(request("ACK"), reliable=False)


def test_invite_server_retransmits_final_until_ack_then_absorbs() -> None:
    ist = server_transaction(request("INVITE"), reliable=False)
    actions = ist.start(0.0)
    assert isinstance(actions[0], PassToTU)
    trying = [a for a in actions if isinstance(a, SendMessage)]
    assert [m.message.status for m in trying] == [100]  # type: ignore[union-attr]
    again = ist.receive(request("INVITE"), 0.2)
    assert again == trying  # the retransmitted INVITE gets the last provisional again
    busy = make_response(ist.request, 486, to_tag="t")
    out = ist.respond(busy, 1.0)
    assert StartTimer(Timer.G, 1.5) in out and StartTimer(Timer.H, 1.0 + 64 * T.t1) in out
    out = ist.timer_fired(TimerFired(Timer.G), 1.5)
    assert SendMessage(busy) in out and StartTimer(Timer.G, 2.5) in out
    ack = request("ACK")
    out = ist.receive(ack, 2.0)
    assert ist.state is State.CONFIRMED
    assert CancelTimer(Timer.G) in out and StartTimer(Timer.I, 2.0 + T.t4) in out
    assert ist.receive(ack, 2.1) == []
    assert Terminated() in ist.timer_fired(TimerFired(Timer.I), 7.0)


def test_server_key_matches_ack_to_invite_and_falls_back_to_rfc2543() -> None:
    assert server_key(request("ACK")) == server_key(request("INVITE"))
    assert server_key(request("INVITE")) != server_key(request("INVITE", branch="z9hG4bKother"))
    bare = request("OPTIONS", branch="z9hG4bK")  # RFC 4475 §3.2.1: only the cookie
    assert server_key(bare)[0] == "2543"
    assert server_key(bare) == server_key(request("OPTIONS", branch="z9hG4bK"))
    assert server_key(bare) != server_key(request("OPTIONS", branch="z9hG4bK", cseq=2))


def test_cancel_copies_the_invite_identity() -> None:
    invite = request("INVITE")
    cancel = build_cancel(invite)
    assert cancel.method == "CANCEL" and cancel.uri == invite.uri
    assert cancel.cseq.number == invite.cseq.number and cancel.cseq.method == "CANCEL"
    assert cancel.via == invite.via and cancel.call_id == invite.call_id
    assert client_key(cancel) != client_key(invite)


def test_timer_values_are_rfc3261_table_4() -> None:
    t = TimerValues()
    unreliable = {name: t.duration(name, reliable=False) for name in Timer}
    reliable = {name: t.duration(name, reliable=True) for name in Timer}
    assert (t.t1, t.t2, t.t4) == (0.5, 4.0, 5.0)
    assert unreliable[Timer.A] == unreliable[Timer.E] == unreliable[Timer.G] == 0.5
    assert unreliable[Timer.B] == unreliable[Timer.F] == unreliable[Timer.H] == 32.0
    assert unreliable[Timer.J] == 32.0 and unreliable[Timer.D] == 32.0
    assert unreliable[Timer.I] == unreliable[Timer.K] == 5.0
    assert reliable[Timer.D] == reliable[Timer.I] == reliable[Timer.J] == reliable[Timer.K] == 0
    assert reliable[Timer.B] == 32.0
    fast = TimerValues(t1=0.1)
    assert fast.duration(Timer.B, reliable=False) == pytest.approx(6.4)
    assert fast.duration(Timer.D, reliable=False) == 32.0  # D is at least 32 s


def test_a_smaller_t1_scales_the_invite_schedule() -> None:
    tx = client_transaction(request("INVITE"), reliable=False, timers=TimerValues(t1=0.1))
    out = tx.start(0.0)
    assert StartTimer(Timer.A, 0.1) in out and StartTimer(Timer.B, pytest.approx(6.4)) in out
    out = tx.timer_fired(TimerFired(Timer.A), 0.1)
    assert StartTimer(Timer.A, pytest.approx(0.3)) in out
