"""The PostgreSQL store's readers: a pool of connections, each read one read-only snapshot.

The store answers its reads here, and the commit tracker reads the events it
catches up on here too. A failed read, or a pooled connection that does not
come in time, is reported as `StoreUnavailable`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from service.storage.interface import StoreUnavailable
from service.storage.postgres.connections import Connection, Pool, configure_reader, one_line

__all__ = ["Readers", "reader_pool"]

_T = TypeVar("_T")


def reader_pool(
    url: str,
    kwargs: dict[str, Any],
    *,
    size: int,
    operation_timeout_s: float,
    connect_timeout_s: float,
) -> Pool:
    """A pool (not open yet) of at most `size` read-only connections to `url`.

    Args:
        url: A `postgresql://` URL (libpq's syntax).
        kwargs: The connection parameters added to the URL's.
        size: At most this many concurrent reads.
        operation_timeout_s: How long a read may wait for a pooled connection.
        connect_timeout_s: How long to wait for a new connection.
    """
    return AsyncConnectionPool(
        url,
        kwargs=kwargs,
        min_size=1,
        max_size=size,
        open=False,
        configure=configure_reader,
        check=AsyncConnectionPool.check_connection,
        timeout=operation_timeout_s,
        # Give up a failing reconnection soon: the next read then tries
        # at once, instead of after a back-off that doubles for as long
        # as the server was down (reads would lag behind its return).
        reconnect_timeout=connect_timeout_s,
        name="clerk-relay-readers",
    )


class Readers:
    """Runs reads on an open pool of read-only connections.

    Args:
        pool: The open pool (see `reader_pool`); `close` closes it.
    """

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def read(self, query: Callable[[Connection], Awaitable[_T]]) -> _T:
        """Runs `query` in one read-only snapshot on a pooled connection.

        Raises:
            StoreUnavailable: The database cannot be reached, or no pooled
                connection came in time.
        """
        try:
            async with self._pool.connection() as conn:
                return await query(conn)
        except psycopg.Error as error:  # PoolTimeout is one too
            raise StoreUnavailable(f"could not read from PostgreSQL: {one_line(error)}") from error

    async def ping(self, timeout_s: float) -> None:
        """Returns once a pooled connection answers, waiting at most `timeout_s` for one.

        Raises:
            StoreUnavailable: It did not.
        """
        try:
            async with self._pool.connection(timeout=timeout_s) as conn:
                await conn.execute("SELECT 1")
        except psycopg.Error as error:  # PoolTimeout is one too
            raise StoreUnavailable(f"PostgreSQL does not answer: {one_line(error)}") from error

    async def close(self) -> None:
        """Closes the pool."""
        await self._pool.close()
