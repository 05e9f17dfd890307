"""The SQLite store's reads: pages of the log and of the projection, each from one snapshot.

Each is a function of a connection, run on a reader's thread (the write
connection runs `sequence_at_or_zero` inside a trim too). A read that must see
one snapshot wraps its statements in `BEGIN`…`COMMIT`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from service.storage.interface import (
    BeforeRetention,
    EntityPage,
    EntityRecord,
    HistoryPage,
    ReadResult,
    RowFilter,
    SerializedPage,
    StoredEvent,
)
from service.storage.passes import (
    KIND_PASS_COLUMNS,
    PASS_COLUMNS,
    PASS_RUNNING,
    PassCheckpoint,
    checkpoint_from_rows,
)
from service.storage.projection import EntityRow
from service.storage.sql_rows import (
    ENTITY_COLUMNS,
    EVENT_COLUMNS,
    entity_from_row,
    event_columns,
    family_condition,
)

__all__ = [
    "entities",
    "entity",
    "entity_page",
    "entity_rows",
    "event",
    "history_page",
    "head_in",
    "log_page",
    "read_page",
    "sequence_at_or_zero",
    "sequence_before",
    "serialized_page",
    "unfinished_pass",
]


def _stored(row: tuple[int, str, str, str, int, bytes]) -> StoredEvent:
    subjects = row[2]
    return StoredEvent(
        row[0], row[1], tuple(subjects.split(" ")) if subjects else (), row[3], row[4], row[5]
    )


def log_page(
    conn: sqlite3.Connection, columns: str, after_sequence: int, limit: int
) -> list[tuple[Any, ...]]:
    """`columns` of up to `limit` events after a sequence, in order, from one snapshot.

    Raises:
        BeforeRetention: `after_sequence + 1` was trimmed away.
    """
    conn.execute("BEGIN")
    try:
        (trimmed,) = conn.execute(
            "SELECT value FROM relay_meta WHERE key = 'trimmed_through'"
        ).fetchone()
        if after_sequence < trimmed:
            raise BeforeRetention(after_sequence, trimmed + 1)
        return conn.execute(
            f"SELECT {columns} FROM events WHERE sequence > ? ORDER BY sequence LIMIT ?",
            (after_sequence, limit),
        ).fetchall()
    finally:
        conn.execute("COMMIT")


def read_page(
    conn: sqlite3.Connection,
    after_sequence: int,
    limit: int,
    matches: RowFilter | None,
    with_data: bool = True,
) -> ReadResult:
    """Up to `limit` events after a sequence, those `matches` accepts; see `Store.read`."""
    rows = log_page(conn, event_columns(with_data, "X''"), after_sequence, limit)
    if not rows:
        return ReadResult([], after_sequence)
    events = [_stored(row) for row in rows]
    last = events[-1].sequence
    if matches is not None:
        events = [e for e in events if matches(e)]
    return ReadResult(events, last)


def serialized_page(conn: sqlite3.Connection, after_sequence: int, limit: int) -> SerializedPage:
    """Up to `limit` serialized events after a sequence; see `Store.read_serialized`."""
    rows = log_page(conn, "sequence, data", after_sequence, limit)
    if not rows:
        return SerializedPage([], after_sequence)
    return SerializedPage([data for _, data in rows], rows[-1][0])


def sequence_before(conn: sqlite3.Connection, cutoff_ns: int) -> int:
    """The highest sequence received before `cutoff_ns`; see `Store.sequence_before`.

    Raises:
        BeforeRetention: Events received before `cutoff_ns` may have been trimmed.
    """
    conn.execute("BEGIN")
    try:
        meta: dict[str, int] = dict(conn.execute("SELECT key, value FROM relay_meta").fetchall())
        trimmed = meta["trimmed_through"]
        found = sequence_at_or_zero(conn, cutoff_ns)
    finally:
        conn.execute("COMMIT")
    if trimmed and cutoff_ns <= meta["trimmed_time_ns"]:
        raise BeforeRetention(found, trimmed + 1)
    return max(found, trimmed)


def sequence_at_or_zero(conn: sqlite3.Connection, cutoff_ns: int) -> int:
    """The highest sequence received before `cutoff_ns` (0 when there is none).

    Receive times never decrease along the log (`plan_batch` sees to it), so a
    binary search over the sequences finds it in about log2(n) point reads,
    with no index on the time. (In a log written before schema 3, events
    received concurrently may be out of order by milliseconds; a time among
    them finds one of them.)
    """
    (low,) = conn.execute("SELECT min(sequence) FROM events").fetchone()
    (high,) = conn.execute("SELECT max(sequence) FROM events").fetchone()
    if low is None or _first_at_or_after(conn, low)[1] >= cutoff_ns:
        return 0
    while low < high:  # the event at `low` was received before the cutoff
        middle = (low + high + 1) // 2
        found, received_ns = _first_at_or_after(conn, middle)
        if received_ns < cutoff_ns:
            low = found
        else:
            high = middle - 1
    return int(low)


def _first_at_or_after(conn: sqlite3.Connection, sequence: int) -> tuple[int, int]:
    """The first stored event at or after `sequence`: its sequence and receive time."""
    row: tuple[int, int] = conn.execute(
        "SELECT sequence, receive_time_ns FROM events WHERE sequence >= ? "
        "ORDER BY sequence LIMIT 1",
        (sequence,),
    ).fetchone()
    return row


def event(conn: sqlite3.Connection, sequence: int, webhook_id: str) -> StoredEvent | None:
    """One retained event by sequence (when not 0) or webhook id; see `Store.get_event`."""
    conn.execute("BEGIN")
    try:
        if not sequence:
            found = conn.execute(
                "SELECT sequence FROM deliveries WHERE webhook_id = ?", (webhook_id,)
            ).fetchone()
            if found is None:
                return None
            (sequence,) = found
        row = conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE sequence = ?", (sequence,)
        ).fetchone()
    finally:
        conn.execute("COMMIT")
    return None if row is None else _stored(row)


_HISTORY_COLUMNS = ", ".join(f"e.{column}" for column in EVENT_COLUMNS.split(", "))


def history_page(
    conn: sqlite3.Connection,
    entity_id: str,
    families: tuple[str, ...],
    after_sequence: int,
    limit: int,
) -> HistoryPage:
    """Events about an entity after a sequence, in order; see `Store.entity_history`."""
    condition, params = family_condition(families, "e.type", "?")
    conn.execute("BEGIN")
    try:
        rows = conn.execute(
            f"SELECT {_HISTORY_COLUMNS} FROM event_subjects s "
            "JOIN events e ON e.sequence = s.sequence "
            f"WHERE s.subject_id = ? AND s.sequence > ? AND {condition} "
            "ORDER BY s.sequence LIMIT ?",
            (entity_id, after_sequence, *params, limit),
        ).fetchall()
        head = head_in(conn)
    finally:
        conn.execute("COMMIT")
    return HistoryPage([_stored(row) for row in rows], head)


def entity(conn: sqlite3.Connection, kind: str, entity_id: str) -> tuple[EntityRecord | None, int]:
    """One entity's record (None if never seen), and the head the read reflects."""
    conn.execute("BEGIN")
    try:
        found = conn.execute(
            f"SELECT {ENTITY_COLUMNS} FROM entities WHERE kind = ? AND id = ?",
            (kind, entity_id),
        ).fetchone()
        head = head_in(conn)
    finally:
        conn.execute("COMMIT")
    return (None if found is None else entity_from_row(found).record()), head


