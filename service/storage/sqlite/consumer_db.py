"""Consumer groups' transactions on SQLite: a connection and a thread of their own.

The store's writer commits appends on its connection; this one commits the
groups' transactions (`BEGIN IMMEDIATE`) on a second thread. Both hold the
file's `write_lock` for a whole write transaction, so a round waits for an
append's commit (and an append for a round's) on that lock, not in SQLite's
busy handler.

A transaction runs whole on the thread, in one hop: `BEGIN`, the caller's
work, `COMMIT`. The work is a coroutine that awaits only its statements,
which here complete at once, so the thread drives it to its end without the
event loop. Each hop costs a wake-up of the thread and one of the loop, and
on a busy loop each wake-up waits behind whatever the loop is doing: a round
of four hops took 6.7 ms at the median where its statements took under 1,
and one hop still took 4.2 ms at 500 webhooks/s (2026-12-03).

So a brief write that need not wait for the disk (a live dispatch round:
a few rows, under a millisecond) runs on the caller's thread, the event
loop, on a third connection, whenever the write lock is free at that
moment. The loop spends the same CPU the thread would have, on the same
core, but neither waits for the other. When the lock is taken (an append
committing: at 500 webhooks/s, about a third of the rounds found it so) or
another process writes the file, the transaction takes the hop as any
other. That connection never checkpoints the WAL (the store's writer does),
so no fsync blocks the loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from service.storage.consumer_records import Tx
from service.storage.interface import StoreUnavailable
from service.storage.sqlite.connections import connect, rollback, write_lock
from service.storage.worker_thread import WorkerThread

__all__ = ["SqliteConsumerDatabase"]

_T = TypeVar("_T")


class _Busy(Exception):
    """Another process holds the file's write lock: the transaction takes the hop instead."""


class _SqliteTx:
    """Statements of one transaction, run at once on the thread that runs it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            self._conn.executemany(sql, rows)

    async def announce(self, group: str) -> None:
        """Nothing: one process opens the file, and its dispatchers wake themselves."""


def _complete(work: Coroutine[Any, Any, _T]) -> _T:
    """Runs a coroutine that never suspends to its end, on this thread; its result."""
    try:
        work.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    work.close()
    raise RuntimeError("a consumer-group transaction awaited something other than its statements")


class SqliteConsumerDatabase:
    """`ConsumerDatabase` on a SQLite file (already migrated by the store).

    Args:
        path: The store's database file.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread = WorkerThread("sqlite-consumers")
        self._conn: sqlite3.Connection | None = None  # the thread's
        self._loop_conn: sqlite3.Connection | None = None  # brief writes', on the event loop
        self._write_lock = write_lock(path)
        self._closed = False

    async def run(
        self,
        work: Callable[[Tx], Coroutine[Any, Any, _T]],
        lock_group: str | None = None,
        read_only: bool = False,
        durable: bool = True,
        brief: bool = False,
    ) -> _T:
        """`work(tx)` in one transaction on the thread (SQLite serializes writes anyway).

        A write commits with `synchronous = FULL` only when `durable` (see
        `ConsumerDatabase.run`). A caller cancelled once the hop has begun
        does not stop it: the transaction ends on the thread as if it had not
        been cancelled. A `brief` write that is not `durable` runs on the
        caller's thread when the write lock is free (see the module's
        docstring).
        """
        if brief and not durable and not read_only and self._write_lock.acquire(blocking=False):
            try:
                return self._here(work)
            except _Busy:
                pass  # another process writes the file: wait for it on the thread
            finally:
                self._write_lock.release()

        def transaction(conn: sqlite3.Connection) -> _T:
            if read_only:
                return _within(conn, "BEGIN", work)
            with self._write_lock:
                conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
                return _within(conn, "BEGIN IMMEDIATE", work)

        return await self._hop(transaction)

    def _here(self, work: Callable[[Tx], Coroutine[Any, Any, _T]]) -> _T:
        """`work` in a transaction on the calling thread, with the write lock held.

        Raises:
            _Busy: Another process holds the file's lock (nothing was done).
        """
        if self._closed:
            raise StoreUnavailable(f"the store {self._path} is closed")
        try:
            if self._loop_conn is None:
                self._loop_conn = _brief_connection(self._path)
            return _within(self._loop_conn, "BEGIN IMMEDIATE", work)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:  # or an extended BUSY_*
                raise _Busy from error
            raise StoreUnavailable(f"consumer groups in {self._path}: {error}") from error
        except sqlite3.Error as error:
            raise StoreUnavailable(f"consumer groups in {self._path}: {error}") from error

    async def _hop(self, call: Callable[[sqlite3.Connection], _T]) -> _T:
        """Runs `call(connection)` on the thread; SQLite's errors become StoreUnavailable."""
        if self._closed:
            raise StoreUnavailable(f"the store {self._path} is closed")

        def on_thread() -> _T:
            if self._conn is None:
                self._conn = connect(self._path)
            return call(self._conn)

        try:
            return await self._thread.run(on_thread)
        except sqlite3.Error as error:
            raise StoreUnavailable(f"consumer groups in {self._path}: {error}") from error

    def watch(self, wake: Callable[[str], None]) -> None:
        """Nothing to watch: no other process announces groups on this file."""

    async def close(self) -> None:
        """Closes the connection and the thread, after the transactions already queued."""
        if self._closed:
            return
        self._closed = True
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None

        def close_connection() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self._thread.run(close_connection)
        await self._thread.close()


def _brief_connection(path: Path) -> sqlite3.Connection:
    """A connection for brief writes: never waits for another process, never checkpoints."""
    conn = connect(path, busy_timeout_s=0)
    try:
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
    except BaseException:
        conn.close()
        raise
    return conn


def _within(
    conn: sqlite3.Connection, begin: str, work: Callable[[Tx], Coroutine[Any, Any, _T]]
) -> _T:
    """`begin`, `work`, then `COMMIT`; rolled back if any of them fails."""
    conn.execute(begin)
    try:
        result = _complete(work(_SqliteTx(conn)))
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return result
