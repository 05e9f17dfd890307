"""PostgreSQL only: several processes on one database, notifications, start-up errors, recovery."""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid
from collections.abc import AsyncIterator, Sequence
from multiprocessing.synchronize import Barrier

import psycopg
import pytest

from clerkrelay.kinds import ListFilters
from service.storage import (
    PASS_RUNNING,
    EntityQuery,
    KindCheckpoint,
    PassCheckpoint,
    StoredEvent,
    StoreError,
    StoreUnavailable,
    open_store,
)
from service.storage.postgres import PostgresStore
from service.storage.postgres.queries import ENTITIES_BY_IDS, ENTITIES_BY_KEYS
from service.storage.postgres.schema import MIGRATIONS, SCHEMA_VERSION
from tests.contract.conftest import (
    POSTGRES_URL,
    end_pass_lock_session,
    fresh_schema,
    require_postgres,
)
from tests.history import event

pytestmark = pytest.mark.postgres

PER_PROCESS = 400
WAVE = 10  # concurrent callers per wave: many transactions per process, interleaved


@pytest.fixture
async def url() -> AsyncIterator[str]:
    """A URL whose connections use a fresh schema, dropped after the test."""
    with fresh_schema() as schema_url:
        yield schema_url


@pytest.fixture
async def opened() -> AsyncIterator[list[PostgresStore]]:
    """Stores to close after the test (before its schema is dropped)."""
    stores: list[PostgresStore] = []
    yield stores
    for store in stores:
        await store.close()


async def open_tracked(url: str, opened: list[PostgresStore]) -> PostgresStore:
    store = await PostgresStore.open(url)
    opened.append(store)
    return store


def append_from_process(url: str, name: str, count: int, start: Barrier) -> None:
    """Runs in a separate OS process: appends `count` events in waves of concurrent callers."""
    asyncio.run(append_many(url, name, count, start))


async def append_many(url: str, name: str, count: int, start: Barrier) -> None:
    store = await PostgresStore.open(url)
    try:
        await asyncio.to_thread(start.wait, 60)
        for first in range(0, count, WAVE):
            await asyncio.gather(
                *(
                    store.append(
                        event("user.created", f"user_{name}_{i}", webhook_id=f"{name}_{i}")
                    )
                    for i in range(first, min(first + WAVE, count))
                )
            )
    finally:
        await store.close()


