"""The SQLite store's write transactions: appending a batch, a pass's checkpoint, the probe write.

Each is a function of the write connection, run on the writer's thread;
`service.storage.sqlite.store` decides when they run. A failed transaction is
rolled back (unless SQLite already did) and its error raised.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping

from service.storage.interface import MAX_ENTITY_IDS
from service.storage.passes import (
    KIND_PASS_COLUMNS,
    PASS_COLUMNS,
    PassCheckpoint,
    kind_rows,
    old_passes_sql,
    pass_row,
)
from service.storage.projection import BatchPlan, EntityRow, Pending, plan_batch
from service.storage.sql_rows import (
    EVENT_COLUMNS,
    entity_to_row,
    entity_upsert_sql,
    head_received_sql,
    places,
)
from service.storage.sqlite.connections import rollback
from service.storage.sqlite.queries import entity_rows

__all__ = ["PROBE_BYTES", "append_batch", "probe_write", "save_pass"]


PROBE_BYTES = 64 << 10
"""Size of the probe write that tells whether the store can append again after a
failed append (`service.storage.write_health`): a few webhooks' worth, so that a disk
with only a few free pages, which a batch would not fit in, is not taken for
writable."""


_UPSERT_ENTITY = entity_upsert_sql("?")
_HEAD_RECEIVED = head_received_sql("?")
_PASS_PLACES = places(PASS_COLUMNS, "?")
_KIND_PASS_PLACES = places(KIND_PASS_COLUMNS, "?")
_OLD_PASSES = old_passes_sql("-1")


def append_batch(conn: sqlite3.Connection, batch: list[Pending], head: int) -> BatchPlan:
    """One transaction: dedup, sequence, projection, commit.

    Args:
        conn: The write connection.
        batch: The events to append, in order.
        head: The log's head before this batch.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        ids = [pending.event.id for pending in batch]
        known = dict(
            conn.execute(
                "SELECT webhook_id, sequence FROM deliveries WHERE webhook_id IN "
                f"({','.join('?' * len(ids))})",
                ids,
            ).fetchall()
        )
        keys = {
            (change.kind, change.id)
            for pending in batch
            if (change := pending.facts.change) is not None
        }
        rows = _load_entities(conn, keys)
        (head_received_ns,) = conn.execute(_HEAD_RECEIVED, (head,)).fetchone()
        plan = plan_batch(batch, head, head_received_ns, known, rows)
        conn.executemany(
            "INSERT INTO deliveries (webhook_id, sequence) VALUES (?, ?)",
            [(row.webhook_id, row.stored.sequence) for row in plan.log_rows],
        )
        conn.executemany(
            f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    s.sequence,
                    s.type,
                    " ".join(s.subject_ids),
                    s.organization_id,
                    s.receive_time_ns,
                    s.data,
                )
                for s in (row.stored for row in plan.log_rows)
            ],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO event_subjects (subject_id, sequence) VALUES (?, ?)",
            [
                (subject, row.stored.sequence)
                for row in plan.log_rows
                for subject in row.stored.subject_ids
            ],
        )
        conn.executemany(_UPSERT_ENTITY, [entity_to_row(e) for e in plan.entity_rows])
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return plan


def _load_entities(
    conn: sqlite3.Connection, keys: Iterable[tuple[str, str]]
) -> Mapping[tuple[str, str], EntityRow]:
    """The rows of those entities the mirror holds: one statement per kind and page of ids."""
    ids_by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, entity_id in keys:
        ids_by_kind[kind].append(entity_id)
    rows: dict[tuple[str, str], EntityRow] = {}
    for kind, ids in ids_by_kind.items():
        for start in range(0, len(ids), MAX_ENTITY_IDS):
            found = entity_rows(conn, kind, ids[start : start + MAX_ENTITY_IDS])
            rows.update({(kind, row.id): row for row in found})
    return rows


def probe_write(conn: sqlite3.Connection) -> None:
    """Commits a write of `PROBE_BYTES`, taking it back in the same transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "INSERT INTO relay_meta (key, value) VALUES ('write_probe', zeroblob(?))",
            (PROBE_BYTES,),
        )
        conn.execute("DELETE FROM relay_meta WHERE key = 'write_probe'")
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def save_pass(conn: sqlite3.Connection, checkpoint: PassCheckpoint) -> None:
    """Replaces a reconciliation pass's checkpoint, in one transaction.

    The checkpoint of a pass's end also removes the passes that ended before
    the newest `ENDED_PASSES_KEPT` (`service.storage.passes`).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            f"INSERT OR REPLACE INTO reconcile_passes ({PASS_COLUMNS}) VALUES ({_PASS_PLACES})",
            pass_row(checkpoint),
        )
        conn.execute("DELETE FROM reconcile_pass_kinds WHERE pass_id = ?", (checkpoint.pass_id,))
        conn.executemany(
            f"INSERT INTO reconcile_pass_kinds ({KIND_PASS_COLUMNS}) VALUES ({_KIND_PASS_PLACES})",
            kind_rows(checkpoint),
        )
        if not checkpoint.running:
            conn.execute(f"DELETE FROM reconcile_pass_kinds WHERE pass_id IN ({_OLD_PASSES})")
            conn.execute(f"DELETE FROM reconcile_passes WHERE pass_id IN ({_OLD_PASSES})")
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
