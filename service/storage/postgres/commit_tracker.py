"""Commits of every relay process, reported in order: LISTEN/NOTIFY with catch-up reads.

Notifications: the append transaction also sends `NOTIFY` on a channel named
after the schema, with the new head and this store's origin id as payload;
PostgreSQL delivers it only if the transaction commits. Events this store
committed go to its `Notifier` directly. Another process's notification (or a
reconnection of the listener, or a batch of ours that landed after events the
`Notifier` has not seen yet) wakes a catch-up task that reads the log after the
`Notifier`'s head, in pages, and reports the events in order. Deliveries are
serialized by one lock and each starts right after the `Notifier`'s head, so
every event is reported once, in sequence order.

The listener has a dedicated connection; when it is cut off, it reconnects
with back-off, and catches up on whatever was committed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psycopg
from psycopg import sql

from service.storage.interface import CommitListener, StoredEvent, StoreError
from service.storage.notifier import Notifier
from service.storage.postgres.connections import Connection, connect, one_line
from service.storage.postgres.queries import log_rows, meta
from service.storage.projection import BatchPlan

__all__ = ["CommitTracker", "ReadEvents", "channel_name"]

_log = logging.getLogger("clerk_relay.store")

_CATCH_UP_PAGE = 1000
_CHANNEL_MAX_BYTES = 63  # PostgreSQL's identifier limit (NAMEDATALEN - 1)

ReadEvents = Callable[
    [Callable[[Connection], Awaitable[list[StoredEvent]]]], Awaitable[list[StoredEvent]]
]
"""Runs a query in one read-only snapshot; raises `StoreError` when it cannot."""


def channel_name(schema: str, topic: str = "clerk_relay") -> str:
    """The LISTEN/NOTIFY channel of `topic` for the relay whose tables live in `schema`."""
    channel = f"{topic}.{schema}"
    if len(channel.encode()) > _CHANNEL_MAX_BYTES:
        channel = f"{topic}.{hashlib.sha256(schema.encode()).hexdigest()[:40]}"
    return channel


class CommitTracker:
    """Reports every batch committed, by this store or another process, once and in order.

    Runs two tasks until `close`: one listens for notifications (reconnecting
    when cut off), the other reads from the log what the `Notifier` has not
    been told yet. The store hands it to its writer as the writer's
    `CommitReports`.
    """

    def __init__(
        self,
        *,
        url: str,
        kwargs: dict[str, Any],
        listener: Connection,
        channel: str,
        head: int,
        read: ReadEvents,
    ) -> None:
        """Starts tracking commits after `head`.

        Args:
            url: The store's URL, to reconnect the listener.
            kwargs: The connection parameters added to the URL's.
            listener: A connection already listening on `channel`.
            channel: The channel the relay's appends notify.
            head: The head read after `listener` started listening.
            read: Runs the catch-up reads (the store passes its readers' `read`).
        """
        self._url = url
        self._kwargs = kwargs
        self._listen_conn: Connection | None = listener
        self._channel = channel
        self._read = read
        # Tells our own notifications apart from other processes'.
        self._origin = uuid.uuid4().hex[:16]
        self._notifier = Notifier(head)
        self._known_head = head  # the highest head heard of, reported or not yet
        self._own_heard = head  # the highest head our own notifications told of
        self._committing = False  # the writer is running a batch and will report it
        self._delivery = asyncio.Lock()  # serializes reports to the notifier
        self._behind = asyncio.Event()  # the notifier is behind _known_head
        self._listen_task = asyncio.create_task(self._listen_loop(), name="postgres-listener")
        self._catch_up_task = asyncio.create_task(self._catch_up_loop(), name="postgres-catch-up")

    def add_listener(self, listener: CommitListener) -> Callable[[], None]:
        """Calls `listener` with every batch committed from now on, by any process."""
        return self._notifier.add_listener(listener)

    async def wait_for(self, sequence: int) -> None:
        """Returns once the head, as reported in this process, has reached `sequence`."""
        await self._notifier.wait_for(sequence)

    # -- this store's commits ----------------------------------------------------

    def notification(self, head: int) -> tuple[str, str]:
        """The channel and payload of the `NOTIFY` by which this store announces `head`."""
        return self._channel, f"{head} {self._origin}"

    @contextlib.contextmanager
    def own_commit(self) -> Iterator[None]:
        """While the writer runs a batch, which it then reports itself with `report_own`."""
        self._committing = True
        try:
            yield
        finally:
            self._committing = False
            # A notification of ours heard meanwhile may tell of a commit whose
            # answer was lost with the connection: catch up on it (a no-op when
            # the batch was reported directly).
            self._heard(self._own_heard)

    async def report_own(self, plan: BatchPlan, locked_head: int) -> None:
        """Reports a batch this store committed, directly when nothing precedes it unreported."""
        self._known_head = max(self._known_head, plan.head)
        if plan.head <= self._notifier.head:
            return
        first = plan.log_rows[0].stored.sequence if plan.log_rows else locked_head + 1
        if first == self._notifier.head + 1 and not self._delivery.locked():
            async with self._delivery:
                await self._notifier.committed([row.stored for row in plan.log_rows], plan.head)
        else:
            # Other processes' events come first, or a catch-up is reading: it
            # will report ours too, from the log, in order.
            self._behind.set()

    # -- every process's commits ---------------------------------------------------

    def _heard(self, head: int) -> None:
        """Notes that the log reached `head` (in some process)."""
        if head > self._known_head:
            self._known_head = head
        if self._known_head > self._notifier.head:
            self._behind.set()

    def _on_notify(self, payload: str) -> None:
        text, _, origin = payload.partition(" ")
        try:
            head = int(text)
        except ValueError:
            _log.warning("ignoring a malformed notification on %s: %r", self._channel, payload)
            return
        if origin == self._origin:
            self._own_heard = max(self._own_heard, head)
            if self._committing:
                return  # the writer reports it directly once it has its answer
        self._heard(head)

    async def _listen_loop(self) -> None:
        """Hears other processes' commits; reconnects (and catches up) when cut off."""
        delay = 0.1
        while True:
            try:
                conn = self._listen_conn
                if conn is None:
                    conn = await connect(self._url, self._kwargs)
                    self._listen_conn = conn
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    # Whatever was committed while nobody listened.
                    self._heard(await meta(conn, "head"))
                    _log.info("listening for PostgreSQL notifications again")
                delay = 0.1
                async for notify in conn.notifies():
                    self._on_notify(notify.payload)
            except (psycopg.Error, StoreError) as error:
                _log.warning("PostgreSQL notifications interrupted: %s", one_line(error))
            await self._drop_listener()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _catch_up_loop(self) -> None:
        """Reports, from the log, the events the notifier has not seen yet."""
        while True:
            await self._behind.wait()
            self._behind.clear()
            try:
                await self._catch_up()
            except StoreError as error:
                _log.warning("cannot read new events yet: %s", error)
                await asyncio.sleep(1.0)
                self._behind.set()

    async def _catch_up(self) -> None:
        while True:
            async with self._delivery:
                after, target = self._notifier.head, self._known_head
                if after >= target:
                    return
                events = await self._read(
                    functools.partial(log_rows, after=after, upto=target, limit=_CATCH_UP_PAGE)
                )
                if not events or events[0].sequence != after + 1:
                    _log.warning(
                        "events after %d were trimmed before this process reported them", after
                    )
                await self._notifier.committed(events, events[-1].sequence if events else target)

    # -- lifecycle -------------------------------------------------------------------

    async def close(self) -> None:
        """Stops listening and catching up, and closes the listener's connection."""
        for task in (self._listen_task, self._catch_up_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop_listener()

    async def _drop_listener(self) -> None:
        conn, self._listen_conn = self._listen_conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()
