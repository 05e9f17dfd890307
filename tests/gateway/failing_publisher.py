"""A publisher that fails or hangs at our own seam, and records whether it was asked.

It appears only where a test is about HTTP status codes at that seam;
everything else runs on the real SQLite store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from clerkrelay.v1.event_pb2 import Event
from service.storage import AppendResult, StoreUnavailable


class FailingPublisher:
    """Fails (or never answers) at our own seam, and records whether it was asked."""

    def __init__(self, publish: Callable[[], Awaitable[AppendResult]]) -> None:
        self._publish = publish
        self.published: list[Event] = []

    async def publish(self, event: Event) -> AppendResult:
        self.published.append(event)
        return await self._publish()

    async def ready(self) -> None:
        await self._publish()


async def unavailable() -> AppendResult:
    raise StoreUnavailable("database is locked")


async def hang() -> AppendResult:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")
