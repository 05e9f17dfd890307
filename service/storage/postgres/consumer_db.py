"""Consumer groups' transactions on PostgreSQL: a connection of their own per process.

Processes sharing the database coordinate through row locks: a transaction
that hands out or adds a group's events first locks the group's row
(`SELECT … FOR UPDATE`), so two processes never claim the same event or add
the same one twice; acks and nacks touch only the rows of their own
deliveries (and the group's counters). One transaction runs at a time on the
connection; a connection found broken is replaced on the next transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from service.storage.interface import StoreUnavailable
from service.storage.postgres.connections import Connection, connect, describe, one_line

__all__ = ["PostgresConsumerDatabase"]


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class _PostgresTx:
    """Statements of one transaction on the database's connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        cursor = await self._conn.execute(_pg(sql), params)
        return await cursor.fetchall()

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
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
        self._lock = asyncio.Lock()
        self._closed = False

    @asynccontextmanager
    async def transaction(
        self, lock_group: str | None = None, read_only: bool = False, durable: bool = True
    ) -> AsyncIterator[_PostgresTx]:
        """A READ COMMITTED transaction; with `lock_group`, the group's row is locked first."""
        async with self._lock:
            if self._closed:
                raise StoreUnavailable("the PostgreSQL store is closed")
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await connect(self._url, self._kwargs)
                conn = self._conn
                async with conn.transaction():
                    if not durable:
                        await conn.execute("SET LOCAL synchronous_commit = off")
                    if lock_group is not None:
                        await conn.execute(
                            "SELECT 1 FROM consumer_groups WHERE name = %s FOR UPDATE",
                            (lock_group,),
                        )
                    yield _PostgresTx(conn)
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

    async def close(self) -> None:
        """Closes the connection."""
        async with self._lock:
            self._closed = True
            if self._conn is not None:
                await self._conn.close()
