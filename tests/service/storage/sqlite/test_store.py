"""SQLite-specific behaviour: start-up errors, durability settings and schema upgrades."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from clerkrelay.kinds import ListFilters
from service.storage import (
    PASS_RUNNING,
    EntityQuery,
    KindCheckpoint,
    PassCheckpoint,
    Retention,
    StoreError,
    open_store,
)
from service.storage.sql_rows import entity_list_sql
from service.storage.sqlite import SqliteStore
from service.storage.sqlite.connections import CHECKPOINT_PAGES
from service.storage.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
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


def _version_one_file(path: Path) -> None:
    """A database as clerk-relay's first schema left it: '' for absent lookup ids."""
    with sqlite3.connect(path) as conn:
        for statement in MIGRATIONS[0].split(";"):
            if statement.strip():
                conn.execute(statement)
        row = "(?, ?, x'0a01', 0, ?, 1, 1, ?, 1, 1, ?, ?, ?, '', '')"
        conn.execute(
            f"INSERT INTO entities VALUES {row}, {row}",
            ("user", "user_1", 1, 1, 1, "", "")
            + ("organization_membership", "orgmem_1", 2, 2, 2, "org_1", "user_1"),
        )
        conn.execute("PRAGMA user_version = 1")


async def test_upgrading_from_the_first_schema_keeps_the_projection(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    _version_one_file(path)
    store = await SqliteStore.open(path)
    try:
        by_org = await store.list_entities(
            EntityQuery(
                kind="organization_membership", filters=ListFilters(organization_id="org_1")
            )
        )
        assert [(r.id, r.event_sequence, r.state) for r in by_org.records] == [
            ("orgmem_1", 2, b"\x0a\x01")
        ]
        by_user = await store.list_entities(
            EntityQuery(kind="organization_membership", filters=ListFilters(user_id="user_1"))
        )
        assert [r.id for r in by_user.records] == ["orgmem_1"]
        user, _ = await store.get_entity("user", "user_1")
        assert user is not None and (user.id, user.event_sequence) == ("user_1", 1)
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        # Absent lookup ids are NULL now, so the partial indexes hold only the membership.
        assert conn.execute(
            "SELECT id, organization_id, user_id, payer_id FROM entities ORDER BY id"
        ).fetchall() == [("orgmem_1", "org_1", "user_1", None), ("user_1", None, None, None)]


async def test_filtered_lists_use_the_partial_indexes(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    await (await SqliteStore.open(path)).close()
    with sqlite3.connect(path) as conn:
        for query, index in (
            (
                EntityQuery(kind="k", filters=ListFilters(organization_id="x")),
                "entities_by_organization",
            ),
            (EntityQuery(kind="k", filters=ListFilters(user_id="x")), "entities_by_user"),
            (
                EntityQuery(kind="k", filters=ListFilters(subscription_id="x")),
                "entities_by_subscription",
            ),
            (EntityQuery(kind="k", filters=ListFilters(payer_id="x")), "entities_by_payer"),
        ):
            sql, params = entity_list_sql(query, "?")
            plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            assert f"USING INDEX {index}" in plan, plan


async def test_the_wal_is_copied_into_the_file_every_few_pages(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = await SqliteStore.open(path)
    threshold_bytes = CHECKPOINT_PAGES * 4096
    padding = b" " * 65536  # of raw body per event
    try:
        for i in range(2 * threshold_bytes // len(padding)):
            big = event("user.created", f"user_{i}")
            big.raw_body += padding
            await store.append(big)
        # A commit crossed the threshold and checkpointed: the events are in the
        # database file, not only in the WAL (SQLite's default waits for 4 MiB).
        assert path.stat().st_size >= threshold_bytes
    finally:
        await store.close()


async def test_a_newer_state_updates_the_entity_row_in_place(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = await SqliteStore.open(path)
    try:
        await store.append(event("user.created", "user_1", at=1_000))
        await store.append(event("user.created", "user_2", at=1_000))
        with sqlite3.connect(path) as conn:
            before = conn.execute("SELECT rowid, id FROM entities ORDER BY id").fetchall()
        await store.append(event("user.updated", "user_1", at=2_000))
        with sqlite3.connect(path) as conn:
            after = conn.execute("SELECT rowid, id FROM entities ORDER BY id").fetchall()
        # Same rowid: updated in place, not deleted and inserted again
        # (which writes the old row's page, the new row's and the index's).
        assert after == before
        user, _ = await store.get_entity("user", "user_1")
        assert user is not None and (user.event_sequence, user.updated_at) == (3, 2_000)
    finally:
        await store.close()


def _version_two_file(path: Path, events: list[bytes], trimmed_through: int) -> None:
    """A database as schema 2 left it: the head stored in relay_meta, events after a trim."""
    with sqlite3.connect(path) as conn:
        for migration in MIGRATIONS[:2]:
            for statement in migration.split(";"):
                if statement.strip():
                    conn.execute(statement)
        for sequence, data in enumerate(events, start=1):
            conn.execute("INSERT INTO deliveries VALUES (?, ?)", (f"msg_{sequence}", sequence))
            if sequence > trimmed_through:
                conn.execute(
                    "INSERT INTO events VALUES (?, 'user.created', ?, '', ?, ?)",
                    (sequence, f"user_{sequence}", sequence, data),
                )
        conn.executemany(
            "UPDATE relay_meta SET value = ? WHERE key = ?",
            [(len(events), "head"), (trimmed_through, "trimmed_through")],
        )
        conn.execute("PRAGMA user_version = 2")


@pytest.mark.parametrize("trimmed_through", [0, 2, 5])
async def test_upgrading_from_the_stored_head_keeps_every_event_and_the_head(
    tmp_path: Path, trimmed_through: int
) -> None:
    path = tmp_path / "relay.db"
    stored = []
    for n in range(1, 6):
        written = event("user.created", f"user_{n}", webhook_id=f"msg_{n}")
        written.sequence = n
        stored.append(written.SerializeToString())
    _version_two_file(path, stored, trimmed_through)
    store = await SqliteStore.open(path)
    try:
        assert await store.head() == 5
        page = await store.read_serialized(trimmed_through, 100)
        assert page.events == stored[trimmed_through:]
        result = await store.append(event("user.created", "user_6", webhook_id="msg_6"))
        assert (result.sequence, result.duplicate) == (6, False)
        again = await store.append(event("user.created", "user_1", webhook_id="msg_1"))
        assert (again.sequence, again.duplicate) == (1, True)
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("SELECT count(*) FROM relay_meta WHERE key = 'head'").fetchone() == (0,)
        indexes = "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'events'"
        assert conn.execute(indexes).fetchall() == []


async def test_the_head_survives_trimming_the_whole_log(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = await SqliteStore.open(path, Retention(max_count=0))
    for n in range(3):
        await store.append(event("user.created", f"user_{n}"))
    assert await store.trim() == 3
    await store.close()
    reopened = await SqliteStore.open(path)
    try:
        assert await reopened.head() == 3
        assert (await reopened.append(event("user.created", "user_9"))).sequence == 4
    finally:
        await reopened.close()


async def test_upgrading_from_schema_three_adds_the_pass_tables(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    with sqlite3.connect(path) as conn:
        for migration in MIGRATIONS[:3]:
            for statement in migration.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute("INSERT INTO events VALUES (1, 'user.created', 'user_1', '', 1, x'0801')")
        conn.execute("PRAGMA user_version = 3")
    store = await SqliteStore.open(path)
    try:
        assert await store.head() == 1
        assert await store.unfinished_pass() is None
        saved = PassCheckpoint(
            "p1", "rpc", False, 0.1, PASS_RUNNING, 5, 5, (KindCheckpoint("user"),)
        )
        await store.save_pass(saved)
        assert await store.unfinished_pass() == saved
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
