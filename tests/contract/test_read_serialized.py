"""Store contract, `read_serialized`: the read of a stream that matches everything."""

from __future__ import annotations

import pytest

from service.storage import BeforeRetention, Retention, Store
from tests.contract.conftest import StoreFactory
from tests.history import event


async def test_empty_log_reads_nothing(store: Store) -> None:
    page = await store.read_serialized(0, 100)
    assert page.events == []
    assert page.last_examined == 0


async def test_pages_hold_the_same_events_as_read(store: Store) -> None:
    for i in range(7):
        kind = "user.created" if i % 2 else "organization.created"
        await store.append(event(kind, f"id_{i}"))
    full = await store.read(0, 100)

    first = await store.read_serialized(0, 4)
    rest = await store.read_serialized(first.last_examined, 100)
    end = await store.read_serialized(rest.last_examined, 100)

    assert (first.last_examined, rest.last_examined, end.last_examined) == (4, 7, 7)
    assert first.events + rest.events == [stored.data for stored in full.events]
    assert end.events == []
    assert [e.sequence for e in full.events] == list(range(1, 8))


async def test_before_retention_is_refused(store_factory: StoreFactory) -> None:
    store = await store_factory(Retention(max_count=3, interval_s=3600))
    for i in range(8):
        await store.append(event("user.updated", "user_keep", at=1_700_000_000_000 + i))
    assert await store.trim() == 5
    with pytest.raises(BeforeRetention) as error:
        await store.read_serialized(4, 100)
    assert error.value.oldest_retained == 6
    kept = await store.read_serialized(5, 100)
    assert kept.last_examined == 8
    assert kept.events == [stored.data for stored in (await store.read(5, 100)).events]
