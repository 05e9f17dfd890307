"""Client fixtures: a real `clerk-relay serve` process, and a sender of signed webhooks to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.clients.webhooks import WebhookSender
from tests.processes import RelayProcess


@pytest.fixture
async def sender(relay: RelayProcess) -> AsyncIterator[WebhookSender]:
    """Posts signed webhooks to `relay`."""
    async with httpx.AsyncClient(timeout=10) as http:
        yield WebhookSender(http, relay.webhook_url)
