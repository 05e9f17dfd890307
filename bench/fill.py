"""Filling a store quickly, through the store API, with a realistic mix of events.

The mix is Clerk's example of every event type (`clerkrelay.cli.samples`), converted
once: about 2.1 KB per stored event on average. Appends are issued in large
concurrent batches so that the store group-commits them (the SQLite store is
opened with a larger `max_batch` for this; that only changes how many waiting
appends share a transaction). Events get fresh webhook ids, so each is stored.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from clerkrelay.cli.samples import sample, sample_types
from clerkrelay.v1.event_pb2 import Event
from gateway.convert import convert
from service.storage import Store
from service.storage.postgres import PostgresStore
from service.storage.sqlite import SqliteStore
from tests.gateway.signing import body_of

__all__ = ["BATCH", "fill", "fill_postgres", "fill_sqlite", "mixed_events"]

BATCH = 4096
"""Appends in flight at once while filling."""


def mixed_events() -> list[Event]:
    """One converted example of every Clerk event type."""
    envelopes = [sample(event_type) for event_type in sample_types()]
    return [convert(envelope, body_of(envelope), "msg_template").event for envelope in envelopes]


async def fill(store: Store, total: int) -> int:
    """Appends mixed events until the log holds `total`; returns how many were appended."""
    templates = mixed_events()
    head = await store.head()
    appended = 0
    while head < total:
        batch = []
        for i in range(min(BATCH, total - head)):
            event = Event()
            event.CopyFrom(templates[(head + i) % len(templates)])
            event.id = f"msg_fill_{head + i + 1:09d}"
            batch.append(event)
        results = await asyncio.gather(*(store.append(event) for event in batch))
        appended += sum(not result.duplicate for result in results)
        head = await store.head()
    return appended


async def fill_sqlite(path: Path, total: int) -> int:
    """Fills (or extends) the SQLite store in `path` to `total` events."""
    store = await SqliteStore.open(path, max_batch=BATCH)
    try:
        return await fill(store, total)
    finally:
        await store.close()


async def fill_postgres(url: str, total: int) -> int:
    """Fills (or extends) the PostgreSQL store at `url` to `total` events."""
    store = await PostgresStore.open(url, max_batch=BATCH)
    try:
        return await fill(store, total)
    finally:
        await store.close()
