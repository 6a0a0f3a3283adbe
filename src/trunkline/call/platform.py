"""Wiring: one object that holds a whole trunkline (engine, sim network, store, webhooks)."""

from __future__ import annotations

from trunkline.clock import Clock
from trunkline.door.router import Router
from trunkline.engine.ports import RecordingSink, Webhooks
from trunkline.engine.switch import EngineSettings, Switch
from trunkline.ids import Ids, RandomIds
from trunkline.sim.network import SimConversationRecorder, SimNetwork
from trunkline.store.base import Store


class Platform:
    """Everything a running trunkline needs, built from explicit parts (STYLE rule 10)."""

    def __init__(
        self,
        *,
        clock: Clock,
        store: Store,
        webhooks: Webhooks,
        ids: Ids | None = None,
        settings: EngineSettings | None = None,
        recordings: RecordingSink | None = None,
    ) -> None:
        self.clock = clock
        self.store = store
        self.webhooks = webhooks
        self.recordings = recordings  # where drivers store finished recordings
        self.sim = SimNetwork(clock, recordings=recordings)
        # outbound legs: sim phones, and the SIP/WebSocket doors once they run
        self.router = Router(self.sim)
        self.switch = Switch(
            clock=clock,
            ids=ids or RandomIds(),
            recorder=store,
            webhooks=webhooks,
            network=self.router,
            directory=store,
            settings=settings,
        )
        self.sim.bind(self.switch)
        # conversations with record: true (the media doors put the real mixer in its place)
        self.switch.conversations.recorder = SimConversationRecorder(clock, recordings)
