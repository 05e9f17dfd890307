"""Consumer-group migrations, each on a database the schema before it wrote.

The tables arrive (SQLite 6, PostgreSQL 5); the indexes by due time and by
member go (SQLite 7, PostgreSQL 6), with the pending events kept; the
pending events get their entities' turns (SQLite 9, PostgreSQL 8).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from service.storage import (
    GroupRow,
    SettleKind,
    Settlement,
    open_consumer_state,
    open_store,
)
from service.storage.consumer_sql import TURN_HANDED, TURN_NEXT
from service.storage.postgres import schema as postgres_schema
from service.storage.sqlite import schema as sqlite_schema
from tests.contract.conftest import fresh_schema
from tests.history import event

_SQLITE_TABLES = 6  # the migrations that add the consumer tables
_POSTGRES_TABLES = 5
_SQLITE_INDEXES_GO = 7  # the migrations that drop two pending indexes
_POSTGRES_INDEXES_GO = 6
_SQLITE_TURNS = 9  # the migrations that add the pending events' turns
_POSTGRES_TURNS = 8
_EVENT = event("user.created", "user_old", webhook_id="msg_old")
_EVENT.sequence = 1
_ROW = (1, "user.created", "user_old", "", 1_700_000_000_000_000_000, _EVENT.SerializeToString())


async def _group_sees_the_old_event(url: str) -> None:
    store = await open_store(url)
    state = open_consumer_state(url)
    try:
        assert await store.head() == 1
        await state.create_group(GroupRow("after-upgrade", b"s", time.time_ns(), 0))
        page = await store.read(0, 10)
        assert await state.fill("after-upgrade", 0, page.last_examined, [(1, "user_old")])
        claims, _ = await state.claim(
            "after-upgrade", [("m", 5)], per_entity=True, ack_wait_ns=10**9, max_deliveries=5
        )
        assert [(c.sequence, c.attempt, c.data) for c in claims] == [(1, 1, _ROW[5])]
    finally:
        await state.close()
        await store.close()


def _sqlite_at(path: Path, version: int) -> sqlite3.Connection:
    """A SQLite file at schema `version`, holding the old event; the open connection."""
    conn = sqlite3.connect(path)
    for migration in sqlite_schema.MIGRATIONS[:version]:
        for statement in migration.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", _ROW)
    conn.execute(f"PRAGMA user_version = {version}")
    return conn


async def test_sqlite_upgrade_adds_the_consumer_tables(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    with contextlib.closing(_sqlite_at(path, _SQLITE_TABLES - 1)) as conn:
        conn.commit()
    await _group_sees_the_old_event(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (sqlite_schema.SCHEMA_VERSION,)


_PENDING = (
    ("INSERT INTO consumer_groups VALUES ('old', {0}, 1, 1, 1, 0, 0)", (b"s",)),
    ("INSERT INTO consumer_pending VALUES ('old', 1, 'user_old', 'm_gone', 1, 1, '')", ()),
)
"""A group whose one event is in flight with a member that is gone (written before 7/6),
as statements with a `{0}` where each parameter's placeholder goes."""


async def _in_flight_event_survives(url: str) -> None:
    state = open_consumer_state(url)
    try:
        assert await state.pending_summary("old") == (1, 1)
        (stats,) = await state.stats(["old"])
        assert (stats.in_flight, stats.pending) == (1, 0)
        assert await state.release("old", "m_gone") == 1
        claims, _ = await state.claim(
            "old", [("m", 5)], per_entity=True, ack_wait_ns=10**9, max_deliveries=5
        )
        assert [(c.sequence, c.attempt, c.data) for c in claims] == [(1, 2, _ROW[5])]
    finally:
        await state.close()


async def test_sqlite_upgrade_drops_the_pending_indexes_and_keeps_the_events(
    tmp_path: Path,
) -> None:
    path = tmp_path / "relay.db"
    with contextlib.closing(_sqlite_at(path, _SQLITE_INDEXES_GO - 1)) as conn:
        for statement, params in _PENDING:
            conn.execute(statement.format("?"), params)
        conn.commit()
    await (await open_store(f"sqlite:///{path}")).close()
    await _in_flight_event_survives(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        indexes = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'consumer_pending' "
            "AND sql IS NOT NULL ORDER BY name"
        ).fetchall()
    assert indexes == [("consumer_pending_by_entity",), ("consumer_pending_turns",)]


async def _postgres_at(conn: psycopg.AsyncConnection[Any], version: int) -> None:
    """The connection's schema at `version`, holding the old event."""
    for migration in postgres_schema.MIGRATIONS[:version]:
        await conn.execute(migration)
    await conn.execute(
        "CREATE TABLE relay_schema (singleton boolean PRIMARY KEY DEFAULT true"
        " CHECK (singleton), version integer NOT NULL)"
    )
    await conn.execute("INSERT INTO relay_schema (version) VALUES (%s)", (version,))
    await conn.execute("INSERT INTO events VALUES (%s, %s, ARRAY[%s], %s, %s, %s)", _ROW)
    await conn.execute("UPDATE relay_meta SET value = 1 WHERE key = 'head'")


