"""Consumer groups' transactions on PostgreSQL: a connection of their own per process.

Processes sharing the database coordinate through row locks: a transaction
that hands out or adds a group's events first locks the group's row
(`SELECT … FOR UPDATE`), so two processes never claim the same event or add
the same one twice; acks and nacks touch only the rows of their own
deliveries (and the group's counters). One transaction runs at a time on the
connection; a connection found broken is replaced on the next transaction.

A transaction's statements go out in one pipeline: those whose results the
work does not wait for (`executemany`, `announce`, the `BEGIN`, the lock)
travel with the next one it does wait for (`fetch`, `execute`) or with the
`COMMIT`, so a dispatch round makes about four round trips instead of about
ten. An error then surfaces at that later statement, and the whole
transaction is rolled back as before.

A transaction that makes a group's events deliverable again (a release, a
nack, an ack under per-entity ordering, a replay) announces it with `NOTIFY`
on the schema's consumer channel; each process `watch`es that channel on a
connection of its own and wakes its dispatcher of the group at once, instead
of at its next poll. An announcement missed while the listener reconnects is
made up for by that poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from service.storage.consumer_records import Tx
from service.storage.interface import StoreUnavailable
from service.storage.postgres.commit_tracker import channel_name
from service.storage.postgres.connections import Connection, connect, describe, one_line

__all__ = ["PostgresConsumerDatabase"]

_log = logging.getLogger("clerk_relay.consumers")
_TOPIC = "clerk_relay_groups"
_T = TypeVar("_T")


async def _channel(conn: Connection) -> str:
    """The consumer channel of the schema the connection's tables live in."""
    cursor = await conn.execute("SELECT current_schema()")
    row = await cursor.fetchone()
    assert row is not None
    return channel_name(str(row[0]), _TOPIC)


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class _PostgresTx:
    """Statements of one transaction on the database's connection."""

    def __init__(self, conn: Connection, channel: str, origin: str) -> None:
        self._conn = conn
        self._channel = channel
        self._origin = origin

    async def announce(self, group: str) -> None:
        """`NOTIFY`, sent at the commit (twice the same in one transaction: once)."""
        await self._conn.execute(
            "SELECT pg_notify(%s, %s)", (self._channel, f"{self._origin} {group}")
        )

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        cursor = await self._conn.execute(_pg(sql), params)
        return await cursor.fetchall()

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        async with self._conn.pipeline():  # its end waits for the count
            cursor = await self._conn.execute(_pg(sql), params)
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            async with self._conn.cursor() as cursor:
                await cursor.executemany(_pg(sql), rows)


class PostgresConsumerDatabase:
    """`ConsumerDatabase` on a PostgreSQL schema (already migrated by the store).

    Args:
        url: The store's URL.
        kwargs: The store's added connection arguments.
    """

    def __init__(self, url: str, kwargs: dict[str, Any]) -> None:
        self._url = url
        self._kwargs = kwargs
        self._conn: Connection | None = None
        self._channel = ""  # known once connected
        self._origin = uuid.uuid4().hex[:16]  # tells our announcements apart from others'
        self._wake: Callable[[str], None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def run(
        self,
        work: Callable[[Tx], Coroutine[Any, Any, _T]],
        lock_group: str | None = None,
        read_only: bool = False,
        durable: bool = True,
        brief: bool = False,
    ) -> _T:
        """`work(tx)` in one transaction (see `ConsumerDatabase.run`; `brief` changes nothing)."""
        async with self._transaction(lock_group, durable) as tx:
            return await work(tx)

    @asynccontextmanager
    async def _transaction(
        self, lock_group: str | None, durable: bool
    ) -> AsyncIterator[_PostgresTx]:
        """A READ COMMITTED transaction; with `lock_group`, the group's row is locked first."""
        async with self._lock:
            if self._closed:
                raise StoreUnavailable("the PostgreSQL store is closed")
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await connect(self._url, self._kwargs)
                    self._channel = await _channel(self._conn)
                conn = self._conn
                async with conn.pipeline(), conn.transaction():
                    if not durable:
                        await conn.execute("SET LOCAL synchronous_commit = off")
                    if lock_group is not None:
                        await conn.execute(
                            "SELECT 1 FROM consumer_groups WHERE name = %s FOR UPDATE",
                            (lock_group,),
                        )
                    yield _PostgresTx(conn, self._channel, self._origin)
            except asyncio.CancelledError:
                # Cancelled mid-statement, the connection's state is unknown: start afresh.
                await self._discard()
                raise
            except psycopg.Error as error:
                if self._conn is not None and self._conn.broken:
                    await self._discard()
                raise StoreUnavailable(
                    f"consumer groups at {describe(self._url)}: {one_line(error)}"
                ) from error

    async def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    def watch(self, wake: Callable[[str], None]) -> None:
        """Calls `wake(group)` for each group another process announces; see `ConsumerDatabase`."""
        self._wake = wake
        if self._watcher is None and not self._closed:
            self._watcher = asyncio.create_task(self._listen(), name="consumer-groups-listener")

    async def _listen(self) -> None:
        """Hears other processes' announcements; reconnects with back-off when cut off."""
        delay = 0.1
        while True:
            try:
                async with await connect(self._url, self._kwargs) as conn:
                    channel = await _channel(conn)
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    delay = 0.1
                    async for notify in conn.notifies():
                        origin, _, group = notify.payload.partition(" ")
                        if origin != self._origin and self._wake is not None:
                            self._wake(group)
            except psycopg.Error as error:
                _log.warning("consumer group announcements interrupted: %s", one_line(error))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        """Stops watching and closes the connection."""
        async with self._lock:
            self._closed = True
            if self._watcher is not None:
                self._watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._watcher
            if self._conn is not None:
                await self._conn.close()
