"""The SQLite store: the default, embedded backend (one file, WAL mode, one process).

Durability: `journal_mode=WAL` with `synchronous=FULL`, so every commit is
fsynced before `append` returns: an acknowledged webhook survives a power loss,
not only a crash of the process (`NORMAL` would only survive the latter).

Throughput: appends are group-committed (`service.group_commit`): a single
writer takes everything waiting (up to `max_batch`) and commits it in one
transaction, so a burst costs one fsync, not one per webhook. Each caller is
answered only after the transaction holding its event has committed.

Sequence order equals commit order trivially: one writer assigns sequences in
the order it commits them. Readers use their own connections (WAL lets them
read while the writer writes), each in its own thread, with the file mapped
into memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from clerkrelay.v1.event_pb2 import Event
from service.group_commit import GroupCommit, Waiting
from service.notifier import Notifier
from service.projection import BatchPlan, EntityRow, Pending, plan_batch
from service.retention_loop import trim_periodically
from service.sql_rows import (
    ENTITY_COLUMNS,
    EVENT_COLUMNS,
    entity_from_row,
    entity_list_sql,
    entity_to_row,
)
from service.sqlite_schema import migrate
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
from service.write_health import WriteHealth

__all__ = ["SqliteStore"]

_log = logging.getLogger("clerk_relay.store")
_T = TypeVar("_T")


def _stored(row: tuple[int, str, str, str, int, bytes]) -> StoredEvent:
    subjects = row[2]
    return StoredEvent(
        row[0], row[1], tuple(subjects.split(" ")) if subjects else (), row[3], row[4], row[5]
    )


CHECKPOINT_PAGES = 256
"""WAL pages after which a commit copies the WAL back into the database file.

