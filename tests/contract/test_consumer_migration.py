"""The consumer-group tables arrive by migration, on a database the previous schema wrote."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import psycopg
import pytest

from service.storage import GroupRow, open_consumer_state, open_store
from service.storage.postgres import schema as postgres_schema
from service.storage.sqlite import schema as sqlite_schema
from tests.contract.conftest import fresh_schema
from tests.history import event

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


async def test_sqlite_upgrade_from_the_previous_schema(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    previous = sqlite_schema.SCHEMA_VERSION - 1
    with sqlite3.connect(path) as conn:
        for migration in sqlite_schema.MIGRATIONS[:previous]:
            for statement in migration.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", _ROW)
        conn.execute(f"PRAGMA user_version = {previous}")
    await _group_sees_the_old_event(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (sqlite_schema.SCHEMA_VERSION,)


@pytest.mark.postgres
async def test_postgres_upgrade_from_the_previous_schema() -> None:
    previous = postgres_schema.SCHEMA_VERSION - 1
    with fresh_schema() as url:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            for migration in postgres_schema.MIGRATIONS[:previous]:
                await conn.execute(migration)
            await conn.execute(
                "CREATE TABLE relay_schema (singleton boolean PRIMARY KEY DEFAULT true"
                " CHECK (singleton), version integer NOT NULL)"
            )
            await conn.execute("INSERT INTO relay_schema (version) VALUES (%s)", (previous,))
            await conn.execute("INSERT INTO events VALUES (%s, %s, ARRAY[%s], %s, %s, %s)", _ROW)
            await conn.execute("UPDATE relay_meta SET value = 1 WHERE key = 'head'")
        await _group_sees_the_old_event(url)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            rows = await (await conn.execute("SELECT version FROM relay_schema")).fetchall()
        assert rows == [(postgres_schema.SCHEMA_VERSION,)]
