"""The PostgreSQL store's writer: group-committed appends and retention trims, on one connection.

The transactions themselves are in `service.storage.postgres.transactions`;
why an append locks the `head` row, why it runs at READ COMMITTED, and how
failures are answered is told in `service.storage.postgres.store`. Each
committed batch is reported through the `CommitReports` given at construction
(the store passes its `CommitTracker`, `service.storage.postgres.commit_tracker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

import psycopg

from clerkrelay.v1.event_pb2 import Event
from service.storage.group_commit import GroupCommit, Waiting
from service.storage.interface import AppendResult, Retention, StoreUnavailable
from service.storage.postgres.connections import (
    Connection,
    ConnectionLost,
    Unreachable,
    connect,
    one_line,
)
from service.storage.postgres.transactions import append_batch, trim_log
from service.storage.projection import BatchPlan, Pending
from service.storage.retention_loop import trim_periodically
from service.storage.write_health import WriteHealth

__all__ = ["CommitReports", "PostgresWriter"]

_log = logging.getLogger("clerk_relay.store")
_T = TypeVar("_T")


class CommitReports(Protocol):
    """Where the writer announces and reports the batches it commits."""

    def notification(self, head: int) -> tuple[str, str]:
        """The channel and payload of the `NOTIFY` by which an append announces `head`."""
        ...

    def own_commit(self) -> AbstractContextManager[None]:
        """Held while the writer runs a batch, which it then reports with `report_own`."""
        ...

    async def report_own(self, plan: BatchPlan, locked_head: int) -> None:
        """Reports a committed batch, and the head its transaction found under the lock."""
        ...


class PostgresWriter:
    """Appends and trims on the writer connection; one task group-commits the appends.

    Runs its tasks (the writer, and the trims when the retention keeps less
    than everything) until `close`.
    """

    def __init__(
        self,
        *,
        url: str,
        kwargs: dict[str, Any],
        connection: Connection,
        commits: CommitReports,
        retention: Retention,
        max_batch: int,
        operation_timeout_s: float,
    ) -> None:
        """Starts writing on `connection`.

        Args:
            url: The store's URL, to reconnect the writer.
            kwargs: The connection parameters added to the URL's.
            connection: The writer's connection, in autocommit mode.
            commits: Tells the channel to notify, and takes the reports of
                committed batches.
            retention: How much of the log to keep.
            max_batch: At most this many events per append transaction.
            operation_timeout_s: How long an append transaction may take before
                its events are answered `StoreUnavailable`.
        """
        self._url = url
        self._kwargs = kwargs
        self._write_conn: Connection | None = connection
        self._commits = commits
        self._retention = retention
        self._operation_timeout_s = operation_timeout_s
        self._write_lock = asyncio.Lock()  # the writer connection: appends and trims
        self._appends = GroupCommit(self._commit_or_split, max_batch, "postgres-writer")
        self._writes = WriteHealth(self._probe)
        self._trim_task = (
            None
            if retention.keeps_everything
            else asyncio.create_task(
                trim_periodically(self.trim, retention.interval_s), name="postgres-trim"
            )
        )

    # -- appends --------------------------------------------------------------

    async def append(self, event: Event) -> AppendResult:
        """Stores an event durably; see `service.storage.Store.append`."""
        return await self._appends.append(event)

    async def append_many(self, events: Sequence[Event]) -> list[AppendResult | BaseException]:
        """Stores events durably, in order; see `service.storage.Store.append_many`."""
        return await self._appends.append_many(events)

    async def _commit_or_split(self, batch: list[Waiting]) -> None:
        """Commits a batch; if it fails, retries its events one by one.

        One bad event must not fail the webhooks that happened to share its
        transaction. When the server cannot be reached, though, every event
        waiting is answered StoreUnavailable at once.
        """
        error = await self._try_commit(batch)
        if error is None:
            return
        if isinstance(error, Unreachable) or len(batch) == 1:
            self._fail(batch, error)
            return
        for position, single in enumerate(batch):
            error = await self._try_commit([single])
            if isinstance(error, Unreachable):
                self._fail(batch[position:], error)
                return
            if error is not None:
                self._fail([single], error)

    def _fail(self, batch: list[Waiting], error: Exception) -> None:
        _log.error("append failed: %s", one_line(error))
        self._writes.failed(one_line(error))
        message = (
            str(error)
            if isinstance(error, Unreachable)
            else f"could not store the event: {one_line(error)}"
        )
        for _, future in batch:
            if not future.done():
                future.set_exception(StoreUnavailable(message))

    async def _try_commit(self, batch: list[Waiting]) -> Exception | None:
        """Commits a batch, answers its callers and reports it; returns the error if any."""
        with self._commits.own_commit():
            try:
                plan, locked_head = await self._commit_retrying([pending for pending, _ in batch])
            except Exception as error:
                return error
            self._writes.succeeded()
            for (_, future), result in zip(batch, plan.results, strict=True):
                if not future.done():
                    future.set_result(result)
            await self._commits.report_own(plan, locked_head)
            return None

    async def _commit_retrying(self, batch: list[Pending]) -> tuple[BatchPlan, int]:
        """Commits a batch; when the connection turns out lost, once more on a new one.

        Retrying is safe even if the lost transaction did commit: dedup then
        answers `duplicate` with the original sequences.

        Raises:
            Unreachable: The server cannot be reached, or did not answer in time.
        """
        try:
            return await self._commit(batch)
        except ConnectionLost as error:
            _log.warning("PostgreSQL connection lost (%s); retrying once", error)
        try:
            return await self._commit(batch)
        except ConnectionLost as error:
            raise Unreachable(f"PostgreSQL is unavailable: {error}") from error

    async def _commit(self, batch: list[Pending]) -> tuple[BatchPlan, int]:
        """Runs one append transaction on the writer connection, within the time limit."""
        async with self._write_lock:
            conn = await self._writer_connection()
            try:
                async with asyncio.timeout(self._operation_timeout_s):
                    return await append_batch(conn, batch, self._commits.notification)
            except TimeoutError as error:
                await self._drop_writer()
                raise Unreachable(
                    f"PostgreSQL did not commit within {self._operation_timeout_s:g} s"
                ) from error
            except psycopg.Error as error:
                if conn.closed or conn.broken:
                    await self._drop_writer()
                    raise ConnectionLost(one_line(error)) from error
                raise

    # -- writability -----------------------------------------------------------

    async def check_writable(self) -> None:
        """Returns when appends can commit; after a failed one, a probe must commit first.

        Raises:
            StoreUnavailable: The probe failed too (see `service.storage.write_health`).
        """
        await self._writes.check()

    async def _probe(self) -> None:
        """Takes the append lock in a transaction of its own and commits: an append storing nothing.

        It needs what an append needs (the writer's connection, the lock,
        permission to write, a commit record), within the same time limit.

        Raises:
            StoreUnavailable: It failed; the message says why.
        """
        async with self._write_lock:
            try:
                conn = await self._writer_connection()
                try:
                    async with asyncio.timeout(self._operation_timeout_s):
                        async with conn.transaction():
                            await conn.execute(
                                "SELECT value FROM relay_meta WHERE key = 'head' FOR UPDATE"
                            )
                except TimeoutError as error:
                    await self._drop_writer()
                    raise Unreachable(
                        f"PostgreSQL did not commit within {self._operation_timeout_s:g} s"
                    ) from error
                finally:
                    if conn.closed or conn.broken:
                        await self._drop_writer()
            except (psycopg.Error, Unreachable) as error:
                raise StoreUnavailable(one_line(error)) from error

    # -- the connection -------------------------------------------------------

    async def _writer_connection(self) -> Connection:
        """The writer's connection, reconnecting when it was lost."""
        conn = self._write_conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        await self._drop_writer()
        try:
            conn = await connect(self._url, self._kwargs)
        except psycopg.Error as error:
            raise Unreachable(f"PostgreSQL is unavailable: {one_line(error)}") from error
        self._write_conn = conn
        _log.info("PostgreSQL writer connection established")
        return conn

    async def _drop_writer(self) -> None:
        conn, self._write_conn = self._write_conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    # -- other writes -----------------------------------------------------------

    async def write(self, work: Callable[[Connection], Awaitable[_T]], what: str) -> _T:
        """Runs `work` on the writer's connection, between appends, within the time limit.

        Raises:
            StoreUnavailable: It failed (`could not {what}: …`).
        """
        async with self._write_lock:
            try:
                conn = await self._writer_connection()
                try:
                    async with asyncio.timeout(self._operation_timeout_s):
                        return await work(conn)
                except TimeoutError as error:
                    await self._drop_writer()
                    raise Unreachable(
                        f"PostgreSQL did not answer within {self._operation_timeout_s:g} s"
                    ) from error
                finally:
                    if conn.closed or conn.broken:
                        await self._drop_writer()
            except (psycopg.Error, Unreachable) as error:
                raise StoreUnavailable(f"could not {what}: {one_line(error)}") from error

    # -- retention --------------------------------------------------------------

    async def trim(self) -> int:
        """Applies the retention policy now; returns how many events were removed."""
        if self._retention.keeps_everything:
            return 0
        async with self._write_lock:
            try:
                conn = await self._writer_connection()
                try:
                    return await trim_log(conn, self._retention)
                finally:
                    if conn.closed or conn.broken:
                        await self._drop_writer()
            except (psycopg.Error, Unreachable) as error:
                raise StoreUnavailable(f"could not trim the log: {one_line(error)}") from error

    # -- lifecycle ----------------------------------------------------------------

    async def close(self) -> None:
        """Finishes queued appends, stops trimming, then closes the writer's connection."""
        await self._appends.close()
        if self._trim_task is not None:
            self._trim_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._trim_task
        async with self._write_lock:
            await self._drop_writer()
