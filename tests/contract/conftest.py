"""The store backends the contract suite runs against: a SQLite file and the real PostgreSQL.

PostgreSQL tests each get a schema of their own in the `test` database. Outside
CI (when `CI` is unset) they skip, saying why, when no server answers; in CI a
missing server is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from service.storage import Retention, Store, open_store
from service.storage.postgres.passes import PASS_LOCK_KEY

POSTGRES_URL = os.environ.get(
    "CLERK_RELAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

StoreFactory = Callable[..., Awaitable[Store]]


def postgres_available() -> str | None:
    """None when the test server answers, else the reason it does not."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return str(error).strip()


def require_postgres() -> None:
    """Skips (outside CI) or fails (in CI) when PostgreSQL does not answer."""
    reason = postgres_available()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI but does not answer at {POSTGRES_URL}: {reason}")
    pytest.skip(f"no PostgreSQL server answers at {POSTGRES_URL} ({reason}); CI runs these tests")


def postgres_schema_url() -> tuple[str, str]:
    """A fresh schema in the test database, and a URL whose connections use it."""
    schema = f"relay_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    return schema, f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


def drop_schema(schema: str) -> None:
    """Removes a schema made by `postgres_schema_url`."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@contextlib.contextmanager
def fresh_schema() -> Iterator[str]:
    """A URL on a fresh schema (after `require_postgres`), the schema dropped on the way out."""
    require_postgres()
    schema, url = postgres_schema_url()
    try:
        yield url
    finally:
        drop_schema(schema)


def query_rows(url: str, statement: str) -> list[tuple[Any, ...]]:
    """Runs a statement on the database at `url` past the store, committed; its rows."""
    if url.startswith("sqlite:///"):
        opened = sqlite3.connect(url.removeprefix("sqlite:///"))
        with contextlib.closing(opened) as conn, conn:
            return conn.execute(statement).fetchall()
    with psycopg.connect(url, autocommit=True) as pg:
        found = pg.execute(statement)
        return found.fetchall() if found.description is not None else []


_PASS_LOCKS = "FROM pg_locks WHERE locktype = 'advisory' AND classid = %s::oid AND granted"


async def end_pass_lock_session() -> None:
    """Ends the one session holding a reconciliation pass lock, as a server restart would.

    Returns once the server has let the lock go (the backend exits after
    `pg_terminate_backend` answers).
    """
    async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as admin:
        ended = await admin.execute(
            f"SELECT pg_terminate_backend(pid) {_PASS_LOCKS}", (PASS_LOCK_KEY,)
        )
        assert await ended.fetchall() == [(True,)]
        for _ in range(100):
            if not await (
                await admin.execute(f"SELECT 1 {_PASS_LOCKS}", (PASS_LOCK_KEY,))
            ).fetchall():
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the session holding the pass lock did not end")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test."""
    name: str = request.param
    if name == "postgres":
        require_postgres()
    return name


@pytest.fixture
async def store_factory(backend: str, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """Opens stores of the backend under test; closes them (and drops schemas) after.

    `make()` opens the test's database (the same one each call, as a restarted
    relay would); `make(fresh=True)` opens a new, empty database.
    """
    opened: list[Store] = []
    schemas: list[str] = []
    files = itertools.count()

    def new_url() -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'relay-{next(files)}.db'}"
        schema, url = postgres_schema_url()
        schemas.append(schema)
        return url

    default_url = new_url()

    async def make(retention: Retention | None = None, fresh: bool = False) -> Store:
        store = await open_store(new_url() if fresh else default_url, retention)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()
    for schema in schemas:
        drop_schema(schema)


@pytest.fixture
async def store(store_factory: StoreFactory) -> Store:
    """A fresh, empty store of the backend under test."""
    return await store_factory()