async def test_two_processes_append_while_a_reader_tails(
    url: str, opened: list[PostgresStore]
) -> None:
    reader = await open_tracked(url, opened)
    heard: list[int] = []

    def listener(events: Sequence[StoredEvent]) -> None:
        heard.extend(e.sequence for e in events)

    reader.add_listener(listener)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(3)
    processes = [
        context.Process(target=append_from_process, args=(url, name, PER_PROCESS, start))
        for name in ("a", "b")
    ]
    for process in processes:
        process.start()
    total = 2 * PER_PROCESS
    tailed: list[StoredEvent] = []
    try:
        await asyncio.to_thread(start.wait, 60)
        last = 0
        async with asyncio.timeout(90):
            while last < total:
                page = await reader.read(last, 7)
                if not page.events and any(p.exitcode not in (None, 0) for p in processes):
                    pytest.fail("an appending process failed")
                sequences = [e.sequence for e in page.events]
                # The log has no gaps, so a page that skipped a sequence would
                # mean it became visible after a higher one.
                assert sequences == list(range(last + 1, last + 1 + len(sequences)))
                tailed.extend(page.events)
                last = page.last_examined
            for process in processes:
                await asyncio.to_thread(process.join, 60)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
    assert [process.exitcode for process in processes] == [0, 0]
    assert [e.sequence for e in tailed] == list(range(1, total + 1))
    ids = [e.event().id for e in tailed]
    assert sorted(ids) == sorted(f"{name}_{i}" for name in "ab" for i in range(PER_PROCESS))
    # Each process's own callers got their events in order, and the two overlapped.
    for name in "ab":
        mine = [int(i.split("_")[1]) for i in ids if i.startswith(name)]
        assert [m // WAVE for m in mine] == sorted(m // WAVE for m in mine)
    switches = sum(1 for x, y in zip(ids, ids[1:], strict=False) if x[0] != y[0])
    assert switches >= 2
    assert await reader.head() == total
    # Every event came to this store's listener from the other processes, once, in order.
    await asyncio.wait_for(reader.wait_for(total), 30)
    assert heard == list(range(1, total + 1))


async def test_listeners_hear_other_stores_once_and_in_order(
    url: str, opened: list[PostgresStore]
) -> None:
    first = await open_tracked(url, opened)
    second = await open_tracked(url, opened)
    heard_first: list[int] = []
    heard_second: list[int] = []
    first.add_listener(lambda events: heard_first.extend(e.sequence for e in events))
    second.add_listener(lambda events: heard_second.extend(e.sequence for e in events))
    await first.append(event("organization.created", "org_x", webhook_id="x_0"))
    await asyncio.wait_for(second.wait_for(1), 10)
    assert heard_second == [1]
    # Both race for the append lock in every round: the loser commits right after
    # an event its own listener may not have reported yet, and must report that
    # one first.
    for i in range(60):
        await asyncio.gather(
            first.append(event("role.created", f"role_a{i}", webhook_id=f"role_a{i}")),
            second.append(event("role.created", f"role_b{i}", webhook_id=f"role_b{i}")),
        )
    await asyncio.wait_for(asyncio.gather(first.wait_for(121), second.wait_for(121)), 10)
    assert heard_first == heard_second == list(range(1, 122))
    assert await first.head() == await second.head() == 121


async def test_own_commit_after_unheard_events_reports_those_first(
    url: str, opened: list[PostgresStore]
) -> None:
    name = f"relay_unheard_{uuid.uuid4().hex[:8]}"
    first = await open_tracked(f"{url}&application_name={name}", opened)
    second = await open_tracked(url, opened)
    heard: list[int] = []
    first.add_listener(lambda events: heard.extend(e.sequence for e in events))
    await first.append(event("user.created", "user_u1", webhook_id="u_1"))
    # Cut off the first store's listener (its last statement is its LISTEN): it
    # reconnects after a pause, so it does not hear the second store's commit.
    assert await terminate(name, "LISTEN %") == 1
    await second.append(event("user.created", "user_u2", webhook_id="u_2"))
    assert (await first.append(event("user.created", "user_u3", webhook_id="u_3"))).sequence == 3
    await asyncio.wait_for(first.wait_for(3), 15)
    assert heard == [1, 2, 3]


async def terminate(application_name: str, query_like: str = "%") -> int:
    """Terminates the server backends of one store's connections; returns how many."""
    async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s AND query LIKE %s",
            (application_name, query_like),
        )
        row = await cursor.fetchone()
    return 0 if row is None else int(row[0])


async def test_unreachable_server_is_a_one_line_store_error() -> None:
    with pytest.raises(StoreError) as error:
        await open_store("postgresql://postgres@127.0.0.1:1/test?connect_timeout=3")
    message = str(error.value)
    assert message.startswith("cannot connect to PostgreSQL at 127.0.0.1:1/test: ")
    assert "Connection refused" in message
    assert "\n" not in message


async def test_newer_schema_is_a_store_error(url: str) -> None:
    store = await PostgresStore.open(url)
    await store.close()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("UPDATE relay_schema SET version = version + 1")
    with pytest.raises(StoreError) as error:
        await PostgresStore.open(url)
    assert f"schema version {SCHEMA_VERSION + 1}, newer than this clerk-relay" in str(error.value)
    assert "upgrade clerk-relay" in str(error.value)


async def test_missing_schema_is_a_store_error() -> None:
    require_postgres()
    separator = "&" if "?" in POSTGRES_URL else "?"
    missing = f"{POSTGRES_URL}{separator}options=-csearch_path%3Drelay_no_such_schema"
    with pytest.raises(StoreError, match="search_path names no existing schema"):
        await PostgresStore.open(missing)


async def test_processes_starting_together_migrate_once(
    url: str, opened: list[PostgresStore]
) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(url) for _ in range(4)))
    opened.extend(stores)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        rows = await (await conn.execute("SELECT version FROM relay_schema")).fetchall()
    assert rows == [(SCHEMA_VERSION,)]
    result = await stores[0].append(event("user.created", "user_m"))
    assert result.sequence == 1


