"""The kit's HTTP path: the real webhook client, reporting each answer to the kit.

Kept apart so that a test whose app runs in-process never imports aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trunkline.webhooks.client import WebhookClient, WebhookRequest, WebhookResponse

if TYPE_CHECKING:
    from trunkline.testing.exchanges import KitWebhooks


class RecordingClient(WebhookClient):
    """The real webhook client, telling the kit what each request got back."""

    def __init__(self, owner: KitWebhooks) -> None:
        super().__init__()
        self.owner = owner

    async def send(self, req: WebhookRequest) -> WebhookResponse:
        res = await super().send(req)
        self.owner.http_answered(req, res)
        return res
