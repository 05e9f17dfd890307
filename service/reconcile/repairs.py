"""A kind's repairs on their way to the log, and the listing positions that wait for them.

The pass queues each repair as it finds it (`RepairQueue.append`); every
`append_batch` repairs, and at the end of each page, the batch goes to the
store in one call (`Store.append_many`: one task per batch, not one per
repair), whose group commit takes it into one transaction, so the pass
does not wait for each. After each page the pass adds the listing position
that page reached (`page_done`). Entries are settled in order: a batch's appends are
awaited and counted into the kind's report, a position is saved in the
pass's journal, only once every repair queued before it is durable. A
resumed listing therefore never skips a repair.

While the next page is on its way (`idle`), everything is settled at once;
otherwise a few entries (`depth`) stay in flight, so that comparing the next
page overlaps with the commits of the last one. A relay killed meanwhile
resumes from an earlier page, at most `depth` pages back: their objects are
listed and compared again, and their repairs are found made (or, appended
again, deduplicated by their ids); only `scanned` and the like count them
twice.
"""

from __future__ import annotations

import asyncio
from collections import deque

from clerkrelay.v1.event_pb2 import Event
from service.reconcile.journal import PassJournal
from service.reconcile.paging import ListPosition
from service.reconcile.report import KindReport
from service.reconcile.synthetic import Change
from service.storage import AppendResult, Store

__all__ = ["RepairQueue"]

_Batch = tuple[list[Change], "asyncio.Task[list[AppendResult | BaseException]]"]
"""A batch of repairs being appended: their changes, and the one task appending them."""


class RepairQueue:
    """Appends a kind's repairs, counts them, saves the listing's positions once they are durable.

    Args:
        store: Where the repairs are appended.
        report: The kind's report, counted into.
        journal: Where positions are saved.
        batch: Appends per batch (the unit awaited at once).
        depth: Entries (batches and positions) left in flight while the
            pass is busy.
    """

    def __init__(
        self, store: Store, report: KindReport, journal: PassJournal, batch: int, depth: int = 4
    ) -> None:
        self._store = store
        self._report = report
        self._journal = journal
        self._batch_size = batch
        self._depth = depth
        self._changes: list[Change] = []
        self._events: list[Event] = []
        self._queue: deque[_Batch | ListPosition] = deque()

    async def append(self, change: Change, event: Event) -> None:
        """Queues an append; settles the oldest entries when too many are in flight."""
        self._changes.append(change)
        self._events.append(event)
        if len(self._events) >= self._batch_size:
            self._close_batch()
            await self._settle(self._depth)

    async def page_done(self, position: ListPosition, *, idle: bool) -> None:
        """Adds the position the listing reached; settles everything when `idle`."""
        self._close_batch()
        self._queue.append(position)
        await self._settle(0 if idle else self._depth)

    async def drain(self) -> None:
        """Settles everything queued: every append durable and counted, every position saved.

        Raises:
            Exception: The first append that failed (positions after it are not saved).
        """
        self._close_batch()
        await self._settle(0)

    def _close_batch(self) -> None:
        """Hands the open batch to the store, as one task (`Store.append_many`)."""
        if self._events:
            task = asyncio.create_task(self._store.append_many(self._events))
            self._queue.append((self._changes, task))
            self._changes, self._events = [], []

    async def _settle(self, keep: int) -> None:
        while len(self._queue) > keep:
            entry = self._queue.popleft()
            if isinstance(entry, ListPosition):
                await self._journal.listing(self._report, entry)
            else:
                await self._count(entry)

    async def _count(self, batch: _Batch) -> None:
        """Waits for a batch's appends and counts them; raises the first failure."""
        changes, task = batch
        results = await task
        report = self._report
        failure: BaseException | None = None
        for change, result in zip(changes, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
                continue
            if result.duplicate:
                report.duplicates += 1
                continue
            if change is Change.CREATED:
                report.created += 1
            elif change is Change.UPDATED:
                report.updated += 1
            else:
                report.deleted += 1
            if result.stale:
                report.stale += 1
        if failure is not None:
            raise failure
