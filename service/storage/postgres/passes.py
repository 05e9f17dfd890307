"""The PostgreSQL store's reconciliation passes: checkpoints, and one pass at a time per schema.

Checkpoints are rows of `reconcile_passes` and `reconcile_pass_kinds`
(`service.storage.passes`), written by the writer's connection and read in a
reader's snapshot.

The pass lock is a session-level advisory lock, `pg_try_advisory_lock(k,
hashtext(current_schema()))` with a constant `k`, taken on a connection of its
own and held for the whole pass: every process on the same schema (two `grpc`
processes of a split deployment) contends for the same key, relays in other
schemas of the database do not. PostgreSQL releases it when the connection
ends, so a process that dies, SIGKILL included, gives it up with its session.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import psycopg

from service.storage.interface import StoreUnavailable
from service.storage.passes import (
    KIND_PASS_COLUMNS,
    PASS_COLUMNS,
    PASS_RUNNING,
    PassCheckpoint,
    PassLock,
    checkpoint_from_rows,
    kind_rows,
    old_passes_sql,
    pass_row,
)
from service.storage.postgres.connections import Connection, connect, one_line
from service.storage.sql_rows import places

__all__ = ["PASS_LOCK_KEY", "PostgresPassLock", "lock_passes", "save_pass", "unfinished_pass"]

PASS_LOCK_KEY = 0x636C_7270  # "clrp"; the second key is the schema's hashtext
"""The first key of the pass lock (the two-key form: no clash with the migration lock)."""

_log = logging.getLogger("clerk_relay.store")

_UPSERT_PASS = (
    f"INSERT INTO reconcile_passes ({PASS_COLUMNS}) VALUES ({places(PASS_COLUMNS, '%s')}) "
    "ON CONFLICT (pass_id) DO UPDATE SET "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in PASS_COLUMNS.split(", ")[1:])
)
_OLD_PASSES = old_passes_sql("ALL")
_INSERT_KIND = (
    f"INSERT INTO reconcile_pass_kinds ({KIND_PASS_COLUMNS}) "
    f"VALUES ({places(KIND_PASS_COLUMNS, '%s')})"
)


async def save_pass(conn: Connection, checkpoint: PassCheckpoint) -> None:
    """Replaces a pass's checkpoint, in one transaction on the writer's connection.

    The checkpoint of a pass's end also removes the passes that ended before
    the newest `ENDED_PASSES_KEPT` (their kinds go with them: `ON DELETE CASCADE`).
    """
    async with conn.transaction():
        await conn.execute(_UPSERT_PASS, pass_row(checkpoint))
        await conn.execute(
            "DELETE FROM reconcile_pass_kinds WHERE pass_id = %s", (checkpoint.pass_id,)
        )
        async with conn.cursor() as cursor:
            await cursor.executemany(_INSERT_KIND, kind_rows(checkpoint))
        if not checkpoint.running:
            await conn.execute(f"DELETE FROM reconcile_passes WHERE pass_id IN ({_OLD_PASSES})")


async def unfinished_pass(conn: Connection) -> PassCheckpoint | None:
    """The newest running pass's checkpoint, read in the connection's snapshot."""
    cursor = await conn.execute(
        f"SELECT {PASS_COLUMNS} FROM reconcile_passes WHERE status = %s "
        "ORDER BY started_at_ms DESC, pass_id DESC LIMIT 1",
        (PASS_RUNNING,),
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    cursor = await conn.execute(
        f"SELECT {KIND_PASS_COLUMNS} FROM reconcile_pass_kinds WHERE pass_id = %s", (row[0],)
    )
    return checkpoint_from_rows(row, await cursor.fetchall())


class PostgresPassLock:
    """The advisory lock of one pass, on the connection that holds it."""

    def __init__(self, conn: Connection) -> None:
        self._conn: Connection | None = conn

    async def check(self) -> None:
        """Raises StoreUnavailable unless the session holding the lock still answers.

        A session-level advisory lock lasts as long as its session: a session
        that answers holds it still; one that does not (the server restarted,
        an administrator ended it, the network dropped it) let it go, and
        another process may have taken it since.
        """
        if self._conn is None:
            raise StoreUnavailable("the reconciliation pass lock was released")
        try:
            await self._conn.execute("SELECT 1")
        except psycopg.Error as error:
            await self.release()
            raise StoreUnavailable(
                f"lost the reconciliation pass lock: its session ended ({one_line(error)})"
            ) from error

    async def release(self) -> None:
        """Unlocks by closing the session (a second call does nothing)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()


async def lock_passes(url: str, kwargs: dict[str, Any]) -> PassLock | None:
    """Takes the schema's pass lock on a new connection; None when another session holds it.

    Raises:
        StoreUnavailable: The server cannot be reached.
    """
    try:
        conn = await connect(url, kwargs)
    except psycopg.Error as error:
        raise StoreUnavailable(f"cannot take the pass lock: {one_line(error)}") from error
    try:
        cursor = await conn.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (PASS_LOCK_KEY,)
        )
        row = await cursor.fetchone()
    except psycopg.Error as error:
        await conn.close()
        raise StoreUnavailable(f"cannot take the pass lock: {one_line(error)}") from error
    if row is None or not row[0]:
        await conn.close()
        return None
    _log.debug("reconciliation pass lock taken")
    return PostgresPassLock(conn)
