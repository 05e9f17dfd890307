"""The consumer groups' transactions on SQLite, and the file's write lock.

The store's appends and the groups' transactions both hold `write_lock` for
a whole write transaction, so the one that waits wakes when the other ends
instead of sleeping in SQLite's busy handler; a transaction that fails in
any way must let the other writer in. A group's transaction runs whole on
its thread, so it ends there even when its caller is cancelled; a brief one
runs on the event loop when nothing holds the lock, and takes the thread
when something does.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from service.storage import ConsumerState, Fill, StoreUnavailable
from service.storage.consumer_records import Tx
from service.storage.consumer_state import BRIEF_ROWS
from service.storage.sqlite import SqliteStore
from service.storage.sqlite.connections import write_lock
from service.storage.sqlite.consumer_db import SqliteConsumerDatabase
from tests.history import event

_T = TypeVar("_T")


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


async def _fails_after_an_insert(tx: Tx) -> None:
    """Adds a group, then fails (no such table)."""
    await tx.execute(_INSERT_GROUP)
    await tx.executemany("DELETE FROM not_a_table WHERE x = ?", [(1,)])


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
    with pytest.raises(StoreUnavailable, match="no such table: not_a_table"):
        await database.run(_fails_after_an_insert)
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


async def _inserts_where(tx: Tx) -> int:
    """Adds a group; the id of the thread that ran it."""
    await tx.execute(_INSERT_GROUP)
    return threading.get_ident()


async def test_a_brief_write_runs_on_the_loop_when_the_lock_is_free(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, _, database = opened
    assert await database.run(_inserts_where, durable=False, brief=True) == threading.get_ident()
    assert not write_lock(path).locked()
    assert await _groups(database) == 1


async def test_a_brief_write_takes_the_thread_while_the_lock_is_held(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, _, database = opened
    write_lock(path).acquire()  # as an append's commit holds it
    try:
        brief = asyncio.create_task(database.run(_inserts_where, durable=False, brief=True))
        await asyncio.sleep(0.2)  # the loop is not blocked, and the write waits
        assert not brief.done()
    finally:
        write_lock(path).release()
    assert await brief != threading.get_ident()
    assert await _groups(database) == 1


async def test_a_brief_write_takes_the_thread_while_another_process_writes(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, _, database = opened
    other = sqlite3.connect(path, isolation_level=None)  # not this process's write lock
    try:
        other.execute("BEGIN IMMEDIATE")
        brief = asyncio.create_task(database.run(_inserts_where, durable=False, brief=True))
        started = time.monotonic()
        await asyncio.sleep(0.2)
        assert time.monotonic() - started < 5  # the loop did not wait in the busy handler
        assert not brief.done()
        other.execute("COMMIT")
    finally:
        other.close()
    assert await brief != threading.get_ident()  # waited in SQLite's busy handler there
    assert await _groups(database) == 1


async def test_a_durable_write_takes_the_thread_even_when_brief(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    _, _, database = opened
    assert await database.run(_inserts_where, brief=True) != threading.get_ident()


async def test_a_brief_write_that_fails_rolls_back_and_lets_appends_in(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, store, database = opened
    with pytest.raises(StoreUnavailable, match="no such table: not_a_table"):
        await database.run(_fails_after_an_insert, durable=False, brief=True)
    assert not write_lock(path).locked()
    assert await _appends(store, "user_1") == 1
    assert await _groups(database) == 0
    assert await database.run(_inserts_where, durable=False, brief=True) == threading.get_ident()


async def test_a_closed_database_refuses_brief_writes(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
) -> None:
    path, _, database = opened
    await database.close()
    with pytest.raises(StoreUnavailable, match="is closed"):
        await database.run(_inserts_where, durable=False, brief=True)
    assert not write_lock(path).locked()


class _Recording(SqliteConsumerDatabase):
    """The real database, noting whether each transaction was asked to be brief."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.briefs: list[bool] = []

    async def run(
        self,
        work: Callable[[Tx], Coroutine[Any, Any, _T]],
        lock_group: str | None = None,
        read_only: bool = False,
        durable: bool = True,
        brief: bool = False,
    ) -> _T:
        self.briefs.append(brief)
        return await super().run(work, lock_group, read_only, durable, brief)


@pytest.mark.parametrize(
    ("events", "room", "brief"),
    [(1, 100, True), (BRIEF_ROWS - 100, 100, True), (BRIEF_ROWS - 99, 100, False), (0, 600, False)],
)
async def test_a_round_is_brief_when_it_may_touch_few_rows(
    opened: tuple[Path, SqliteStore, SqliteConsumerDatabase],
    events: int,
    room: int,
    brief: bool,
) -> None:
    path, _, _ = opened
    recording = _Recording(path)
    state = ConsumerState(recording)
    try:
        await recording.run(lambda tx: tx.execute(_INSERT_GROUP))
        recording.briefs.clear()
        fill = Fill(0, events, [(sequence, None) for sequence in range(1, events + 1)])
        await state.settle_and_claim(
            "emails",
            [],
            [("m1", room)],
            per_entity=False,
            ack_wait_ns=1_000_000_000,
            max_deliveries=5,
            fill=fill if events else None,
        )
        assert recording.briefs == [brief]
    finally:
        await state.close()


def test_one_lock_per_file(tmp_path: Path) -> None:
    assert write_lock(tmp_path / "a.db") is write_lock(tmp_path / "." / "a.db")
    assert write_lock(tmp_path / "a.db") is not write_lock(tmp_path / "b.db")
