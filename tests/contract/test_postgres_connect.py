"""Opening a PostgreSQL store: a missing database is created; a refused login is not retried.

These make a database or a role of their own on the test server and remove it
afterwards, whatever happens.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from service.storage import StoreError, StoreUnavailable
from service.storage.postgres import PostgresStore
from tests.contract.conftest import POSTGRES_URL, require_postgres
from tests.history import event


def _admin(statement: sql.Composed) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(statement)


def _database_exists(name: str) -> bool:
    with psycopg.connect(POSTGRES_URL) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    return row is not None and row[0] == 1


@pytest.fixture
def database_name() -> Iterator[str]:
    """A database name nobody uses (`Relay "Test"` style: quotes and capitals); dropped after."""
    require_postgres()
    name = f'relay_test_{uuid.uuid4().hex[:8]}_"Db"'
    yield name
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def role_without_createdb() -> Iterator[str]:
    """A role that may log in but not create databases; dropped after."""
    require_postgres()
    role = f"relay_test_{uuid.uuid4().hex[:8]}"
    _admin(sql.SQL("CREATE ROLE {} LOGIN NOCREATEDB").format(sql.Identifier(role)))
    yield role
    _admin(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


async def test_a_missing_database_is_created(database_name: str) -> None:
    url = make_conninfo(POSTGRES_URL, dbname=database_name)
    assert not _database_exists(database_name)
    store = await PostgresStore.open(url)
    try:
        assert (await store.append(event("user.created", "user_1"))).sequence == 1
    finally:
        await store.close()
    assert _database_exists(database_name)
    reopened = await PostgresStore.open(url)
    try:
        assert await reopened.head() == 1
    finally:
        await reopened.close()


async def test_processes_starting_together_create_it_once(database_name: str) -> None:
    url = make_conninfo(POSTGRES_URL, dbname=database_name)
    stores = await asyncio.gather(*(PostgresStore.open(url) for _ in range(3)))
    try:
        results = [await s.append(event("user.created", "user_1", webhook_id="w1")) for s in stores]
        assert [(r.sequence, r.duplicate) for r in results] == [(1, False), (1, True), (1, True)]
    finally:
        for store in stores:
            await store.close()


async def test_a_role_that_may_not_create_it_is_told_how(
    database_name: str, role_without_createdb: str
) -> None:
    url = make_conninfo(POSTGRES_URL, dbname=database_name, user=role_without_createdb)
    with pytest.raises(StoreError) as raised:
        await PostgresStore.open(url)
    assert not isinstance(raised.value, StoreUnavailable)  # not retried: config must change
    message = str(raised.value)
    assert message.startswith(f"PostgreSQL database {database_name!r} does not exist at ")
    assert "this role may not create it (permission denied to create database)" in message
    assert f"create it (createdb {database_name}) or grant CREATEDB" in message
    assert "\n" not in message
    assert not _database_exists(database_name)


async def test_an_unknown_role_is_not_worth_retrying() -> None:
    require_postgres()
    role = f"relay_no_such_role_{uuid.uuid4().hex[:8]}"
    with pytest.raises(StoreError) as raised:
        await PostgresStore.open(make_conninfo(POSTGRES_URL, user=role))
    assert not isinstance(raised.value, StoreUnavailable)
    assert f'role "{role}" does not exist' in str(raised.value)


async def test_an_unreachable_server_is_still_worth_retrying() -> None:
    with pytest.raises(StoreUnavailable, match="Connection refused"):
        await PostgresStore.open("postgresql://postgres@127.0.0.1:1/test?connect_timeout=3")
