"""The file's write lock: the store's appends and the consumer groups' transactions take turns.

Both hold `write_lock` for a whole write transaction, so the one that waits
wakes when the other ends instead of sleeping in SQLite's busy handler; a
transaction that fails in any way must let the other writer in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.storage import StoreUnavailable
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


async def _appends(store: SqliteStore, user_id: str) -> int:
    """Appends an event, failing the test if it does not commit soon."""
    result = await asyncio.wait_for(store.append(event("user.created", user_id)), 10)
    return result.sequence


async def test_an_append_waits_for_a_group_transaction_then_commits(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, store, database = opened
    async with database.transaction() as tx:
        await tx.fetch("SELECT count(*) FROM consumer_groups")  # its BEGIN ran
        assert write_lock(path).locked()
        append = asyncio.create_task(_appends(store, "user_1"))
        await asyncio.sleep(0.2)
        assert not append.done()
    assert await append == 1
    assert not write_lock(path).locked()


async def test_a_group_transaction_that_raises_lets_appends_in(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, store, database = opened
    with pytest.raises(RuntimeError, match="the round failed"):
        async with database.transaction(durable=False) as tx:
            await tx.fetch("SELECT count(*) FROM consumer_groups")
            raise RuntimeError("the round failed")
    assert not write_lock(path).locked()
    assert await _appends(store, "user_1") == 1


async def test_a_statement_failing_at_the_commit_lets_appends_in(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, store, database = opened
    with pytest.raises(StoreUnavailable, match="no such table: not_a_table"):
        async with database.transaction() as tx:  # the statement runs in the commit's hop
            await tx.executemany("DELETE FROM not_a_table WHERE x = ?", [(1,)])
    assert not write_lock(path).locked()
    assert await _appends(store, "user_1") == 1
    async with database.transaction(read_only=True) as tx:  # and the connection is usable
        assert await tx.fetch("SELECT count(*) FROM consumer_groups") == [(0,)]


async def test_a_read_takes_no_write_lock(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, store, database = opened
    async with database.transaction(read_only=True) as tx:
        await tx.fetch("SELECT count(*) FROM consumer_groups")
        assert not write_lock(path).locked()
        assert await _appends(store, "user_1") == 1


def test_one_lock_per_file(tmp_path: Path) -> None:
    assert write_lock(tmp_path / "a.db") is write_lock(tmp_path / "." / "a.db")
    assert write_lock(tmp_path / "a.db") is not write_lock(tmp_path / "b.db")
