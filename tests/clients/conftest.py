"""Client fixtures: a real `clerk-relay serve` process, and a sender of signed webhooks to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.clients.webhooks import WebhookSender
from tests.processes import RelayProcess, running, serve


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayProcess]:
    """`clerk-relay serve` on free loopback ports, over a SQLite file in `tmp_path`."""
    process = serve(tmp_path)
    with running(process):
        yield process


@pytest.fixture
async def sender(relay: RelayProcess) -> AsyncIterator[WebhookSender]:
    """Posts signed webhooks to `relay`."""
    async with httpx.AsyncClient(timeout=10) as http:
        yield WebhookSender(http, relay.webhook_url)
