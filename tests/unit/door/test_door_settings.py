"""The [sip] configuration section, the call-progress tables and the outbound router."""

from __future__ import annotations

from typing import Any

import pytest

from trunkline.clock import VirtualClock
from trunkline.config import parse_config
from trunkline.door.progress import failure_status, refusal_code
from trunkline.door.router import Router
from trunkline.errors import ConfigError


def sip(**section: Any) -> dict[str, Any]:
    return {"sip": section, "applications": [{"name": "ivr"}]}


def test_sip_is_off_by_default() -> None:
    cfg = parse_config({})
    assert not cfg.sip.enabled
    assert cfg.sip.outbound_trunk is None


def test_trunks_and_users_are_read() -> None:
    cfg = parse_config(
        sip(
            enabled=True,
            port=5070,
            public_host="198.51.100.7",
            trunks=[
                {"name": "in", "sources": ["203.0.113.0/24", "2001:db8::/32"]},
                {
                    "name": "out",
                    "gateway": "sip.carrier.example",
                    "transport": "tcp",
                    "username": "acct",
                    "password": "pw",
                    "caller_id": "+447700900000",
                    "prefix": "+",
                },
            ],
            users=[{"username": "alice", "password": "correct-horse", "application": "ivr"}],
        )
    )
    s = cfg.sip
    assert s.advertised_host == "198.51.100.7"
    assert s.trunks[0].admits("203.0.113.9") and s.trunks[0].admits("2001:db8::1")
    assert not s.trunks[0].admits("192.0.2.1") and not s.trunks[0].admits("not-an-ip")
    out = s.outbound_trunk
    assert out is not None and out.name == "out" and out.caller_id == "447700900000"
    assert s.user("alice") is not None and s.user_apps["alice"] == cfg.applications[0].id


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"trunks": [{"name": "t"}]}, "a trunk needs sources, a gateway or inbound_auth"),
        ({"trunks": [{"name": "t", "inbound_auth": True}]}, "inbound_auth: needs the username"),
        (
            {
                "trunks": [{"name": "t", "inbound_auth": True, "username": "a", "password": "p"}],
                "users": [{"username": "a", "password": "longenough", "application": "ivr"}],
            },
            "the username a appears twice",
        ),
        ({"trunks": [{"name": "t", "sources": ["nonsense"]}]}, "IP address or network"),
        (
            {"trunks": [{"name": "t", "gateway": "g", "username": "u"}]},
            "give username and password together",
        ),
        ({"rtp_ports": [30000, 20000]}, "rtp_ports"),
        (
            {"users": [{"username": "a", "password": "longenough", "application": "nope"}]},
            "sip.users[0].application: no application named 'nope'",
        ),
        ({"users": [{"username": "a", "password": "short", "application": "ivr"}]}, "password"),
        ({"udp": False, "tcp": False}, "UDP, TCP or both"),
    ],
)
def test_bad_sections_name_the_key(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="sip") as info:
        parse_config(sip(**section))
    assert message in str(info.value)


def test_real_sip_refuses_the_virtual_clock() -> None:
    with pytest.raises(ConfigError, match="real clock"):
        parse_config({"sip": {"enabled": True}, "sim": {"clock": "virtual"}})


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (486, "busy"),
        (600, "busy"),
        (603, "rejected"),
        (408, "timeout"),
        (480, "unanswered"),
        (487, "cancelled"),
        (404, "failed"),
        (503, "failed"),
        (None, "timeout"),
    ],
)
def test_sip_failures_map_to_vonage_states(code: int | None, status: str) -> None:
    assert failure_status(code) == status


def test_engine_refusals_map_to_sip_answers() -> None:
    assert refusal_code("busy") == (486, "Busy Here")
    assert refusal_code("rejected") == (603, "Decline")
    assert refusal_code("anything else")[0] == 500


class _Dialer:
    def __init__(self) -> None:
        self.dialled: list[dict[str, Any]] = []

    def dial(self, leg: Any, endpoint: dict[str, Any], caller: str) -> None:
        self.dialled.append(endpoint)


class _Sim(_Dialer):
    def __init__(self, numbers: set[str]) -> None:
        super().__init__()
        self.numbers = numbers

    def find(self, endpoint: dict[str, Any]) -> object | None:
        return object() if endpoint.get("number") in self.numbers else None


class _Leg:
    def __init__(self) -> None:
        self.failed: list[tuple[str, str | None, int | None]] = []
        self.switch = self
        self.clock = VirtualClock()

    def on_failed(self, status: str, detail: str | None = None, code: int | None = None) -> None:
        self.failed.append((status, detail, code))


def test_the_router_prefers_sim_phones_then_sip_and_websockets_go_to_their_door() -> None:
    sim, sipd, ws = _Sim({"447700900001"}), _Dialer(), _Dialer()
    router = Router(sim, sip=sipd, websocket=ws)  # type: ignore[arg-type]
    leg: Any = _Leg()
    router.dial(leg, {"type": "phone", "number": "447700900001"}, "")
    router.dial(leg, {"type": "phone", "number": "447700900002"}, "")
    router.dial(leg, {"type": "websocket", "uri": "ws://x"}, "")
    router.dial(leg, {"type": "vbc", "extension": "100"}, "")
    assert sim.dialled == [{"type": "phone", "number": "447700900001"}]
    assert sipd.dialled == [{"type": "phone", "number": "447700900002"}]
    assert ws.dialled == [{"type": "websocket", "uri": "ws://x"}]
    leg.clock.run()
    assert leg.failed == [("failed", "no route for a vbc endpoint", 404)]


def test_without_sip_everything_but_websockets_goes_to_the_sim() -> None:
    sim = _Sim(set())
    router = Router(sim)  # type: ignore[arg-type]
    router.dial(_Leg(), {"type": "phone", "number": "1"}, "")  # type: ignore[arg-type]
    assert sim.dialled == [{"type": "phone", "number": "1"}]
