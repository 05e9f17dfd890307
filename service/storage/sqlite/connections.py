"""The SQLite store's connections: opening one (WAL, synchronous=FULL), and who gets which.

One thread, the writer's, owns the write connection; every reader thread has a
connection of its own, read-only and with the file mapped into memory. Start-up
errors and failed rollbacks are told here too, in words fit for an operator.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from service.storage.interface import StoreError

__all__ = [
    "CHECKPOINT_PAGES",
    "READ_MMAP_BYTES",
    "Connections",
    "connect",
    "guarded",
    "rollback",
    "write_lock",
]

_log = logging.getLogger("clerk_relay.store")
_T = TypeVar("_T")


CHECKPOINT_PAGES = 256
"""WAL pages after which a commit copies the WAL back into the database file.

The commit that crosses the threshold pays for the copy and its fsync, and
its webhooks wait for it. Against SQLite's default of 1000 pages (4 MiB), 256
cut the p99 commit time from 7.7 to 3.7 ms at 2 events a commit and from 23 to
10 ms at 32, for about 10% more store CPU per event. A checkpoint thread beside
the writer was measured too: it made the p99 worse (25 against 15 ms for the
HTTP answer at 500 webhooks/s, medians of three alternating runs).
"""


READ_MMAP_BYTES = 1 << 30
"""How much of the file readers map into memory: a read then copies each page
once, from the page cache, instead of `pread`ing it into SQLite's own cache
first (a catch-up read of the log is about 1.5× faster)."""


_write_locks: dict[str, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def write_lock(path: Path) -> threading.Lock:
    """The lock that this process's writers to `path` hold for each write transaction.

    SQLite lets one connection write at a time. A second connection's `BEGIN
    IMMEDIATE` finds the file locked, and its busy handler sleeps 1, 2, 5, 10,
    15, 20… ms between tries: a consumer group's round that met an append's
    commit waited up to tens of milliseconds, and an append behind a round the
    same. Waiting on this lock instead, the next writer starts the moment the
    previous one ends. Another process (a CLI opening the file) still meets the
    busy handler.
    """
    key = str(path.resolve())
    with _write_locks_guard:
        return _write_locks.setdefault(key, threading.Lock())


class Connections:
    """The store's connections to one file, made on first use and closed together.

    Args:
        path: The database file.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_conn: sqlite3.Connection | None = None
        self._write_lock = write_lock(path)

    def write(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """`work(write connection)`, a whole transaction, under the file's `write_lock`.

        Call it on the writer's thread only.
        """
        with self._write_lock:
            return work(self.writer())

    def writer(self) -> sqlite3.Connection:
        """The write connection; call it on the writer's thread only."""
        if self._write_conn is None:
            self._write_conn = self._track(connect(self._path))
            self._write_conn.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
        return self._write_conn

    def reader(self) -> sqlite3.Connection:
        """The calling thread's read-only connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._track(connect(self._path))
            conn.execute("PRAGMA query_only = ON")
            conn.execute(f"PRAGMA mmap_size = {READ_MMAP_BYTES}")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Closes every connection made so far (once no thread uses them any more)."""
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def _track(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        with self._connections_lock:
            self._connections.append(conn)
        return conn


def connect(path: Path, busy_timeout_s: float = 30) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, synchronous=FULL.

    `busy_timeout_s`: how long a statement that finds the file locked by
    another connection retries before it fails with `SQLITE_BUSY`.
    """
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_s
    )
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        conn.close()  # its file descriptors would otherwise stay open until collected
        raise
    return conn


def rollback(conn: sqlite3.Connection) -> None:
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


def guarded(path: Path, work: Callable[[], _T]) -> _T:
    """Runs start-up work, turning SQLite's errors into a clear StoreError."""
    if not path.parent.is_dir():
        raise StoreError(f"cannot create {path}: directory {path.parent} does not exist")
    try:
        return work()
    except sqlite3.DatabaseError as error:
        if "not a database" in str(error) or "malformed" in str(error):
            raise StoreError(f"{path} is not a SQLite database or is corrupt ({error})") from error
        raise StoreError(f"cannot open {path}: {error}") from error
