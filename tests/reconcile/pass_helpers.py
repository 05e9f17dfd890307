"""Helpers of the reconciliation pass tests: run a pass on the double, read the log and mirror."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from clerkrelay.v1.event_pb2 import Event
from service.reconcile import ClerkApi, PassReport, PassSettings, run_pass
from service.reconcile.clerk_api import ListedPage
from service.reconcile.paging import ListPosition
from service.storage import EntityRecord, Store
from tests.reconcile.conftest import settings

NOW_MS = 1_800_000_000_000
"""The pass's clock: later than every object the double makes."""


async def reconcile(
    api_url: str,
    store: Store,
    kinds: Sequence[str] = ("user",),
    pass_id: str = "p1",
    *,
    api_overrides: dict[str, Any] | None = None,
    **pass_overrides: Any,
) -> PassReport:
    """Runs one pass against the double, with a fixed clock."""
    pass_settings = PassSettings(clock_ms=lambda: NOW_MS, **pass_overrides)
    async with ClerkApi(settings(api_url, **(api_overrides or {}))) as api:
        return await run_pass(store, api, kinds, pass_id, pass_settings)


async def log(store: Store, after: int = 0) -> list[Event]:
    """Every event of the log after `after`, parsed."""
    return [stored.event() for stored in (await store.read(after, 100_000)).events]


async def record(store: Store, kind: str, entity_id: str) -> EntityRecord:
    """The mirror's record of an entity (which must exist)."""
    found, _ = await store.get_entity(kind, entity_id)
    assert found is not None, (kind, entity_id)
    return found


class DuringListing(ClerkApi):
    """A client that runs `during()` once, after yielding the first page of each listing."""

    def __init__(self, api_url: str, during: Callable[[], Awaitable[None]]) -> None:
        super().__init__(settings(api_url))
        self._during = during

    async def list_pages(
        self, kind: str, start: ListPosition | None = None
    ) -> AsyncIterator[ListedPage]:
        """The listing, with `during()` run after its first page (before the listing ends)."""
        first = True
        async for page in super().list_pages(kind, start):
            yield page
            if first:
                first = False
                await self._during()
