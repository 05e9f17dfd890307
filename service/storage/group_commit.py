"""Group commit: the queue in front of a store's single writer.

Callers queue their events and wait; one task takes everything waiting (up to
`max_batch`) and hands it to the store's commit function as one batch, so a
burst costs one transaction, not one per webhook. The commit function answers
every future of its batch. Both stores use it; what a commit does (one SQLite
transaction in a thread, or a PostgreSQL transaction under the head-row lock)
is theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from clerkrelay.v1.event_pb2 import Event
from service.storage.interface import AppendResult, StoreUnavailable
from service.storage.projection import Pending, prepare

__all__ = ["CommitBatch", "GroupCommit", "Waiting"]

Waiting = tuple[Pending, asyncio.Future[AppendResult]]
"""A queued event and the future its caller waits on."""

CommitBatch = Callable[[list[Waiting]], Awaitable[None]]
"""Commits a batch and answers each of its futures (a result or an exception)."""


class GroupCommit:
    """Queues appends and commits them in batches, one batch at a time, in queue order.

    Args:
        commit: The store's commit function.
        max_batch: At most this many events per batch.
        name: The writer task's name.
    """

    def __init__(self, commit: CommitBatch, max_batch: int, name: str) -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._queue: list[Waiting] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.create_task(self._run(), name=name)

    async def append(self, event: Event) -> AppendResult:
        """Queues an event; returns once the batch holding it is committed.

        Raises:
            StoreUnavailable: The store is closing, or the commit failed.
        """
        if self._closing:
            raise StoreUnavailable("the store is shutting down")
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._queue.append((prepare(event), future))
        self._wake.set()
        return await future

    async def append_many(self, events: Sequence[Event]) -> list[AppendResult | BaseException]:
        """Queues events, in order, as one caller; returns once every one is answered.

        Each event gets what `append` would give it, an exception returned
        rather than raised, for a future each and no task: a reconciliation
        appends its repairs by the hundred.

        Raises:
            StoreUnavailable: The store is closing (nothing was queued).
        """
        if self._closing:
            raise StoreUnavailable("the store is shutting down")
        loop = asyncio.get_running_loop()
        prepared = [prepare(event) for event in events]
        futures: list[asyncio.Future[AppendResult]] = [loop.create_future() for _ in prepared]
        self._queue.extend(zip(prepared, futures, strict=True))
        self._wake.set()
        return list(await asyncio.gather(*futures, return_exceptions=True))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await self._commit(batch)
            if self._closing:
                return

    async def close(self) -> None:
        """Refuses new appends; returns once every queued one is answered."""
        self._closing = True
        self._wake.set()
        await self._task
