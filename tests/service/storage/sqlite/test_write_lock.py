"""The consumer groups' transactions on SQLite, and the file's write lock.

The store's appends and the groups' transactions both hold `write_lock` for
a whole write transaction, so the one that waits wakes when the other ends
instead of sleeping in SQLite's busy handler; a transaction that fails in
any way must let the other writer in. A group's transaction runs whole on
its thread, so it ends there even when its caller is cancelled.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from service.storage import StoreUnavailable
from service.storage.consumer_records import Tx
from service.storage.sqlite import SqliteStore
from service.storage.sqlite.connections import write_lock
from service.storage.sqlite.consumer_db import SqliteConsumerDatabase
from tests.history import event


@pytest.fixture
async def opened(tmp_path: Path) -> AsyncIterator[tuple[Path, SqliteStore, SqliteConsumerDatabase]]:
    path = tmp_path / "relay.db"
    store = await SqliteStore.open(path)
    database = SqliteConsumerDatabase(path)
    yield path, store, database
    await database.close()
    await store.close()


_INSERT_GROUP = (
    "INSERT INTO consumer_groups (name, settings, create_time_ns, cursor, delivered, "
    "redelivered, acked) VALUES ('emails', x'', 0, 0, 0, 0, 0)"
)


async def _groups(database: SqliteConsumerDatabase) -> int:
    """How many groups the file holds, read in a transaction of its own."""
    rows = await database.run(
        lambda tx: tx.fetch("SELECT count(*) FROM consumer_groups"), read_only=True
    )
    return int(rows[0][0])


async def _appends(store: SqliteStore, user_id: str) -> int:
    """Appends an event, failing the test if it does not commit soon."""
    result = await asyncio.wait_for(store.append(event("user.created", user_id)), 10)
    return result.sequence


def _held(
    inside: threading.Event, release: threading.Event
) -> Callable[[Tx], Coroutine[Any, Any, int]]:
    """A transaction's work that holds it open (on the database's thread) until `release`."""

    async def work(tx: Tx) -> int:
        (count,) = (await tx.fetch("SELECT count(*) FROM consumer_groups"))[0]
        inside.set()
        release.wait(10)
        return int(count)

    return work


async def test_an_append_waits_for_a_group_transaction_then_commits(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, store, database = opened
    inside, release = threading.Event(), threading.Event()
    transaction = asyncio.create_task(database.run(_held(inside, release)))
    assert await asyncio.to_thread(inside.wait, 10)
    assert write_lock(path).locked()
    append = asyncio.create_task(_appends(store, "user_1"))
    await asyncio.sleep(0.2)
    assert not append.done()
    release.set()
    assert await transaction == 0
    assert await append == 1
    assert not write_lock(path).locked()


async def test_a_group_transaction_that_raises_lets_appends_in(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, store, database = opened

    async def work(tx: Tx) -> None:
        await tx.executemany("DELETE FROM consumer_groups WHERE name = ?", [("any",)])
        raise RuntimeError("the round failed")

    with pytest.raises(RuntimeError, match="the round failed"):
        await database.run(work, durable=False)
    assert not write_lock(path).locked()
    assert await _appends(store, "user_1") == 1


async def test_a_failing_statement_rolls_back_what_ran_before_it(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, store, database = opened

    async def work(tx: Tx) -> None:
        await tx.execute(_INSERT_GROUP)
        await tx.executemany("DELETE FROM not_a_table WHERE x = ?", [(1,)])

    with pytest.raises(StoreUnavailable, match="no such table: not_a_table"):
        await database.run(work)
    assert not write_lock(path).locked()
    assert await _appends(store, "user_1") == 1
    assert await _groups(database) == 0  # and the connection is usable


async def test_work_that_awaits_anything_else_is_refused_and_rolled_back(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, _, database = opened

    async def work(tx: Tx) -> None:
        await tx.execute(_INSERT_GROUP)
        await asyncio.sleep(0)  # the loop's: the thread cannot wait for it

    with pytest.raises(RuntimeError, match="awaited something other than its statements"):
        await database.run(work)
    assert not write_lock(path).locked()
    assert await _groups(database) == 0


async def test_a_cancelled_caller_leaves_the_transaction_to_end_on_the_thread(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, store, database = opened
    inside, release = threading.Event(), threading.Event()
    transaction = asyncio.create_task(database.run(_held(inside, release)))
    assert await asyncio.to_thread(inside.wait, 10)
    transaction.cancel()
    with pytest.raises(asyncio.CancelledError):
        await transaction
    assert write_lock(path).locked()  # still running: it ends as it would have
    release.set()
    assert await _appends(store, "user_1") == 1
    assert not write_lock(path).locked()


async def test_a_read_takes_no_write_lock(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, store, database = opened
    inside, release = threading.Event(), threading.Event()
    read = asyncio.create_task(database.run(_held(inside, release), read_only=True))
    assert await asyncio.to_thread(inside.wait, 10)
    assert not write_lock(path).locked()
    assert await _appends(store, "user_1") == 1
    release.set()
    assert await read == 0


async def test_a_closed_database_refuses_transactions(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, _, database = opened
    await database.close()
    with pytest.raises(StoreUnavailable, match="is closed"):
        await database.run(lambda tx: tx.fetch("SELECT 1"), read_only=True)


def test_one_lock_per_file(tmp_path: Path) -> None:
    assert write_lock(tmp_path / "a.db") is write_lock(tmp_path / "." / "a.db")
    assert write_lock(tmp_path / "a.db") is not write_lock(tmp_path / "b.db")
