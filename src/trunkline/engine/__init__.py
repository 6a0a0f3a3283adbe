"""The call-flow engine: pure, event-driven NCCO execution per call leg.

Nothing here touches a socket, a file or the wall clock. The engine reacts to
what network drivers report about legs (answered, digit, hung up…) and to
webhook replies, and it acts through small ports (:mod:`trunkline.engine.ports`).
"""

from trunkline.engine.hooks import Hook, HookResult
from trunkline.engine.leg import Leg
from trunkline.engine.ports import Channel, Network, Prompt, Recorder, Webhooks
from trunkline.engine.switch import CallOptions, EngineSettings, Switch

__all__ = [
    "CallOptions",
    "Channel",
    "EngineSettings",
    "Hook",
    "HookResult",
    "Leg",
    "Network",
    "Prompt",
    "Recorder",
    "Switch",
    "Webhooks",
]
