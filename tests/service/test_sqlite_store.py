"""SQLite-specific behaviour: start-up errors and durability settings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from service.sqlite_schema import SCHEMA_VERSION
from service.sqlite_store import SqliteStore
from service.store import StoreError
from service.stores import open_store
from tests.history import event


async def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(StoreError, match="is not a SQLite database or is corrupt"):
        await SqliteStore.open(path)


async def test_newer_schema_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this clerk-relay understands"):
        await SqliteStore.open(path)


async def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        await open_store(f"sqlite:///{tmp_path / 'nope' / 'relay.db'}")


async def test_unsupported_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="unsupported database URL"):
        await open_store("mysql://localhost/relay")


async def test_wal_mode_is_persisted(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = await SqliteStore.open(path)
    await store.append(event("user.created", "user_1"))
    await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)


async def test_reopening_migrates_nothing_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    first = await SqliteStore.open(path)
    await first.append(event("user.created", "user_1"))
    await first.close()
    second = await SqliteStore.open(path)
    assert await second.head() == 1
    await second.close()