The commit that crosses the threshold pays for the copy and its fsync, and
its webhooks wait for it. Against SQLite's default of 1000 pages (4 MiB), 256
cut the p99 commit time from 7.7 to 3.7 ms at 2 events a commit and from 23 to
10 ms at 32, for about 10% more store CPU per event. A checkpoint thread beside
the writer was measured too: it made the p99 worse (25 against 15 ms for the
HTTP answer at 500 webhooks/s, medians of three alternating runs).
"""


PROBE_BYTES = 64 << 10
"""Size of the probe write that tells whether the store can append again after a
failed append (`service.write_health`): a few webhooks' worth, so that a disk
with only a few free pages, which a batch would not fit in, is not taken for
writable."""


_READ_MMAP_BYTES = 1 << 30
"""How much of the file readers map into memory: a read then copies each page
once, from the page cache, instead of `pread`ing it into SQLite's own cache
first (a catch-up read of the log is about 1.5× faster)."""


def _log_page(
    conn: sqlite3.Connection, columns: str, after_sequence: int, limit: int
) -> list[tuple[Any, ...]]:
    """`columns` of up to `limit` events after a sequence, in order, from one snapshot.

    Raises:
        BeforeRetention: `after_sequence + 1` was trimmed away.
    """
    conn.execute("BEGIN")
    try:
        (trimmed,) = conn.execute(
            "SELECT value FROM relay_meta WHERE key = 'trimmed_through'"
        ).fetchone()
        if after_sequence < trimmed:
            raise BeforeRetention(after_sequence, trimmed + 1)
        return conn.execute(
            f"SELECT {columns} FROM events WHERE sequence > ? ORDER BY sequence LIMIT ?",
            (after_sequence, limit),
        ).fetchall()
    finally:
        conn.execute("COMMIT")


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
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._readers = ThreadPoolExecutor(4, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_conn: sqlite3.Connection | None = None
        self._appends = GroupCommit(self._commit_or_split, max_batch, "sqlite-writer")
        self._writes = WriteHealth(self._probe)
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
            conn = _connect(file)
            try:
                migrate(conn, str(file))
                meta = dict(conn.execute("SELECT key, value FROM relay_meta").fetchall())
                return meta["head"], (meta["trimmed_through"], meta["trimmed_time_ns"])
            finally:
                conn.close()

        head, trimmed = await asyncio.to_thread(_guarded, file, initialise)
        return cls(file, retention or Retention(), max_batch, head, trimmed)

    # -- writes ---------------------------------------------------------------

    async def append(self, event: Event) -> AppendResult:
        """Stores an event durably; see `service.store.Store.append`."""
        return await self._appends.append(event)

    async def _commit_or_split(self, batch: list[Waiting]) -> None:
        """Commits a batch; if it fails, retries its events one by one.

        One bad event must not fail the webhooks that happened to share its
        transaction. When the database itself fails (a full disk, an I/O
        error: SQLite's `OperationalError`), every event of the batch is
        answered StoreUnavailable at once instead.
        """
        try:
            plan = await asyncio.get_running_loop().run_in_executor(
                self._writer, self._commit, [pending for pending, _ in batch]
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

    def _commit(self, batch: list[Pending]) -> BatchPlan:
        """One transaction (writer thread): dedup, sequence, projection, commit."""
        conn = self._write_connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            ids = [pending.event.id for pending in batch]
            known = dict(
                conn.execute(
                    "SELECT webhook_id, sequence FROM deliveries WHERE webhook_id IN "
                    f"({','.join('?' * len(ids))})",
                    ids,
                ).fetchall()
            )
            keys = {
                (change.kind, change.id)
                for pending in batch
                if (change := pending.facts.change) is not None
            }
            rows = self._load_entities(conn, keys)
            plan = plan_batch(batch, self._head, known, rows)
            conn.executemany(
                "INSERT INTO deliveries (webhook_id, sequence) VALUES (?, ?)",
                [(row.webhook_id, row.stored.sequence) for row in plan.log_rows],
            )
            conn.executemany(
                f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        s.sequence,
                        s.type,
                        " ".join(s.subject_ids),
                        s.organization_id,
                        s.receive_time_ns,
                        s.data,
                    )
                    for s in (row.stored for row in plan.log_rows)
                ],
            )
            conn.executemany(
                f"INSERT OR REPLACE INTO entities ({ENTITY_COLUMNS}) VALUES ({','.join('?' * 15)})",
                [entity_to_row(e) for e in plan.entity_rows],
            )
            if plan.head != self._head:
                conn.execute("UPDATE relay_meta SET value = ? WHERE key = 'head'", (plan.head,))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return plan

    @staticmethod
    def _load_entities(
        conn: sqlite3.Connection, keys: Iterable[tuple[str, str]]
    ) -> Mapping[tuple[str, str], EntityRow]:
        rows: dict[tuple[str, str], EntityRow] = {}
        for kind, entity_id in keys:
            found = conn.execute(
                f"SELECT {ENTITY_COLUMNS} FROM entities WHERE kind = ? AND id = ?",
                (kind, entity_id),
            ).fetchone()
            if found is not None:
                rows[(kind, entity_id)] = entity_from_row(found)
        return rows

    # -- reads ----------------------------------------------------------------

    async def read(
        self, after_sequence: int, limit: int, matches: RowFilter | None = None
    ) -> ReadResult:
        """Reads the log after a sequence; see `service.store.Store.read`."""

        def query(conn: sqlite3.Connection) -> ReadResult:
            rows = _log_page(conn, EVENT_COLUMNS, after_sequence, limit)
            if not rows:
                return ReadResult([], after_sequence)
            events = [_stored(row) for row in rows]
            last = events[-1].sequence
            if matches is not None:
                events = [e for e in events if matches(e)]
            return ReadResult(events, last)

        return await self._read(query)

    async def read_serialized(self, after_sequence: int, limit: int) -> SerializedPage:
        """Reads every event after a sequence; see `service.store.Store.read_serialized`."""

        def query(conn: sqlite3.Connection) -> SerializedPage:
            rows = _log_page(conn, "sequence, data", after_sequence, limit)
            if not rows:
                return SerializedPage([], after_sequence)
            return SerializedPage([data for _, data in rows], rows[-1][0])

        return await self._read(query)

    async def head(self) -> int:
        """The highest committed sequence."""
        return self._head

    async def oldest_retained(self) -> int:
        """The lowest sequence still in the log (head + 1 when it is empty)."""
        return self._trimmed_through + 1

    async def sequence_before(self, time: datetime) -> int:
        """The highest sequence received before `time`."""
        cutoff = int(time.timestamp() * 1e9)

        def query(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN")
            try:
                meta: dict[str, int] = dict(
                    conn.execute("SELECT key, value FROM relay_meta").fetchall()
                )
                trimmed = meta["trimmed_through"]
                found = self._sequence_at_or_zero(conn, cutoff)
            finally:
                conn.execute("COMMIT")
            if trimmed and cutoff <= meta["trimmed_time_ns"]:
                raise BeforeRetention(found, trimmed + 1)
            return max(found, trimmed)

        return await self._read(query)

    @staticmethod
    def _sequence_at_or_zero(conn: sqlite3.Connection, cutoff_ns: int) -> int:
        (found,) = conn.execute(
            "SELECT max(sequence) FROM events WHERE receive_time_ns < ?", (cutoff_ns,)
        ).fetchone()
        return int(found or 0)

    async def get_entity(self, kind: str, entity_id: str) -> tuple[EntityRecord | None, int]:
        """One entity's record and the head the read reflects."""

        def query(conn: sqlite3.Connection) -> tuple[EntityRecord | None, int]:
            conn.execute("BEGIN")
            try:
                found = conn.execute(
                    f"SELECT {ENTITY_COLUMNS} FROM entities WHERE kind = ? AND id = ?",
                    (kind, entity_id),
                ).fetchone()
                head = self._head_in(conn)
            finally:
                conn.execute("COMMIT")
            return (None if found is None else entity_from_row(found).record()), head

        return await self._read(query)

    async def list_entities(self, query: EntityQuery) -> EntityPage:
        """Records of one kind in id order, filtered and paged."""
        sql, params = entity_list_sql(query, "?")

        def run(conn: sqlite3.Connection) -> EntityPage:
            conn.execute("BEGIN")
            try:
                rows = conn.execute(sql, params).fetchall()
                head = self._head_in(conn)
            finally:
                conn.execute("COMMIT")
            return EntityPage([entity_from_row(row).record() for row in rows], head)

        return await self._read(run)

    @staticmethod
    def _head_in(conn: sqlite3.Connection) -> int:
        (head,) = conn.execute("SELECT value FROM relay_meta WHERE key = 'head'").fetchone()
        return int(head)

    async def _read(self, query: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._closing:
            raise StoreUnavailable(f"the store {self._path} is closed")

        def run() -> _T:
            try:
                return query(self._read_connection())
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
            return await asyncio.get_running_loop().run_in_executor(self._writer, self._trim)
        except sqlite3.Error as error:
            raise StoreUnavailable(f"could not trim the log: {error}") from error

    def _trim(self) -> int:
        conn = self._write_connection()
        retention = self._retention
        conn.execute("BEGIN IMMEDIATE")
        try:
            cutoff = 0
            if retention.max_count is not None:
                cutoff = max(cutoff, self._head - retention.max_count)
            if retention.max_age_s is not None:
                oldest_ns = time.time_ns() - int(retention.max_age_s * 1e9)
                cutoff = max(cutoff, self._sequence_at_or_zero(conn, oldest_ns))
            removed = 0
            if cutoff > self._trimmed_through:
                (time_ns,) = conn.execute(
                    "SELECT max(receive_time_ns) FROM events WHERE sequence <= ?", (cutoff,)
                ).fetchone()
                removed = conn.execute("DELETE FROM events WHERE sequence <= ?", (cutoff,)).rowcount
                trimmed_time_ns = max(time_ns or 0, self._trimmed_time_ns)
                conn.executemany(
                    "UPDATE relay_meta SET value = ? WHERE key = ?",
                    [(cutoff, "trimmed_through"), (trimmed_time_ns, "trimmed_time_ns")],
                )
                self._trimmed_through = cutoff
                self._trimmed_time_ns = trimmed_time_ns
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return removed

    # -- lifecycle ----------------------------------------------------------------

    async def ping(self) -> None:
        """Raises StoreUnavailable unless the database answers and can append now.

        After a failed append, a probe write must succeed first (see
        `service.write_health`).
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
            await asyncio.get_running_loop().run_in_executor(self._writer, self._probe_write)
        except sqlite3.Error as error:
            raise StoreUnavailable(f"could not write to {self._path}: {error}") from error

    def _probe_write(self) -> None:
        conn = self._write_connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO relay_meta (key, value) VALUES ('write_probe', zeroblob(?))",
                (PROBE_BYTES,),
            )
            conn.execute("DELETE FROM relay_meta WHERE key = 'write_probe'")
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

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
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    # -- connections -----------------------------------------------------------------

    def _write_connection(self) -> sqlite3.Connection:
        if self._write_conn is None:
            self._write_conn = self._track(_connect(self._path))
            self._write_conn.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
        return self._write_conn

    def _read_connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._track(_connect(self._path))
            conn.execute("PRAGMA query_only = ON")
            conn.execute(f"PRAGMA mmap_size = {_READ_MMAP_BYTES}")
            self._local.conn = conn
        return conn

    def _track(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        with self._connections_lock:
            self._connections.append(conn)
        return conn


def _connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, synchronous=FULL."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        conn.close()  # its file descriptors would otherwise stay open until collected
        raise
    return conn


def _rollback(conn: sqlite3.Connection) -> None:
    """Rolls back the open transaction, unless SQLite already did.

    SQLite rolls a transaction back by itself when a write fails for want of
    space (`SQLITE_FULL`) or on an I/O error; a `ROLLBACK` then would fail with
    "cannot rollback - no transaction is active" and hide the real error. A
    failed rollback is logged, not raised: the caller raises the error that
    made it roll back.
    """
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error as error:
        _log.error("rollback failed: %s", error)


def _guarded(path: Path, work: Callable[[], _T]) -> _T:
    """Runs start-up work, turning SQLite's errors into a clear StoreError."""
    if not path.parent.is_dir():
        raise StoreError(f"cannot create {path}: directory {path.parent} does not exist")
    try:
        return work()
    except sqlite3.DatabaseError as error:
        if "not a database" in str(error) or "malformed" in str(error):
            raise StoreError(f"{path} is not a SQLite database or is corrupt ({error})") from error
        raise StoreError(f"cannot open {path}: {error}") from error
