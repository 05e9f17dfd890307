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

Notifications: the append transaction also sends `NOTIFY` on a channel named
after the schema, with the new head and this store's origin id as payload;
PostgreSQL delivers it only if the transaction commits. Events this store
committed go to its `Notifier` directly. Another process's notification (or a
reconnection of the listener, or a batch of ours that landed after events the
`Notifier` has not seen yet) wakes a catch-up task that reads the log after the
`Notifier`'s head, in pages, and reports the events in order. Deliveries are
serialized by one lock and each starts right after the `Notifier`'s head, so
every event is reported once, in sequence order.

Failures: an append that cannot reach the server, loses its connection twice,
or times out raises `StoreUnavailable` (503 for Svix, which retries). A writer
connection found broken is replaced and the batch retried once with it:
retrying is safe even if the lost commit did happen, as dedup then answers
`duplicate`. The pool checks its connections before lending them, and the
listener reconnects with back-off and catches up, so the store recovers by
itself when the server is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection, IsolationLevel, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from clerkrelay.v1.event_pb2 import Event
from service.notifier import Notifier
from service.postgres_schema import migrate
from service.projection import BatchPlan, EntityRow, Pending, plan_batch, prepare
from service.sql_rows import (
    ENTITY_COLUMN_NAMES,
    ENTITY_COLUMNS,
    EVENT_COLUMNS,
    entity_from_row,
    entity_list_sql,
    entity_to_row,
)
from service.store import (
    AppendResult,
    BeforeRetention,
    CommitListener,
    EntityPage,
    EntityQuery,
    EntityRecord,
    ReadResult,
    Retention,
    RowFilter,
    SerializedPage,
    StoredEvent,
    StoreError,
    StoreUnavailable,
)

__all__ = ["PostgresStore"]

_log = logging.getLogger("clerk_relay.store")
_T = TypeVar("_T")

Connection = AsyncConnection[TupleRow]
Pool = AsyncConnectionPool[Connection]

_UPSERT_ENTITY = (
    f"INSERT INTO entities ({ENTITY_COLUMNS}) "
    f"VALUES ({', '.join(['%s'] * len(ENTITY_COLUMN_NAMES))}) "
    "ON CONFLICT (kind, id) DO UPDATE SET "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in ENTITY_COLUMN_NAMES[2:])
)
_EVENT_TYPES = ("int8", "text", "text[]", "text", "int8", "bytea")

_MAX_SEQUENCE = 2**63 - 1
_CATCH_UP_PAGE = 1000
_CHANNEL_MAX_BYTES = 63  # PostgreSQL's identifier limit (NAMEDATALEN - 1)
_PING_WAIT_S = 2.0  # a readiness probe must answer promptly, even with the server down


class _Unreachable(Exception):
    """The writer cannot reach the server: retrying each event of a batch is pointless."""


class _ConnectionLost(Exception):
    """The writer's connection broke during a transaction (it has been discarded)."""


def _stored(row: tuple[Any, ...]) -> StoredEvent:
    return StoredEvent(row[0], row[1], tuple(row[2]), row[3], row[4], row[5])


def _one_line(error: BaseException) -> str:
    """An exception's message on one line (libpq's messages span several)."""
    text = " ".join(part.strip() for part in str(error).splitlines() if part.strip())
    return text or type(error).__name__


def _channel_name(schema: str) -> str:
    """The LISTEN/NOTIFY channel of the relay whose tables live in `schema`."""
    channel = f"clerk_relay.{schema}"
    if len(channel.encode()) > _CHANNEL_MAX_BYTES:
        channel = f"clerk_relay.{hashlib.sha256(schema.encode()).hexdigest()[:40]}"
    return channel