async def test_recovers_when_its_connections_are_terminated(
    url: str, opened: list[PostgresStore]
) -> None:
    name = f"relay_recovery_{uuid.uuid4().hex[:8]}"
    store = await open_tracked(f"{url}&application_name={name}", opened)
    other = await open_tracked(url, opened)
    assert (await store.append(event("user.created", "user_1", webhook_id="r_1"))).sequence == 1
    # The writer, the listener and the pooled reader(s): like a server restart.
    assert await terminate(name) >= 3
    second = event("user.created", "user_2", webhook_id="r_2")
    try:
        result = await store.append(second)
    except StoreUnavailable:  # allowed once: the writer finds out its connection is gone
        result = await store.append(second)
    assert result.sequence == 2
    assert [e.sequence for e in (await store.read(0, 10)).events] == [1, 2]
    await store.ping()
    # The listener reconnected too: it hears another store's commit.
    await other.append(event("user.created", "user_3", webhook_id="r_3"))
    await asyncio.wait_for(store.wait_for(3), 15)
    assert (await store.append(event("user.created", "user_4"))).sequence == 4


async def test_append_that_cannot_commit_in_time_is_unavailable_then_recovers(
    url: str, opened: list[PostgresStore]
) -> None:
    store = await PostgresStore.open(url, operation_timeout_s=0.5)
    opened.append(store)
    async with await psycopg.AsyncConnection.connect(url) as blocker:
        # Another process holding the append lock for longer than the limit.
        await blocker.execute("SELECT value FROM relay_meta WHERE key = 'head' FOR UPDATE")
        with pytest.raises(StoreUnavailable, match="did not commit within 0.5 s"):
            await store.append(event("user.created", "user_t", webhook_id="t_1"))
        await blocker.rollback()
    result = await store.append(event("user.created", "user_t", webhook_id="t_1"))
    assert (result.sequence, result.duplicate) == (1, False)
    assert [e.sequence for e in (await store.read(0, 10)).events] == [1]


async def test_ping_fails_after_a_failed_append_until_a_probe_write_commits(
    url: str, opened: list[PostgresStore]
) -> None:
    store = await PostgresStore.open(url, operation_timeout_s=0.5)
    opened.append(store)
    await store.ping()
    async with await psycopg.AsyncConnection.connect(url) as blocker:
        await blocker.execute("SELECT value FROM relay_meta WHERE key = 'head' FOR UPDATE")
        with pytest.raises(StoreUnavailable, match="did not commit within 0.5 s"):
            await store.append(event("user.created", "user_p", webhook_id="p_1"))
        # Reads still work, but the store cannot append: the probe waits for the lock too.
        with pytest.raises(StoreUnavailable) as not_ready:
            await store.ping()
        assert str(not_ready.value) == (
            "the store cannot append: PostgreSQL did not commit within 0.5 s"
        )
        await blocker.rollback()
    await store.ping()  # the probe commits: ready again without any append
    result = await store.append(event("user.created", "user_p", webhook_id="p_1"))
    assert (result.sequence, result.duplicate) == (1, False)


async def test_upgrading_from_the_first_schema_keeps_the_projection(
    url: str, opened: list[PostgresStore]
) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(MIGRATIONS[0])
        await conn.execute(
            "CREATE TABLE relay_schema (singleton boolean PRIMARY KEY DEFAULT true"
            " CHECK (singleton), version integer NOT NULL)"
        )
        await conn.execute("INSERT INTO relay_schema (version) VALUES (1)")
        row = "(%s, %s, '\\x0a01', false, %s, 1, 1, %s, 1, 1, %s, %s, %s, '', '')"
        await conn.execute(
            f"INSERT INTO entities VALUES {row}, {row}",
            ("user", "user_1", 1, 1, 1, "", "")
            + ("organization_membership", "orgmem_1", 2, 2, 2, "org_1", "user_1"),
        )
    store = await open_tracked(url, opened)
    by_org = await store.list_entities(
        EntityQuery(kind="organization_membership", filters=ListFilters(organization_id="org_1"))
    )
    assert [(r.id, r.event_sequence, r.state) for r in by_org.records] == [
        ("orgmem_1", 2, b"\x0a\x01")
    ]
    user, _ = await store.get_entity("user", "user_1")
    assert user is not None and (user.id, user.event_sequence) == ("user_1", 1)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        rows = await (
            await conn.execute(
                "SELECT id, organization_id, user_id, payer_id FROM entities ORDER BY id"
            )
        ).fetchall()
        version = await (await conn.execute("SELECT version FROM relay_schema")).fetchall()
    assert rows == [("orgmem_1", "org_1", "user_1", None), ("user_1", None, None, None)]
    assert version == [(SCHEMA_VERSION,)]


