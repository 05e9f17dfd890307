"""Upgrading a database written by the previous schema gives every stored event a history.

SQLite's schema 5 adds the `event_subjects` table and fills it from the events
already stored; PostgreSQL's schema 4 adds a GIN index on `subject_ids`. Each
test writes a database with the migrations before those, appends through the
old layout, then opens it with the current store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from service.storage import Retention
from service.storage.postgres import schema as pg_schema
from service.storage.postgres.store import PostgresStore
from service.storage.sqlite import schema as sqlite_schema
from service.storage.sqlite.store import SqliteStore
from tests.contract.conftest import fresh_schema
from tests.history import event

# (sequence, type, subject_ids) of the events the old database holds.
_OLD_EVENTS = [
    (1, "user.created", ("user_1",)),
    (2, "session.created", ("sess_1", "user_1")),
    (3, "user.created", ("user_2",)),
    (4, "user.updated", ("user_1",)),
    (5, "email.created", ()),
]


def _serialized(sequence: int, event_type: str, subjects: tuple[str, ...]) -> bytes:
    written = event(event_type, subjects[0] if subjects else "ema_1", webhook_id=f"msg_{sequence}")
    written.sequence = sequence
    return written.SerializeToString()


def _sqlite_version_three(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        for migration in sqlite_schema.MIGRATIONS[:3]:
            for statement in migration.split(";"):
                if statement.strip():
                    conn.execute(statement)
        for sequence, event_type, subjects in _OLD_EVENTS:
            conn.execute("INSERT INTO deliveries VALUES (?, ?)", (f"msg_{sequence}", sequence))
            conn.execute(
                "INSERT INTO events VALUES (?, ?, ?, '', ?, ?)",
                (
                    sequence,
                    event_type,
                    " ".join(subjects),
                    sequence,
                    _serialized(sequence, event_type, subjects),
                ),
            )
        conn.execute("PRAGMA user_version = 3")


async def test_sqlite_upgrade_fills_the_history_of_stored_events(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    _sqlite_version_three(path)
    store = await SqliteStore.open(path)
    try:
        assert [e.sequence for e in (await store.entity_history("user_1", (), 0, 10)).events] == [
            1,
            2,
            4,
        ]
        assert [e.sequence for e in (await store.entity_history("sess_1", (), 0, 10)).events] == [2]
        await store.append(event("user.deleted", "user_1", webhook_id="msg_6"))
        page = await store.entity_history("user_1", ("user",), 0, 10)
        assert [(e.sequence, e.type) for e in page.events] == [
            (1, "user.created"),
            (4, "user.updated"),
            (6, "user.deleted"),
        ]
        found = await store.get_event(webhook_id="msg_3")
        assert found is not None and found.sequence == 3
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (sqlite_schema.SCHEMA_VERSION,)
        rows = conn.execute("SELECT subject_id, sequence FROM event_subjects ORDER BY 2, 1")
        assert rows.fetchall() == [
            ("user_1", 1),
            ("sess_1", 2),
            ("user_1", 2),
            ("user_2", 3),
            ("user_1", 4),
            ("user_1", 6),
        ]


async def test_sqlite_trim_removes_the_subject_rows(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = await SqliteStore.open(path, Retention(max_count=1))
    try:
        await store.append(event("user.created", "user_1"))
        await store.append(event("session.created", "sess_1", user_id="user_1"))
        await store.append(event("user.updated", "user_1"))
        assert await store.trim() == 2
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT subject_id, sequence FROM event_subjects").fetchall() == [
            ("user_1", 3)
        ]


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A URL on a fresh PostgreSQL schema, dropped after the test."""
    with fresh_schema() as url:
        yield url


@pytest.mark.postgres
async def test_postgres_upgrade_indexes_the_history_of_stored_events(pg_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        for migration in pg_schema.MIGRATIONS[:2]:
            await conn.execute(migration)
        await conn.execute(
            "CREATE TABLE relay_schema (singleton boolean PRIMARY KEY DEFAULT true"
            " CHECK (singleton), version integer NOT NULL)"
        )
        await conn.execute("INSERT INTO relay_schema (version) VALUES (2)")
        for sequence, event_type, subjects in _OLD_EVENTS:
            await conn.execute(
                "INSERT INTO deliveries VALUES (%s, %s)", (f"msg_{sequence}", sequence)
            )
            await conn.execute(
                "INSERT INTO events VALUES (%s, %s, %s, '', %s, %s)",
                (
                    sequence,
                    event_type,
                    list(subjects),
                    sequence,
                    _serialized(sequence, event_type, subjects),
                ),
            )
        await conn.execute("UPDATE relay_meta SET value = 5 WHERE key = 'head'")
    store = await PostgresStore.open(pg_url)
    try:
        page = await store.entity_history("user_1", (), 0, 10)
        assert [e.sequence for e in page.events] == [1, 2, 4]
        assert page.snapshot_sequence == 5
        await store.append(event("user.deleted", "user_1", webhook_id="msg_6"))
        users = await store.entity_history("user_1", ("user",), 0, 10)
        assert [e.sequence for e in users.events] == [1, 4, 6]
        found = await store.get_event(webhook_id="msg_2")
        assert found is not None and found.subject_ids == ("sess_1", "user_1")
    finally:
        await store.close()
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        version = await (await conn.execute("SELECT version FROM relay_schema")).fetchall()
        index = await (
            await conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND indexname = 'events_by_subject'"
            )
        ).fetchall()
    assert version == [(pg_schema.SCHEMA_VERSION,)]
    assert len(index) == 1 and "gin (subject_ids)" in index[0][0]