def entity_rows(conn: sqlite3.Connection, kind: str, ids: Sequence[str]) -> list[EntityRow]:
    """The rows of those of `ids` (at most `MAX_ENTITY_IDS`) the mirror holds, in one statement."""
    found = conn.execute(
        f"SELECT {ENTITY_COLUMNS} FROM entities WHERE kind = ? AND id IN "
        f"({','.join('?' * len(ids))})",
        [kind, *ids],
    ).fetchall()
    return [entity_from_row(row) for row in found]


def entities(conn: sqlite3.Connection, kind: str, ids: list[str]) -> dict[str, EntityRecord]:
    """The records of those of `ids` the mirror holds, by id; see `Store.get_entities`."""
    return {row.id: row.record() for row in entity_rows(conn, kind, ids)}


def unfinished_pass(conn: sqlite3.Connection) -> PassCheckpoint | None:
    """The newest running pass's checkpoint; see `Store.unfinished_pass`."""
    conn.execute("BEGIN")
    try:
        row = conn.execute(
            f"SELECT {PASS_COLUMNS} FROM reconcile_passes WHERE status = ? "
            "ORDER BY started_at_ms DESC, pass_id DESC LIMIT 1",
            (PASS_RUNNING,),
        ).fetchone()
        if row is None:
            return None
        kinds = conn.execute(
            f"SELECT {KIND_PASS_COLUMNS} FROM reconcile_pass_kinds WHERE pass_id = ?", (row[0],)
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    return checkpoint_from_rows(row, kinds)


def entity_page(conn: sqlite3.Connection, sql: str, params: list[object]) -> EntityPage:
    """The records an `entity_list_sql` statement selects, and the head the read reflects."""
    conn.execute("BEGIN")
    try:
        rows = conn.execute(sql, params).fetchall()
        head = head_in(conn)
    finally:
        conn.execute("COMMIT")
    return EntityPage([entity_from_row(row).record() for row in rows], head)


def head_in(conn: sqlite3.Connection) -> int:
    """The log's head: its last sequence, or the last trimmed one when trimming emptied it.

    Not stored: a commit writes one page fewer without it, and the rowid
    b-tree finds its largest key in a few page reads.
    """
    (head,) = conn.execute(
        "SELECT max(coalesce((SELECT max(sequence) FROM events), 0), "
        "(SELECT value FROM relay_meta WHERE key = 'trimmed_through'))"
    ).fetchone()
    return int(head)