@pytest.mark.postgres
async def test_postgres_upgrade_adds_the_consumer_tables() -> None:
    previous = _POSTGRES_TABLES - 1
    with fresh_schema() as url:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await _postgres_at(conn, previous)
        await _group_sees_the_old_event(url)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            rows = await (await conn.execute("SELECT version FROM relay_schema")).fetchall()
        assert rows == [(postgres_schema.SCHEMA_VERSION,)]


@pytest.mark.postgres
async def test_postgres_upgrade_drops_the_pending_indexes_and_keeps_the_events() -> None:
    with fresh_schema() as url:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await _postgres_at(conn, _POSTGRES_INDEXES_GO - 1)
            for statement, params in _PENDING:
                await conn.execute(statement.format("%s"), params)
        await (await open_store(url)).close()
        await _in_flight_event_survives(url)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            rows = await (
                await conn.execute(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'consumer_pending' "
                    "AND schemaname = current_schema() ORDER BY indexname"
                )
            ).fetchall()
        assert rows == [
            ("consumer_pending_by_entity",),
            ("consumer_pending_pkey",),
            ("consumer_pending_turns",),
        ]


_EVENTS = ("user_a", "user_a", "user_a", "user_b", None)
"""The entity of each stored event, sequences 1 to 5."""
_WAITING = (
    ("INSERT INTO consumer_groups VALUES ('old', {0}, 1, 5, 1, 0, 0)", (b"s",)),
    ("INSERT INTO consumer_pending VALUES ('old', 1, 'user_a', 'm', 1, {0}, '')", (2**62,)),
    *(
        (f"INSERT INTO consumer_pending VALUES ('old', {sequence}, {{0}}, NULL, 0, 0, '')", (key,))
        for sequence, key in enumerate(_EVENTS, start=1)
        if sequence > 1
    ),
)
"""A per-entity group's pending events (written before SQLite 9 and PostgreSQL 8): `user_a`'s
first in flight with member `m`, its next two, `user_b`'s and one without an entity waiting."""


async def _turns_hold_back_what_waits(url: str) -> None:
    """Claims and acks through the upgraded store: each entity's events one at a time, in order."""
    state = open_consumer_state(url)

    async def claim() -> list[int]:
        claims, _ = await state.claim(
            "old", [("m2", 10)], per_entity=True, ack_wait_ns=10**12, max_deliveries=5
        )
        return [claim.sequence for claim in claims]

    try:
        assert await claim() == [4, 5]  # user_a's first is in flight: its next two wait
        ack = Settlement(SettleKind.ACK, "m", 1, 1)
        assert await state.settle("old", [ack], max_deliveries=5) == [True]
        assert await claim() == [2]
        assert await claim() == []
        ack = Settlement(SettleKind.ACK, "m2", 2, 1)
        assert await state.settle("old", [ack], max_deliveries=5) == [True]
        assert await claim() == [3]
    finally:
        await state.close()


_MIGRATED_TURNS = [(1, TURN_HANDED), (2, None), (3, None), (4, TURN_NEXT), (5, TURN_NEXT)]
"""(sequence, turn) of `_WAITING` once migrated: the event in flight handed, the earliest of
each entity (and the one without) next."""
_MORE_EVENTS = [(sequence, *_ROW[1:]) for sequence in range(2, len(_EVENTS) + 1)]
"""Events 2 to 5 of the log (the claims read their data)."""


async def test_sqlite_upgrade_gives_pending_events_their_turns(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    with contextlib.closing(_sqlite_at(path, _SQLITE_TURNS - 1)) as conn:
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", _MORE_EVENTS)
        for statement, params in _WAITING:
            conn.execute(statement.format("?"), params)
        conn.commit()
    await (await open_store(f"sqlite:///{path}")).close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        turns = conn.execute("SELECT sequence, turn FROM consumer_pending ORDER BY sequence")
        assert turns.fetchall() == _MIGRATED_TURNS
    await _turns_hold_back_what_waits(f"sqlite:///{path}")


@pytest.mark.postgres
async def test_postgres_upgrade_gives_pending_events_their_turns() -> None:
    with fresh_schema() as url:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await _postgres_at(conn, _POSTGRES_TURNS - 1)
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    "INSERT INTO events VALUES (%s, %s, ARRAY[%s], %s, %s, %s)", _MORE_EVENTS
                )
            await conn.execute("UPDATE relay_meta SET value = %s WHERE key = 'head'", (5,))
            for statement, params in _WAITING:
                await conn.execute(statement.format("%s"), params)
        await (await open_store(url)).close()
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            turns = await conn.execute(
                "SELECT sequence, turn FROM consumer_pending ORDER BY sequence"
            )
            assert await turns.fetchall() == _MIGRATED_TURNS
        await _turns_hold_back_what_waits(url)
