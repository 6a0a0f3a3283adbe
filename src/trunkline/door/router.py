"""Where an outbound leg goes: the engine's one :class:`~trunkline.engine.ports.Network`.

Endpoints are routed in order: a ``websocket`` endpoint to the WebSocket door; a phone,
SIP URI or app user that a sim phone answers to the simulated network (so tests and
demos keep working beside real trunks); everything else to the SIP door when SIP is
on. What nothing can reach fails at once with ``cannot_route``.
"""

from __future__ import annotations

from typing import Any, Protocol

from trunkline.engine.leg import Leg
from trunkline.sim.network import SimNetwork

__all__ = ["Dialer", "Router"]


class Dialer(Protocol):
    def dial(self, leg: Leg, endpoint: dict[str, Any], caller: str) -> None: ...


class Router:
    """The composite network: sim phones, SIP and WebSocket drivers behind one ``dial``."""

    def __init__(
        self,
        sim: SimNetwork | None,
        *,
        sip: Dialer | None = None,
        websocket: Dialer | None = None,
    ) -> None:
        self.sim = sim
        self.sip = sip
        self.websocket = websocket

    def dial(self, leg: Leg, endpoint: dict[str, Any], caller: str) -> None:
        kind = endpoint.get("type", "phone")
        if kind == "websocket" and self.websocket is not None:
            self.websocket.dial(leg, endpoint, caller)
        elif self.sim is not None and (self.sip is None or self.sim.find(endpoint) is not None):
            self.sim.dial(leg, endpoint, caller)
        elif self.sip is not None and kind in ("phone", "sip", "app"):
            self.sip.dial(leg, endpoint, caller)
        else:
            leg.switch.clock.call_soon(
                lambda: leg.on_failed("failed", f"no route for a {kind} endpoint", 404)
            )
