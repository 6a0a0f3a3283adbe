"""A running trunkline: store, clock, webhooks and platform, opened and closed together."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from trunkline.call.doors import Doors
from trunkline.call.platform import Platform
from trunkline.call.webhooks import HttpWebhooks
from trunkline.clock import AsyncioClock, Clock, VirtualClock
from trunkline.config import Config, apply_config
from trunkline.engine.switch import EngineSettings
from trunkline.files import DiskFileStore, default_files_dir
from trunkline.recordings import FileRecordings
from trunkline.store import open_store
from trunkline.store.base import Store
from trunkline.webhooks.client import WebhookClient
from trunkline.webhooks.guard import UrlGuard
from trunkline.webhooks.outbox import RetryPolicy, close_orphaned_calls
from trunkline.webhooks.signing import WebhookSigner

log = logging.getLogger(__name__)


class Runtime:
    """``async with Runtime(config) as rt:`` — everything ``trunkline serve`` runs."""

    def __init__(
        self,
        config: Config,
        *,
        store: Store | None = None,
        webhook_policy: RetryPolicy | None = None,
        url_guard: UrlGuard | None = None,
        signer: WebhookSigner | None = None,
    ) -> None:
        self.config = config
        self._given_store = store
        # webhook delivery as configured ([webhooks], [account] signature_secret);
        # parameters given here win (tests)
        self.webhook_policy = webhook_policy or RetryPolicy(
            mode=config.webhook_mode, horizon=config.webhook_horizon
        )
        self.url_guard = url_guard or UrlGuard(strict=config.strict_urls)
        if signer is None and config.signature_secret:
            signer = WebhookSigner(config.signature_secret, config.api_key or "trunkline")
        self.signer = signer
        self.clock: Clock
        self.virtual: VirtualClock | None = None
        self.store: Store
        self.webhooks: HttpWebhooks
        self.platform: Platform
        self.doors: Doors
        self.files: DiskFileStore
        self.recordings: FileRecordings
        self._temp_files: Path | None = None

    async def __aenter__(self) -> Runtime:
        cfg = self.config
        self.store = self._given_store or open_store(cfg.database)
        apply_config(cfg, self.store)
        if cfg.sim_clock == "virtual":
            self.virtual = VirtualClock(strict=False)
            self.clock = self.virtual
        else:
            self.clock = AsyncioClock()
        self.webhooks = HttpWebhooks(
            self.clock,
            self.store,
            WebhookClient(guard=self.url_guard),
            policy=self.webhook_policy,
            signer=self.signer,
        )
        self.files = self._open_files()
        self.recordings = FileRecordings(self.files, self.clock)
        self.platform = Platform(
            clock=self.clock,
            store=self.store,
            webhooks=self.webhooks,
            settings=EngineSettings(base_url=cfg.public_url),
            recordings=self.recordings,
        )
        # restart recovery: calls a previous process left live get a final state, and
        # every event it left undelivered (those included) is delivered, same ids
        closed = close_orphaned_calls(self.store, self.clock.now())
        if closed:
            log.warning("closed %d call(s) left live by a previous run", len(closed))
        self.webhooks.recover()
        self.doors = Doors(
            cfg,
            clock=self.clock,
            platform=self.platform,
            store=self.store,
            recordings=self.recordings,
            guard=self.url_guard,
            signer=self.signer,
        )
        await self.doors.__aenter__()
        log.info(
            "trunkline ready: %d application(s), %d number(s), database %s, %s clock",
            len(cfg.applications),
            len(cfg.numbers),
            cfg.database,
            cfg.sim_clock,
        )
        return self

    def _open_files(self) -> DiskFileStore:
        """Recordings go to ``[files] dir``, else beside the SQLite file, else a temp dir."""
        where = self.config.files_dir or default_files_dir(self.config.database)
        if where is None:
            self._temp_files = Path(tempfile.mkdtemp(prefix="trunkline-files-"))
            where = self._temp_files
        return DiskFileStore(Path(where), self.store, now=self.clock.now)

    async def settle(self) -> None:
        """On a virtual clock, run what is due now (the API calls this after each change)."""
        if self.virtual is not None:
            await self.virtual.advance_async(0)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for leg in list(self.platform.switch.legs.values()):
            leg.hangup("platform")
        await self.doors.__aexit__(None, None, None)
        # recordings the hang-ups stopped are stored and their record events sent
        await self.recordings.aclose()
        await self.settle()
        await self.webhooks.aclose()
        if self._given_store is None:
            self.store.close()
        if self._temp_files is not None:
            shutil.rmtree(self._temp_files, ignore_errors=True)