def _describe(url: str) -> str:
    """Where a URL points, without its password: `host:port/dbname`."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "the configured URL"
    host = params.get("host") or "localhost"
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or params.get('user') or ''}"


def _connection_kwargs(url: str, connect_timeout_s: float) -> dict[str, Any]:
    """Connection parameters added to the URL's own (which win when both are given).

    TCP keepalives make a silently vanished server surface as an error on the
    listener and the writer instead of a wait that never ends.
    """
    given = conninfo_to_dict(url)
    defaults: dict[str, Any] = {
        "connect_timeout": max(1, round(connect_timeout_s)),
        "application_name": "clerk-relay",
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
    return {key: value for key, value in defaults.items() if key not in given}


async def _configure_reader(conn: Connection) -> None:
    """Pool connections: every read is one read-only snapshot."""
    await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)
    await conn.set_read_only(True)


async def _meta(conn: Connection, key: str) -> int:
    cursor = await conn.execute("SELECT value FROM relay_meta WHERE key = %s", (key,))
    row = await cursor.fetchone()
    if row is None:
        raise StoreError(f"relay_meta has no {key!r} row; the schema is damaged")
    return int(row[0])


async def _log_rows(conn: Connection, after: int, upto: int, limit: int) -> list[StoredEvent]:
    # Binary results: the serialized events arrive as they are, not hex-encoded.
    async with conn.cursor(binary=True) as cursor:
        await cursor.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE sequence > %s AND sequence <= %s "
            "ORDER BY sequence LIMIT %s",
            (after, upto, limit),
        )
        return [_stored(row) for row in await cursor.fetchall()]


async def _sequence_at_or_zero(conn: Connection, cutoff_ns: int) -> int:
    cursor = await conn.execute(
        "SELECT max(sequence) FROM events WHERE receive_time_ns < %s", (cutoff_ns,)
    )
    row = await cursor.fetchone()
    return int(row[0] or 0) if row else 0


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
        self._url = url
        self._kwargs = kwargs
        self._retention = retention
        self._max_batch = max_batch
        self._operation_timeout_s = operation_timeout_s
        self._pool = pool
        self._write_conn: Connection | None = writer
        self._listen_conn: Connection | None = listener
        self._channel = channel
        # Tells our own notifications apart from other processes'.
        self._origin = uuid.uuid4().hex[:16]
        self._notifier = Notifier(head)
        self._known_head = head  # the highest head heard of, reported or not yet
        self._own_heard = head  # the highest head our own notifications told of
        self._committing = False  # the writer is running a batch and will report it
        self._delivery = asyncio.Lock()  # serializes reports to the notifier
        self._behind = asyncio.Event()  # the notifier is behind _known_head
        self._write_lock = asyncio.Lock()  # the writer connection: appends and trims
        self._queue: list[tuple[Pending, asyncio.Future[AppendResult]]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._writer_task = asyncio.create_task(self._write_loop(), name="postgres-writer")
        self._listen_task = asyncio.create_task(self._listen_loop(), name="postgres-listener")
        self._catch_up_task = asyncio.create_task(self._catch_up_loop(), name="postgres-catch-up")
        self._trim_task = (
            None
            if retention.keeps_everything
            else asyncio.create_task(self._trim_loop(), name="postgres-trim")
        )

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
            StoreError: The URL is invalid, the server cannot be reached, or
                the schema was written by a newer clerk-relay.
        """
        where = _describe(url)
        try:
            kwargs = _connection_kwargs(url, connect_timeout_s)
        except psycopg.Error as error:
            raise StoreError(f"invalid PostgreSQL URL: {_one_line(error)}") from error
        try:
            writer = await _connect(url, kwargs)
        except psycopg.Error as error:
            raise StoreError(
                f"cannot connect to PostgreSQL at {where}: {_one_line(error)}"
            ) from error
        opened: list[Connection] = [writer]
        pool: Pool | None = None
        try:
            schema = await migrate(writer)
            channel = _channel_name(schema)
            listener = await _connect(url, kwargs)
            opened.append(listener)
            await listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            # Read after LISTEN: a commit in between is both counted and heard.
            head = await _meta(writer, "head")
            pool = AsyncConnectionPool(
                url,
                kwargs=kwargs,
                min_size=1,
                max_size=pool_size,
                open=False,
                configure=_configure_reader,
                check=AsyncConnectionPool.check_connection,
                timeout=operation_timeout_s,
                # Give up a failing reconnection soon: the next read then tries
                # at once, instead of after a back-off that doubles for as long
                # as the server was down (reads would lag behind its return).
                reconnect_timeout=connect_timeout_s,
                name="clerk-relay-readers",
            )
            await pool.open(wait=True, timeout=connect_timeout_s)
        except BaseException as error:
            if pool is not None:
                await pool.close()
            for conn in opened:
                await conn.close()
            if isinstance(error, psycopg.Error):
                raise StoreError(
                    f"cannot open the PostgreSQL store at {where}: {_one_line(error)}"
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
        """Stores an event durably; see `service.store.Store.append`."""
        if self._closing:
            raise StoreUnavailable("the store is shutting down")
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._queue.append((prepare(event), future))
        self._wake.set()
        return await future

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await self._commit_or_split(batch)
            if self._closing:
                return

    async def _commit_or_split(
        self, batch: list[tuple[Pending, asyncio.Future[AppendResult]]]
    ) -> None:
        """Commits a batch; if it fails, retries its events one by one.

        One bad event must not fail the webhooks that happened to share its
        transaction. When the server cannot be reached, though, every event
        waiting is answered StoreUnavailable at once.
        """
        error = await self._try_commit(batch)
        if error is None:
            return
        if isinstance(error, _Unreachable) or len(batch) == 1:
            self._fail(batch, error)
            return
        for position, single in enumerate(batch):
            error = await self._try_commit([single])
            if isinstance(error, _Unreachable):
                self._fail(batch[position:], error)
                return
            if error is not None:
                self._fail([single], error)

    def _fail(
        self, batch: list[tuple[Pending, asyncio.Future[AppendResult]]], error: Exception
    ) -> None:
        _log.error("append failed: %s", _one_line(error))
        message = (
            str(error)
            if isinstance(error, _Unreachable)
            else f"could not store the event: {_one_line(error)}"
        )
        for _, future in batch:
            if not future.done():
                future.set_exception(StoreUnavailable(message))

    async def _try_commit(
        self, batch: list[tuple[Pending, asyncio.Future[AppendResult]]]
    ) -> Exception | None:
        """Commits a batch, answers its callers and reports it; returns the error if any."""
        self._committing = True
        try:
            plan, locked_head = await self._commit_retrying([pending for pending, _ in batch])
        except Exception as error:
            return error
        else:
            for (_, future), result in zip(batch, plan.results, strict=True):
                if not future.done():
                    future.set_result(result)
            await self._report_own(plan, locked_head)
            return None
        finally:
            self._committing = False
            # A notification of ours heard meanwhile may tell of a commit whose
            # answer was lost with the connection: catch up on it (a no-op when
            # the batch was reported directly).
            self._heard(self._own_heard)

    async def _commit_retrying(self, batch: list[Pending]) -> tuple[BatchPlan, int]:
        """Commits a batch; when the connection turns out lost, once more on a new one.

        Retrying is safe even if the lost transaction did commit: dedup then
        answers `duplicate` with the original sequences.

        Raises:
            _Unreachable: The server cannot be reached, or did not answer in time.
        """
        try:
            return await self._commit(batch)
        except _ConnectionLost as error:
            _log.warning("PostgreSQL connection lost (%s); retrying once", error)
        try:
            return await self._commit(batch)
        except _ConnectionLost as error:
            raise _Unreachable(f"PostgreSQL is unavailable: {error}") from error

    async def _commit(self, batch: list[Pending]) -> tuple[BatchPlan, int]:
        """Runs one append transaction on the writer connection, within the time limit."""
        async with self._write_lock:
            conn = await self._writer_connection()
            try:
                async with asyncio.timeout(self._operation_timeout_s):
                    return await self._transaction(conn, batch)
            except TimeoutError as error:
                await self._drop_writer()
                raise _Unreachable(
                    f"PostgreSQL did not commit within {self._operation_timeout_s:g} s"
                ) from error
            except psycopg.Error as error:
                if conn.closed or conn.broken:
                    await self._drop_writer()
                    raise _ConnectionLost(_one_line(error)) from error
                raise

    async def _transaction(self, conn: Connection, batch: list[Pending]) -> tuple[BatchPlan, int]:
        """One transaction: lock the head, dedup, sequence, projection, notify, commit.

        Returns:
            The plan, and the head this transaction found under the lock.
        """
        async with conn.transaction():
            # The cluster-wide append lock (see the module docstring): it
            # orders this batch after every batch already visible.
            cursor = await conn.execute(
                "SELECT value FROM relay_meta WHERE key = 'head' FOR UPDATE"
            )
            row = await cursor.fetchone()
            if row is None:
                raise StoreError("relay_meta has no 'head' row; the schema is damaged")
            locked_head = int(row[0])
            cursor = await conn.execute(
                "SELECT webhook_id, sequence FROM deliveries WHERE webhook_id = ANY(%s)",
                ([pending.event.id for pending in batch],),
            )
            known = {webhook_id: int(sequence) for webhook_id, sequence in await cursor.fetchall()}
            keys = {
                (change.kind, change.id)
                for pending in batch
                if (change := pending.facts.change) is not None
            }
            rows = await self._load_entities(conn, keys)
            plan = plan_batch(batch, locked_head, known, rows)
            if plan.log_rows:
                async with conn.cursor() as cur:
                    async with cur.copy(
                        "COPY deliveries (webhook_id, sequence) FROM STDIN (FORMAT BINARY)"
                    ) as copy:
                        copy.set_types(["text", "int8"])
                        for log_row in plan.log_rows:
                            await copy.write_row((log_row.webhook_id, log_row.stored.sequence))
                    async with cur.copy(
                        f"COPY events ({EVENT_COLUMNS}) FROM STDIN (FORMAT BINARY)"
                    ) as copy:
                        copy.set_types(list(_EVENT_TYPES))
                        for log_row in plan.log_rows:
                            s = log_row.stored
                            await copy.write_row(
                                (
                                    s.sequence,
                                    s.type,
                                    list(s.subject_ids),
                                    s.organization_id,
                                    s.receive_time_ns,
                                    s.data,
                                )
                            )
                    if plan.entity_rows:
                        await cur.executemany(
                            _UPSERT_ENTITY, [entity_to_row(e) for e in plan.entity_rows]
                        )
                # NOTIFY is delivered at commit, and only if the commit succeeds.
                await conn.execute(
                    "WITH moved AS (UPDATE relay_meta SET value = %s WHERE key = 'head') "
                    "SELECT pg_notify(%s, %s)",
                    (plan.head, self._channel, f"{plan.head} {self._origin}"),
                )
        return plan, locked_head

    @staticmethod
    async def _load_entities(
        conn: Connection, keys: Iterable[tuple[str, str]]
    ) -> Mapping[tuple[str, str], EntityRow]:
        pairs = list(keys)
        if not pairs:
            return {}
        cursor = await conn.execute(
            f"SELECT {ENTITY_COLUMNS} FROM entities "
            "WHERE (kind, id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
            ([kind for kind, _ in pairs], [entity_id for _, entity_id in pairs]),
        )
        return {(row[0], row[1]): entity_from_row(row) for row in await cursor.fetchall()}

    async def _writer_connection(self) -> Connection:
        """The writer's connection, reconnecting when it was lost."""
        conn = self._write_conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        await self._drop_writer()
        try:
            conn = await _connect(self._url, self._kwargs)
        except psycopg.Error as error:
            raise _Unreachable(f"PostgreSQL is unavailable: {_one_line(error)}") from error
        self._write_conn = conn
        _log.info("PostgreSQL writer connection established")
        return conn

    async def _drop_writer(self) -> None:
        conn, self._write_conn = self._write_conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    # -- reads ----------------------------------------------------------------

    async def read(
        self, after_sequence: int, limit: int, matches: RowFilter | None = None
    ) -> ReadResult:
        """Reads the log after a sequence; see `service.store.Store.read`."""

        async def query(conn: Connection) -> ReadResult:
            trimmed = await _meta(conn, "trimmed_through")
            if after_sequence < trimmed:
                raise BeforeRetention(after_sequence, trimmed + 1)
            events = await _log_rows(conn, after_sequence, _MAX_SEQUENCE, limit)
            if not events:
                return ReadResult([], after_sequence)
            last = events[-1].sequence
            if matches is not None:
                events = [e for e in events if matches(e)]
            return ReadResult(events, last)

        return await self._read(query)

    async def read_serialized(self, after_sequence: int, limit: int) -> SerializedPage:
        """Reads every event after a sequence; see `service.store.Store.read_serialized`."""

        async def query(conn: Connection) -> SerializedPage:
            trimmed = await _meta(conn, "trimmed_through")
            if after_sequence < trimmed:
                raise BeforeRetention(after_sequence, trimmed + 1)
            async with conn.cursor(binary=True) as cursor:
                await cursor.execute(
                    "SELECT sequence, data FROM events WHERE sequence > %s "
                    "ORDER BY sequence LIMIT %s",
                    (after_sequence, limit),
                )
                rows = await cursor.fetchall()
            if not rows:
                return SerializedPage([], after_sequence)
            return SerializedPage([data for _, data in rows], rows[-1][0])

        return await self._read(query)

    async def head(self) -> int:
        """The highest committed sequence, in any process.

        Raises:
            StoreUnavailable: The database cannot be reached.
        """
        return await self._read(lambda conn: _meta(conn, "head"))

    async def oldest_retained(self) -> int:
        """The lowest sequence still in the log (head + 1 when it is empty)."""
        return await self._read(lambda conn: _meta(conn, "trimmed_through")) + 1

    async def sequence_before(self, time: datetime) -> int:
        """The highest sequence received before `time`."""
        cutoff = int(time.timestamp() * 1e9)

        async def query(conn: Connection) -> tuple[int, int, int]:
            trimmed = await _meta(conn, "trimmed_through")
            trimmed_time_ns = await _meta(conn, "trimmed_time_ns")
            return trimmed, trimmed_time_ns, await _sequence_at_or_zero(conn, cutoff)

        trimmed, trimmed_time_ns, found = await self._read(query)
        if trimmed and cutoff <= trimmed_time_ns:
            raise BeforeRetention(found, trimmed + 1)
        return max(found, trimmed)

    async def get_entity(self, kind: str, entity_id: str) -> tuple[EntityRecord | None, int]:
        """One entity's record and the head the read reflects."""

        async def query(conn: Connection) -> tuple[EntityRecord | None, int]:
            cursor = await conn.execute(
                f"SELECT {ENTITY_COLUMNS} FROM entities WHERE kind = %s AND id = %s",
                (kind, entity_id),
            )
            found = await cursor.fetchone()
            head = await _meta(conn, "head")
            return (None if found is None else entity_from_row(found).record()), head

        return await self._read(query)

    async def list_entities(self, query: EntityQuery) -> EntityPage:
        """Records of one kind in id order, filtered and paged."""
        statement, params = entity_list_sql(query, "%s")

        async def run(conn: Connection) -> EntityPage:
            cursor = await conn.execute(statement, params)
            rows = await cursor.fetchall()
            head = await _meta(conn, "head")
            return EntityPage([entity_from_row(row).record() for row in rows], head)

        return await self._read(run)

    async def _read(self, query: Callable[[Connection], Awaitable[_T]]) -> _T:
        """Runs `query` in one read-only snapshot on a pooled connection."""
        try:
            async with self._pool.connection() as conn:
                return await query(conn)
        except psycopg.Error as error:  # PoolTimeout is one too
            raise StoreUnavailable(f"could not read from PostgreSQL: {_one_line(error)}") from error

    # -- notifications ---------------------------------------------------------

    def add_listener(self, listener: CommitListener) -> Callable[[], None]:
        """Calls `listener` with every batch committed from now on, by any process."""
        return self._notifier.add_listener(listener)

    async def wait_for(self, sequence: int) -> None:
        """Returns once the head, as reported in this process, has reached `sequence`."""
        await self._notifier.wait_for(sequence)

    async def _report_own(self, plan: BatchPlan, locked_head: int) -> None:
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
                    conn = await _connect(self._url, self._kwargs)
                    self._listen_conn = conn
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    # Whatever was committed while nobody listened.
                    self._heard(await _meta(conn, "head"))
                    _log.info("listening for PostgreSQL notifications again")
                delay = 0.1
                async for notify in conn.notifies():
                    self._on_notify(notify.payload)
            except (psycopg.Error, StoreError) as error:
                _log.warning("PostgreSQL notifications interrupted: %s", _one_line(error))
            conn, self._listen_conn = self._listen_conn, None
            if conn is not None:
                with contextlib.suppress(psycopg.Error):
                    await conn.close()
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
                    functools.partial(_log_rows, after=after, upto=target, limit=_CATCH_UP_PAGE)
                )
                if not events or events[0].sequence != after + 1:
                    _log.warning(
                        "events after %d were trimmed before this process reported them", after
                    )
                await self._notifier.committed(events, events[-1].sequence if events else target)

    # -- retention --------------------------------------------------------------

    async def trim(self) -> int:
        """Applies the retention policy now; returns how many events were removed."""
        if self._retention.keeps_everything:
            return 0
        async with self._write_lock:
            try:
                conn = await self._writer_connection()
                try:
                    return await self._trim(conn)
                finally:
                    if conn.closed or conn.broken:
                        await self._drop_writer()
            except (psycopg.Error, _Unreachable) as error:
                raise StoreUnavailable(f"could not trim the log: {_one_line(error)}") from error

    async def _trim(self, conn: Connection) -> int:
        retention = self._retention
        async with conn.transaction():
            # Serializes trims across processes; appends do not wait for it.
            await conn.execute(
                "SELECT value FROM relay_meta "
                "WHERE key IN ('trimmed_through', 'trimmed_time_ns') FOR UPDATE"
            )
            trimmed_through = await _meta(conn, "trimmed_through")
            trimmed_time_ns = await _meta(conn, "trimmed_time_ns")
            cutoff = 0
            if retention.max_count is not None:
                cutoff = max(cutoff, await _meta(conn, "head") - retention.max_count)
            if retention.max_age_s is not None:
                oldest_ns = time.time_ns() - int(retention.max_age_s * 1e9)
                cutoff = max(cutoff, await _sequence_at_or_zero(conn, oldest_ns))
            if cutoff <= trimmed_through:
                return 0
            cursor = await conn.execute(
                "SELECT max(receive_time_ns) FROM events WHERE sequence <= %s", (cutoff,)
            )
            row = await cursor.fetchone()
            time_ns = int(row[0] or 0) if row else 0
            cursor = await conn.execute("DELETE FROM events WHERE sequence <= %s", (cutoff,))
            removed = cursor.rowcount
            async with conn.cursor() as cur:
                await cur.executemany(
                    "UPDATE relay_meta SET value = %s WHERE key = %s",
                    [
                        (cutoff, "trimmed_through"),
                        (max(time_ns, trimmed_time_ns), "trimmed_time_ns"),
                    ],
                )
        return removed

    async def _trim_loop(self) -> None:
        while True:
            await asyncio.sleep(self._retention.interval_s)
            try:
                removed = await self.trim()
            except StoreError as error:
                _log.warning("retention trim failed: %s", error)
            else:
                if removed:
                    _log.info("retention trimmed %d events", removed)

    # -- lifecycle ----------------------------------------------------------------

    async def ping(self) -> None:
        """Raises StoreUnavailable unless the database answers now.

        Waits at most `_PING_WAIT_S` for a pooled connection (not the operation
        timeout): while the server is down, no connection will come.
        """
        try:
            async with self._pool.connection(timeout=_PING_WAIT_S) as conn:
                await conn.execute("SELECT 1")
        except psycopg.Error as error:  # PoolTimeout is one too
            raise StoreUnavailable(f"PostgreSQL does not answer: {_one_line(error)}") from error

    async def close(self) -> None:
        """Finishes queued appends, then releases every connection."""
        if self._closing:
            return
        self._closing = True
        self._wake.set()
        await self._writer_task
        for task in (self._trim_task, self._listen_task, self._catch_up_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        async with self._write_lock:
            await self._drop_writer()
        conn, self._listen_conn = self._listen_conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()
        await self._pool.close()


async def _connect(url: str, kwargs: dict[str, Any]) -> Connection:
    """A connection in autocommit mode (transactions are explicit), at READ COMMITTED."""
    conn = await AsyncConnection.connect(url, autocommit=True, **kwargs)
    await conn.set_isolation_level(IsolationLevel.READ_COMMITTED)
    return conn
