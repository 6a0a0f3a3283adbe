"""Wiring: one object that holds a whole trunkline (engine, sim network, store, webhooks)."""

from __future__ import annotations

from trunkline.clock import Clock
from trunkline.engine.ports import Webhooks
from trunkline.engine.switch import EngineSettings, Switch
from trunkline.ids import Ids, RandomIds
from trunkline.sim.network import SimNetwork
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
    ) -> None:
        self.clock = clock
        self.store = store
        self.webhooks = webhooks
        self.sim = SimNetwork(clock)
        self.switch = Switch(
            clock=clock,
            ids=ids or RandomIds(),
            recorder=store,
            webhooks=webhooks,
            network=self.sim,
            directory=store,
            settings=settings,
        )
        self.sim.bind(self.switch)
