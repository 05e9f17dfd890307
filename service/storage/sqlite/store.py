"""The SQLite store: the default, embedded backend (one file, WAL mode, one process).

Durability: `journal_mode=WAL` with `synchronous=FULL`, so every commit is
fsynced before `append` returns: an acknowledged webhook survives a power loss,
not only a crash of the process (`NORMAL` would only survive the latter).

Throughput: appends are group-committed (`service.storage.group_commit`): a single
writer takes everything waiting (up to `max_batch`) and commits it in one
transaction, so a burst costs one fsync, not one per webhook. Each caller is
answered only after the transaction holding its event has committed.

Sequence order equals commit order trivially: one writer assigns sequences in
the order it commits them. Readers use their own connections (WAL lets them
read while the writer writes), each in its own thread, with the file mapped
into memory.

Parts: `SqliteStore` owns the threads and the store's state (head, trim
point), and runs the rest on them: the connections and their pragmas are in
`service.storage.sqlite.connections`, the append and probe transactions in
`service.storage.sqlite.transactions`, the reads in
`service.storage.sqlite.queries`, the schema in `service.storage.sqlite.schema`.
Reconciliation's pass lock is this process's (`LocalPassLock`): one process
opens the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from clerkrelay.v1.event_pb2 import Event
from service.storage.group_commit import GroupCommit, Waiting
from service.storage.interface import (
    MAX_ENTITY_IDS,
    AppendResult,
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
    StoreUnavailable,
)
from service.storage.notifier import Notifier
from service.storage.passes import LocalPassLock, PassCheckpoint, PassLock
from service.storage.retention_loop import trim_periodically
from service.storage.sql_rows import entity_list_sql, live_sequences_sql
from service.storage.sqlite import queries
from service.storage.sqlite.connections import Connections, connect, guarded, rollback
from service.storage.sqlite.schema import migrate
from service.storage.sqlite.transactions import append_batch, probe_write, save_pass
from service.storage.worker_thread import WorkerThread
from service.storage.write_health import WriteHealth

__all__ = ["SqliteStore"]

_log = logging.getLogger("clerk_relay.store")
_T = TypeVar("_T")
_LIVE_SEQUENCES = live_sequences_sql("?")


class SqliteStore:
    """The event log and the entity projection in one SQLite file."""

    def __init__(
        self, path: Path, retention: Retention, max_batch: int, head: int, trimmed: tuple[int, int]
    ) -> None:
        self._path = path
        self._retention = retention
        self._head = head
        self._trimmed_through, self._trimmed_time_ns = trimmed
        self._notifier = Notifier(head)
        self._closing = False
        # One thread owns the write connection; readers get one connection per thread.
        self._writer = WorkerThread("sqlite-writer")
        self._readers = ThreadPoolExecutor(4, thread_name_prefix="sqlite-reader")
        self._connections = Connections(path)
        self._appends = GroupCommit(self._commit_or_split, max_batch, "sqlite-writer")
        self._writes = WriteHealth(self._probe)
        self._pass_lock = LocalPassLock()  # one process opens the file
        self._trim_task = (
            None
            if retention.keeps_everything
            else asyncio.create_task(
                trim_periodically(self.trim, retention.interval_s), name="sqlite-trim"
            )
        )

    @classmethod
    async def open(
        cls, path: str | Path, retention: Retention | None = None, max_batch: int = 512
    ) -> SqliteStore:
        """Opens (creating and migrating if needed) the store in `path`.

        Raises:
            StoreError: The file cannot be opened, is not a SQLite database, is
                corrupt, or has a newer schema than this code.
        """
        file = Path(path)

        def initialise() -> tuple[int, tuple[int, int]]:
            conn = connect(file)
            try:
                migrate(conn, str(file))
                # One process opens the file: a member recorded before is of a process gone.
                if conn.execute("SELECT 1 FROM consumer_members LIMIT 1").fetchone():
                    conn.execute("DELETE FROM consumer_members")
                meta = dict(conn.execute("SELECT key, value FROM relay_meta").fetchall())
                trimmed = (meta["trimmed_through"], meta["trimmed_time_ns"])
                return queries.head_in(conn), trimmed
            finally:
                conn.close()

        head, trimmed = await asyncio.to_thread(guarded, file, initialise)
        return cls(file, retention or Retention(), max_batch, head, trimmed)

    # -- writes ---------------------------------------------------------------

    async def append(self, event: Event) -> AppendResult:
        """Stores an event durably; see `service.storage.Store.append`."""
        return await self._appends.append(event)

    async def append_many(self, events: Sequence[Event]) -> list[AppendResult | BaseException]:
        """Stores events durably, in order; see `service.storage.Store.append_many`."""
        return await self._appends.append_many(events)

    async def _commit_or_split(self, batch: list[Waiting]) -> None:
        """Commits a batch; if it fails, retries its events one by one.

        One bad event must not fail the webhooks that happened to share its
        transaction. When the database itself fails (a full disk, an I/O
        error: SQLite's `OperationalError`), every event of the batch is
        answered StoreUnavailable at once instead.
        """
        queued = [pending for pending, _ in batch]
        try:
            plan = await self._writer.run(
                lambda: self._connections.write(lambda conn: append_batch(conn, queued, self._head))
            )
        except Exception as error:
            if len(batch) > 1 and not isinstance(error, sqlite3.OperationalError):
                for single in batch:
                    await self._commit_or_split([single])
                return
            _log.error("append failed: %s", error)
            self._writes.failed(f"could not write to {self._path}: {error}")
            for _, future in batch:
                if not future.done():
                    future.set_exception(StoreUnavailable(f"could not store the event: {error}"))
            return
        self._writes.succeeded()
        self._head = plan.head
        for (_, future), result in zip(batch, plan.results, strict=True):
            if not future.done():
                future.set_result(result)
        await self._notifier.committed([row.stored for row in plan.log_rows], plan.head)

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
        return await self._read(
            functools.partial(
                queries.read_page,
                after_sequence=after_sequence,
                limit=limit,
                matches=matches,
                with_data=with_data,
            )
        )

    async def read_serialized(self, after_sequence: int, limit: int) -> SerializedPage:
        """Reads every event after a sequence; see `service.storage.Store.read_serialized`."""
        return await self._read(
            functools.partial(queries.serialized_page, after_sequence=after_sequence, limit=limit)
        )

    async def head(self) -> int:
        """The highest committed sequence."""
        return self._head

    async def oldest_retained(self) -> int:
        """The lowest sequence still in the log (head + 1 when it is empty)."""
        return self._trimmed_through + 1

    async def sequence_before(self, time: datetime) -> int:
        """The highest sequence received before `time`."""
        cutoff = int(time.timestamp() * 1e9)
        return await self._read(functools.partial(queries.sequence_before, cutoff_ns=cutoff))

    async def get_event(self, sequence: int = 0, webhook_id: str = "") -> StoredEvent | None:
        """One retained event by sequence or webhook id; see `Store.get_event`."""
        return await self._read(
            functools.partial(queries.event, sequence=sequence, webhook_id=webhook_id)
        )

    async def entity_history(
        self, entity_id: str, families: tuple[str, ...], after_sequence: int, limit: int
    ) -> HistoryPage:
        """Events about one entity, in order; see `Store.entity_history`."""
        return await self._read(
            functools.partial(
                queries.history_page,
                entity_id=entity_id,
                families=families,
                after_sequence=after_sequence,
                limit=limit,
            )
        )

    async def get_entity(self, kind: str, entity_id: str) -> tuple[EntityRecord | None, int]:
        """One entity's record and the head the read reflects."""
        return await self._read(functools.partial(queries.entity, kind=kind, entity_id=entity_id))

    async def list_entities(self, query: EntityQuery) -> EntityPage:
        """Records of one kind in id order, filtered and paged."""
        sql, params = entity_list_sql(query, "?")
        return await self._read(functools.partial(queries.entity_page, sql=sql, params=params))

    async def live_sequences(self, kind: str, after_id: str, limit: int) -> list[tuple[str, int]]:
        """Ids and event sequences of live entities; see `Store.live_sequences`."""
        params = (kind, after_id, limit)
        rows: list[tuple[str, int]] = await self._read(
            lambda conn: conn.execute(_LIVE_SEQUENCES, params).fetchall()
        )
        return rows

    async def get_entities(self, kind: str, ids: Sequence[str]) -> dict[str, EntityRecord]:
        """The records of those of `ids` the mirror holds, by id (one read)."""
        if len(ids) > MAX_ENTITY_IDS:
            raise ValueError(f"at most {MAX_ENTITY_IDS} ids at once, not {len(ids)}")
        if not ids:
            return {}
        return await self._read(functools.partial(queries.entities, kind=kind, ids=list(ids)))

    # -- reconciliation passes ---------------------------------------------------

    async def save_pass(self, checkpoint: PassCheckpoint) -> None:
        """Stores a pass's checkpoint durably; see `service.storage.Store.save_pass`."""
        if self._closing:
            raise StoreUnavailable(f"the store {self._path} is closed")
        try:
            await self._writer.run(
                lambda: self._connections.write(functools.partial(save_pass, checkpoint=checkpoint))
            )
        except sqlite3.Error as error:
            raise StoreUnavailable(f"could not save the pass's progress: {error}") from error

    async def unfinished_pass(self) -> PassCheckpoint | None:
        """The newest pass still running, or None."""
        return await self._read(queries.unfinished_pass)

    async def lock_passes(self) -> PassLock | None:
        """The right to run a pass: in this process, since only one opens the file."""
        return self._pass_lock.acquire()

    async def _read(self, query: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._closing:
            raise StoreUnavailable(f"the store {self._path} is closed")

        def run() -> _T:
            try:
                return query(self._connections.reader())
            except sqlite3.Error as error:
                raise StoreUnavailable(f"could not read {self._path}: {error}") from error

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    # -- notifications ---------------------------------------------------------

    def add_listener(self, listener: CommitListener) -> Callable[[], None]:
        """Calls `listener` with every batch committed from now on."""
        return self._notifier.add_listener(listener)

    async def wait_for(self, sequence: int) -> None:
        """Returns once the head has reached `sequence`."""
        await self._notifier.wait_for(sequence)

    # -- retention --------------------------------------------------------------

    async def trim(self) -> int:
        """Applies the retention policy now; returns how many events were removed.

        Raises:
            StoreUnavailable: The database failed.
        """
        if self._retention.keeps_everything:
            return 0
        try:
            return await self._writer.run(lambda: self._connections.write(self._trim))
        except sqlite3.Error as error:
            raise StoreUnavailable(f"could not trim the log: {error}") from error

    def _trim(self, conn: sqlite3.Connection) -> int:
        retention = self._retention
        conn.execute("BEGIN IMMEDIATE")
        try:
            cutoff = 0
            if retention.max_count is not None:
                cutoff = max(cutoff, self._head - retention.max_count)
            if retention.max_age_s is not None:
                oldest_ns = time.time_ns() - int(retention.max_age_s * 1e9)
                cutoff = max(cutoff, queries.sequence_at_or_zero(conn, oldest_ns))
            removed = 0
            trimmed = (self._trimmed_through, self._trimmed_time_ns)
            if cutoff > self._trimmed_through:
                (time_ns,) = conn.execute(  # the latest: receive times never decrease
                    "SELECT max(receive_time_ns) FROM "
                    "(SELECT receive_time_ns FROM events WHERE sequence <= ? "
                    "ORDER BY sequence DESC LIMIT 1)",
                    (cutoff,),
                ).fetchone()
                _forget_subjects(conn, self._trimmed_through, cutoff)
                removed = conn.execute("DELETE FROM events WHERE sequence <= ?", (cutoff,)).rowcount
                trimmed_time_ns = max(time_ns or 0, self._trimmed_time_ns)
                conn.executemany(
                    "UPDATE relay_meta SET value = ? WHERE key = ?",
                    [(cutoff, "trimmed_through"), (trimmed_time_ns, "trimmed_time_ns")],
                )
                trimmed = (cutoff, trimmed_time_ns)
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
        # Only once committed: readers check the trim point before they read.
        self._trimmed_through, self._trimmed_time_ns = trimmed
        return removed

    # -- lifecycle ----------------------------------------------------------------

    async def ping(self) -> None:
        """Raises StoreUnavailable unless the database answers and can append now.

        After a failed append, a probe write must succeed first (see
        `service.storage.write_health`).
        """
        await self._read(lambda conn: conn.execute("SELECT 1").fetchone())
        await self._writes.check()

    async def _probe(self) -> None:
        """Commits a write about the size of an append, then takes it back in the same transaction.

        Raises:
            StoreUnavailable: It failed (SQLite's reason: "database or disk is full", …).
        """
        if self._closing:
            raise StoreUnavailable(f"the store {self._path} is closed")
        try:
            await self._writer.run(lambda: self._connections.write(probe_write))
        except sqlite3.Error as error:
            raise StoreUnavailable(f"could not write to {self._path}: {error}") from error

    async def close(self) -> None:
        """Finishes queued appends, then releases every connection."""
        if self._closing:
            return
        self._closing = True
        await self._appends.close()
        if self._trim_task is not None:
            self._trim_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._trim_task
        # Waited for off the event loop: a write still running may be waiting for the
        # file's write lock, which a consumer group's transaction may hold meanwhile.
        await self._writer.close()
        await asyncio.to_thread(self._readers.shutdown, wait=True)
        self._connections.close()


def _forget_subjects(conn: sqlite3.Connection, after: int, upto: int) -> None:
    """Deletes the `event_subjects` rows of the events about to be trimmed (by their keys)."""
    rows = conn.execute(
        "SELECT sequence, subject_ids FROM events WHERE sequence > ? AND sequence <= ?",
        (after, upto),
    ).fetchall()
    conn.executemany(
        "DELETE FROM event_subjects WHERE subject_id = ? AND sequence = ?",
        [(subject, sequence) for sequence, subjects in rows for subject in subjects.split()],
    )
