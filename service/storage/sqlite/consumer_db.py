"""Consumer groups' transactions on SQLite: a connection and a thread of their own.

The store's writer commits appends on its connection; this one commits the
groups' transactions (`BEGIN IMMEDIATE`) on a second thread. Both hold the
file's `write_lock` for a whole write transaction, so a round waits for an
append's commit (and an append for a round's) on that lock, not in SQLite's
busy handler. One transaction runs at a time; its statements run on that thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from service.storage.interface import StoreUnavailable
from service.storage.sqlite.connections import connect, rollback, write_lock

__all__ = ["SqliteConsumerDatabase"]

_T = TypeVar("_T")


class _SqliteTx:
    """Statements of one transaction, run on the database's thread, in as few hops as can be.

    Each hop to the thread costs a wake-up of the thread and one of the event
    loop; a dispatch round took about ten. The `BEGIN` and every `executemany`
    (whose result nobody waits for) are queued and run, in order, in the hop
    of the next `fetch` or `execute`, or of the `COMMIT`: a round now takes
    three. A queued statement's error still fails the transaction, at that hop.
    """

    def __init__(self, owner: SqliteConsumerDatabase, begin: Callable[[sqlite3.Connection], None]):
        self._owner = owner
        self._queued: list[Callable[[sqlite3.Connection], object]] = [begin]

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return await self._run(lambda conn: conn.execute(sql, params).fetchall())

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        return await self._run(lambda conn: conn.execute(sql, params).rowcount)

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            self._queued.append(lambda conn: conn.executemany(sql, rows))

    async def announce(self, group: str) -> None:
        """Nothing: one process opens the file, and its dispatchers wake themselves."""

    async def commit(self) -> None:
        await self._run(lambda conn: self._owner.end(conn, commit=True))

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        queued, self._queued = self._queued, []

        def hop(conn: sqlite3.Connection) -> _T:
            for earlier in queued:
                earlier(conn)
            return work(conn)

        return await self._owner.run(hop)


class SqliteConsumerDatabase:
    """`ConsumerDatabase` on a SQLite file (already migrated by the store).

    Args:
        path: The store's database file.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-consumers")
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._write_lock = write_lock(path)
        self._writing = False  # holds `_write_lock`: touched on the thread only
        self._closed = False

    async def run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Runs `work(connection)` on the thread; SQLite's errors become StoreUnavailable."""

        def call() -> _T:
            if self._conn is None:
                self._conn = connect(self._path)
            return work(self._conn)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, call)
        except sqlite3.Error as error:
            raise StoreUnavailable(f"consumer groups in {self._path}: {error}") from error

    def begin(self, conn: sqlite3.Connection, durable: bool) -> None:
        """`BEGIN IMMEDIATE` under the file's write lock, after a clean-up.

        It rolls back what a cancelled caller left open: a caller cancelled
        while its `BEGIN` ran on the thread never saw it finish, so never
        rolled it back; nothing of it was committed. The commit fsyncs the
        WAL only when `durable` (see `ConsumerDatabase.transaction`).
        """
        rollback(conn)
        if not self._writing:
            self._write_lock.acquire()
            self._writing = True
        conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        conn.execute("BEGIN IMMEDIATE")

    @staticmethod
    def begin_read(conn: sqlite3.Connection) -> None:
        """`BEGIN` (deferred: a read takes no write lock), after the same clean-up as `begin`."""
        rollback(conn)
        conn.execute("BEGIN")

    def end(self, conn: sqlite3.Connection, commit: bool) -> None:
        """Commits (or rolls back) the transaction, then lets the file's other writers in.

        A failed `COMMIT` is rolled back at once, so that it holds no lock.
        """
        try:
            if commit:
                conn.execute("COMMIT")
        finally:
            rollback(conn)
            if self._writing:
                self._writing = False
                self._write_lock.release()

    @asynccontextmanager
    async def transaction(
        self, lock_group: str | None = None, read_only: bool = False, durable: bool = True
    ) -> AsyncIterator[_SqliteTx]:
        """A write transaction (`BEGIN IMMEDIATE`; SQLite serializes them all), or a read."""
        async with self._lock:
            if self._closed:
                raise StoreUnavailable(f"the store {self._path} is closed")
            tx = _SqliteTx(
                self,
                self.begin_read if read_only else lambda conn: self.begin(conn, durable),
            )
            try:
                yield tx
            except BaseException:
                await asyncio.shield(self.run(lambda conn: self.end(conn, commit=False)))
                raise
            try:  # shielded: a caller cancelled now must not leave its work uncommitted
                await asyncio.shield(tx.commit())
            except BaseException:  # a queued statement failed: nothing of it may hold the lock
                await asyncio.shield(self.run(lambda conn: self.end(conn, commit=False)))
                raise

    def watch(self, wake: Callable[[str], None]) -> None:
        """Nothing to watch: no other process announces groups on this file."""

    async def close(self) -> None:
        """Closes the connection and the thread."""
        async with self._lock:
            self._closed = True
            if self._conn is not None:
                await self.run(lambda conn: conn.close())
            self._thread.shutdown(wait=True)
