"""The PostgreSQL store: the scale-out backend, shared by any number of relay processes.

Connections: one dedicated connection for the writer, one that LISTENs for the
commits of other processes, and a pool for reads (each read is one
`REPEATABLE READ READ ONLY` transaction, so a page and the head it reflects
come from one snapshot).

Group commit: as in the SQLite store, callers queue their events and a single
writer task per process takes everything waiting (up to `max_batch`) into one
transaction. Each caller is answered only after that transaction committed. A
batch that fails is retried event by event, so one bad event does not fail the
webhooks that shared its transaction.

Sequence order equals visibility order, across processes: every append
transaction starts by locking the single `head` row of `relay_meta` with
`SELECT … FOR UPDATE`, and assigns its sequences after the head it read under
that lock. Appends are therefore serialized cluster-wide, and PostgreSQL makes a
transaction's commit visible to new snapshots before it releases its row locks,
so the next writer (in any process) only reads the head, and assigns higher
sequences, once the previous batch is visible. Hence a reader that has seen
sequence N can never later see a newly committed event at or below N. We chose
this over a bigserial plus visibility tracking (readers stopping below the
oldest in-flight sequence) because appends must be serialized anyway for
permanent dedup and for last-writer-wins on shared entity rows, and group
commit amortizes the lock: it is held for one short transaction per batch, not
per event. The transactions run at READ COMMITTED, which this relies on: each
statement after the lock takes a fresh snapshot that includes the previous
writer's batch (REPEATABLE READ would keep the snapshot from before the wait).

Notifications: the append transaction also sends `NOTIFY`, which PostgreSQL
delivers only if it commits; `service.storage.postgres.commit_tracker` tells how
each process hears the other processes' commits and reports every event once, in sequence
order.

Failures: an append that cannot reach the server, loses its connection twice,
or times out raises `StoreUnavailable` (503 for Svix, which retries). A writer
connection found broken is replaced and the batch retried once with it:
retrying is safe even if the lost commit did happen, as dedup then answers
`duplicate`. The pool checks its connections before lending them, and the
listener reconnects with back-off and catches up, so the store recovers by
itself when the server is back.

Parts: `PostgresStore` opens the connections, answers the reads on its
readers' pool (`readers`) and wires the writer (`writer`: appends and trims)
to the commit tracker (`commit_tracker`): the writer reports its commits to
the tracker, which reads what it catches up on from the readers' pool. Also
here: `connections` (connecting, and its errors), `queries` (shared SQL),
`schema`, and `passes` (reconciliation's pass checkpoints and lock).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from clerkrelay.v1.event_pb2 import Event
from service.storage.interface import (
    MAX_ENTITY_IDS,
    MAX_SEQUENCE,
    AppendResult,
    BeforeRetention,
    CommitListener,
    EntityPage,
    EntityQuery,
    EntityRecord,
    HistoryPage,
    ReadResult,
    Retention,
    RowFilter,
    SerializedPage,
    StoredEvent,
    StoreError,
    StoreUnavailable,
)
from service.storage.passes import PassCheckpoint, PassLock
from service.storage.postgres import passes, queries
from service.storage.postgres.commit_tracker import CommitTracker, channel_name
from service.storage.postgres.connections import (
    Connection,
    Pool,
    connect,
    connect_writer,
    connection_kwargs,
    describe,
    one_line,
)
from service.storage.postgres.queries import (
    ENTITIES_BY_IDS,
    log_page,
    log_rows,
    meta,
    require_retained,
    sequence_at_or_zero,
)
from service.storage.postgres.readers import Readers, reader_pool
from service.storage.postgres.schema import migrate
from service.storage.postgres.writer import PostgresWriter
from service.storage.sql_rows import (
    ENTITY_COLUMNS,
    entity_from_row,
    entity_list_sql,
    live_sequences_sql,
)

__all__ = ["PostgresStore"]

_LIVE_SEQUENCES = live_sequences_sql("%s")
_PING_WAIT_S = 2.0  # a readiness probe must answer promptly, even with the server down


class PostgresStore:
    """The event log and the entity projection in a PostgreSQL schema."""

    def __init__(
        self,
        *,
        url: str,
        kwargs: dict[str, Any],
        retention: Retention,
        max_batch: int,
        operation_timeout_s: float,
        pool: Pool,
        writer: Connection,
        listener: Connection,
        channel: str,
        head: int,
    ) -> None:
        self._url, self._kwargs = url, kwargs
        self._readers = Readers(pool)
        self._commits = CommitTracker(
            url=url,
            kwargs=kwargs,
            listener=listener,
            channel=channel,
            head=head,
            read=self._readers.read,
        )
        self._writer = PostgresWriter(
            url=url,
            kwargs=kwargs,
            connection=writer,
            commits=self._commits,
            retention=retention,
            max_batch=max_batch,
            operation_timeout_s=operation_timeout_s,
        )
        self._closing = False

    @classmethod
    async def open(
        cls,
        url: str,
        retention: Retention | None = None,
        *,
        max_batch: int = 512,
        pool_size: int = 4,
        connect_timeout_s: float = 5.0,
        operation_timeout_s: float = 30.0,
    ) -> PostgresStore:
        """Opens (creating and migrating if needed) the store the URL names.

        The tables live in the first schema of the connection's search path
        (`?options=-csearch_path%3Dname` selects one).

        Args:
            url: A `postgresql://` URL (libpq's syntax).
            retention: How much of the log to keep; None keeps everything.
            max_batch: At most this many events per append transaction.
            pool_size: At most this many concurrent reads.
            connect_timeout_s: How long to wait for a new connection.
            operation_timeout_s: How long an append transaction, or a wait for
                a pooled connection, may take before the store reports itself
                unavailable.

        Raises:
            StoreUnavailable: The server cannot be reached (or is still
                starting): trying again later may work.
            StoreError: The URL is invalid, or the schema was written by a
                newer clerk-relay.
        """
        where = describe(url)
        try:
            kwargs = connection_kwargs(url, connect_timeout_s)
        except psycopg.Error as error:
            raise StoreError(f"invalid PostgreSQL URL: {one_line(error)}") from error
        writer = await connect_writer(url, kwargs, where)
        opened: list[Connection] = [writer]
        pool: Pool | None = None
        try:
            schema = await migrate(writer)
            channel = channel_name(schema)
            listener = await connect(url, kwargs)
            opened.append(listener)
            await listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            # Read after LISTEN: a commit in between is both counted and heard.
            head = await meta(writer, "head")
            pool = reader_pool(
                url,
                kwargs,
                size=pool_size,
                operation_timeout_s=operation_timeout_s,
                connect_timeout_s=connect_timeout_s,
            )
            await pool.open(wait=True, timeout=connect_timeout_s)
        except BaseException as error:
            if pool is not None:
                await pool.close()
            for conn in opened:
                await conn.close()
            if isinstance(error, psycopg.Error):
                # OperationalError: the server went away, or is not ready yet.
                failure = (
                    StoreUnavailable if isinstance(error, psycopg.OperationalError) else StoreError
                )
                raise failure(
                    f"cannot open the PostgreSQL store at {where}: {one_line(error)}"
                ) from error
            raise
        return cls(
            url=url,
            kwargs=kwargs,
            retention=retention or Retention(),
            max_batch=max_batch,
            operation_timeout_s=operation_timeout_s,
            pool=pool,
            writer=writer,
            listener=listener,
            channel=channel,
            head=head,
        )

    # -- writes ---------------------------------------------------------------

    async def append(self, event: Event) -> AppendResult:
        """Stores an event durably; see `service.storage.Store.append`."""
        return await self._writer.append(event)

    async def append_many(self, events: Sequence[Event]) -> list[AppendResult | BaseException]:
        """Stores events durably, in order; see `service.storage.Store.append_many`."""
        return await self._writer.append_many(events)

    async def trim(self) -> int:
        """Applies the retention policy now; returns how many events were removed."""
        return await self._writer.trim()

    # -- reads ----------------------------------------------------------------

    async def read(
        self,
        after_sequence: int,
        limit: int,
        matches: RowFilter | None = None,
        *,
        with_data: bool = True,
    ) -> ReadResult:
        """Reads the log after a sequence; see `service.storage.Store.read`."""

        async def query(conn: Connection) -> ReadResult:
            await require_retained(conn, after_sequence)
            events = await log_rows(conn, after_sequence, MAX_SEQUENCE, limit, with_data)
            if not events:
                return ReadResult([], after_sequence)
            last = events[-1].sequence
            if matches is not None:
                events = [e for e in events if matches(e)]
            return ReadResult(events, last)

        return await self._readers.read(query)

    async def read_serialized(self, after_sequence: int, limit: int) -> SerializedPage:
        """Reads every event after a sequence; see `service.storage.Store.read_serialized`."""

        async def query(conn: Connection) -> SerializedPage:
            await require_retained(conn, after_sequence)
            rows = await log_page(conn, "sequence, data", after_sequence, MAX_SEQUENCE, limit)
            if not rows:
                return SerializedPage([], after_sequence)
            return SerializedPage([data for _, data in rows], rows[-1][0])

        return await self._readers.read(query)

    async def head(self) -> int:
        """The highest committed sequence, in any process.

        Raises:
            StoreUnavailable: The database cannot be reached.
        """
        return await self._readers.read(lambda conn: meta(conn, "head"))

    async def oldest_retained(self) -> int:
        """The lowest sequence still in the log (head + 1 when it is empty)."""
        return await self._readers.read(lambda conn: meta(conn, "trimmed_through")) + 1

    async def sequence_before(self, time: datetime) -> int:
        """The highest sequence received before `time`."""
        cutoff = int(time.timestamp() * 1e9)

        async def query(conn: Connection) -> tuple[int, int, int]:
            trimmed = await meta(conn, "trimmed_through")
            trimmed_time_ns = await meta(conn, "trimmed_time_ns")
            return trimmed, trimmed_time_ns, await sequence_at_or_zero(conn, cutoff)

        trimmed, trimmed_time_ns, found = await self._readers.read(query)
        if trimmed and cutoff <= trimmed_time_ns:
            raise BeforeRetention(found, trimmed + 1)
        return max(found, trimmed)

    async def get_event(self, sequence: int = 0, webhook_id: str = "") -> StoredEvent | None:
        """One retained event by sequence or webhook id; see `Store.get_event`."""
        return await self._readers.read(lambda conn: queries.event(conn, sequence, webhook_id))

    async def entity_history(
        self, entity_id: str, families: tuple[str, ...], after_sequence: int, limit: int
    ) -> HistoryPage:
        """Events about one entity, in order; see `Store.entity_history`."""
        return await self._readers.read(
            lambda conn: queries.history_page(conn, entity_id, families, after_sequence, limit)
        )

    async def get_entity(self, kind: str, entity_id: str) -> tuple[EntityRecord | None, int]:
        """One entity's record and the head the read reflects."""

        async def query(conn: Connection) -> tuple[EntityRecord | None, int]:
            cursor = await conn.execute(
                f"SELECT {ENTITY_COLUMNS} FROM entities WHERE kind = %s AND id = %s",
                (kind, entity_id),
            )
            found = await cursor.fetchone()
            head = await meta(conn, "head")
            return (None if found is None else entity_from_row(found).record()), head

        return await self._readers.read(query)

    async def list_entities(self, query: EntityQuery) -> EntityPage:
        """Records of one kind in id order, filtered and paged."""
        statement, params = entity_list_sql(query, "%s")

        async def run(conn: Connection) -> EntityPage:
            cursor = await conn.execute(statement, params)
            rows = await cursor.fetchall()
            head = await meta(conn, "head")
            return EntityPage([entity_from_row(row).record() for row in rows], head)

        return await self._readers.read(run)

    async def live_sequences(self, kind: str, after_id: str, limit: int) -> list[tuple[str, int]]:
        """Ids and event sequences of live entities; see `Store.live_sequences`."""

        async def run(conn: Connection) -> list[tuple[str, int]]:
            cursor = await conn.execute(_LIVE_SEQUENCES, (kind, after_id, limit))
            return [(entity_id, sequence) for entity_id, sequence in await cursor.fetchall()]

        return await self._readers.read(run)

    async def get_entities(self, kind: str, ids: Sequence[str]) -> dict[str, EntityRecord]:
        """The records of those of `ids` the mirror holds, by id (one read)."""
        if len(ids) > MAX_ENTITY_IDS:
            raise ValueError(f"at most {MAX_ENTITY_IDS} ids at once, not {len(ids)}")
        if not ids:
            return {}

        async def query(conn: Connection) -> dict[str, EntityRecord]:
            cursor = await conn.execute(ENTITIES_BY_IDS, (list(ids), kind))
            records = [entity_from_row(row).record() for row in await cursor.fetchall()]
            return {record.id: record for record in records}

        return await self._readers.read(query)

    # -- reconciliation passes ---------------------------------------------------

    async def save_pass(self, checkpoint: PassCheckpoint) -> None:
        """Stores a pass's checkpoint durably; see `service.storage.Store.save_pass`."""
        await self._writer.write(
            lambda conn: passes.save_pass(conn, checkpoint), "save the pass's progress"
        )

    async def unfinished_pass(self) -> PassCheckpoint | None:
        """The newest pass still running, or None."""
        return await self._readers.read(passes.unfinished_pass)

    async def lock_passes(self) -> PassLock | None:
        """The schema's pass lock (`service.storage.postgres.passes`), or None when held."""
        return await passes.lock_passes(self._url, self._kwargs)

    # -- notifications ---------------------------------------------------------

    def add_listener(self, listener: CommitListener) -> Callable[[], None]:
        """Calls `listener` with every batch committed from now on, by any process."""
        return self._commits.add_listener(listener)

    async def wait_for(self, sequence: int) -> None:
        """Returns once the head, as reported in this process, has reached `sequence`."""
        await self._commits.wait_for(sequence)

    # -- lifecycle ----------------------------------------------------------------

    async def ping(self) -> None:
        """Raises StoreUnavailable unless the database answers and can append now.

        Waits at most `_PING_WAIT_S` for a pooled connection (not the operation
        timeout): while the server is down, no connection will come. After a
        failed append, a probe write must commit first (see
        `service.storage.write_health`).
        """
        await self._readers.ping(_PING_WAIT_S)
        await self._writer.check_writable()

    async def close(self) -> None:
        """Finishes queued appends, then releases every connection."""
        if self._closing:
            return
        self._closing = True
        await self._writer.close()
        await self._commits.close()
        await self._readers.close()
