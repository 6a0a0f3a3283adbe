"""The simulated phone network: virtual phones with scripted behaviour."""

from trunkline.sim.network import SimCall, SimNetwork
from trunkline.sim.phones import LogEntry, SimPhone, Step, speech_seconds

__all__ = ["LogEntry", "SimCall", "SimNetwork", "SimPhone", "Step", "speech_seconds"]