async def test_the_pass_lock_is_one_per_schema_across_stores(
    url: str, opened: list[PostgresStore]
) -> None:
    first, second = await open_tracked(url, opened), await open_tracked(url, opened)
    held = await first.lock_passes()
    assert held is not None
    assert await second.lock_passes() is None
    with fresh_schema() as other_url:
        other = await PostgresStore.open(other_url)
        try:
            elsewhere = await other.lock_passes()  # another relay's schema: its own lock
            assert elsewhere is not None
            await elsewhere.release()
        finally:
            await other.close()
    await held.release()
    taken = await second.lock_passes()
    assert taken is not None
    await taken.release()


async def test_a_pass_lock_whose_session_ended_is_lost_and_free(
    url: str, opened: list[PostgresStore]
) -> None:
    first, second = await open_tracked(url, opened), await open_tracked(url, opened)
    held = await first.lock_passes()
    assert held is not None
    await held.check()  # held: it returns
    await end_pass_lock_session()
    taken = await second.lock_passes()
    assert taken is not None  # another process may now run a pass
    with pytest.raises(StoreUnavailable, match="lost the reconciliation pass lock"):
        await held.check()
    await held.release()
    with pytest.raises(StoreUnavailable, match="was released"):
        await held.check()
    await taken.check()
    await taken.release()


async def test_upgrading_from_schema_two_adds_the_pass_tables(
    url: str, opened: list[PostgresStore]
) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for migration in MIGRATIONS[:2]:
            await conn.execute(migration)
        await conn.execute(
            "CREATE TABLE relay_schema (singleton boolean PRIMARY KEY DEFAULT true"
            " CHECK (singleton), version integer NOT NULL)"
        )
        await conn.execute("INSERT INTO relay_schema (version) VALUES (2)")
        await conn.execute(
            "INSERT INTO events VALUES (1, 'user.created', '{user_1}', '', 1, '\\x0801')"
        )
        await conn.execute("UPDATE relay_meta SET value = 1 WHERE key = 'head'")
    store = await open_tracked(url, opened)
    assert await store.head() == 1
    assert await store.unfinished_pass() is None
    saved = PassCheckpoint("p1", "rpc", False, 0.1, PASS_RUNNING, 5, 5, (KindCheckpoint("user"),))
    await store.save_pass(saved)
    assert await store.unfinished_pass() == saved
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        version = await (await conn.execute("SELECT version FROM relay_schema")).fetchall()
    assert version == [(SCHEMA_VERSION,)]


def _numbered(statement: str) -> str:
    """A psycopg statement with its `%s` placeholders numbered for `PREPARE` ($1, $2, …)."""
    parts = statement.split("%s")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))


@pytest.mark.parametrize(
    ("statement", "arguments"),
    [
        (ENTITIES_BY_KEYS, "ARRAY['user'], ARRAY['user_1']"),
        (ENTITIES_BY_IDS, "ARRAY['user_1'], 'user'"),
    ],
    ids=["by_keys", "by_ids"],
)
async def test_entity_lookups_read_the_primary_key_under_a_plan_made_on_a_small_table(
    url: str, opened: list[PostgresStore], statement: str, arguments: str
) -> None:
    # The plan psycopg's prepared statement may keep for the connection's life.
    store = await open_tracked(url, opened)
    for i in range(3):
        await store.append(event("user.created", f"user_{i}", webhook_id=f"msg_{i}"))
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("SET plan_cache_mode = force_generic_plan")
        pg.execute(f"PREPARE lookup AS {_numbered(statement)}")
        explained = pg.execute(f"EXPLAIN (COSTS OFF) EXECUTE lookup({arguments})").fetchall()
    plan = "\n".join(line for (line,) in explained)
    assert "Seq Scan" not in plan
    assert "Index Scan using entities_pkey on entities" in plan
    assert "AND (id = wanted.id))" in plan, plan  # both key columns, one pair at a time
