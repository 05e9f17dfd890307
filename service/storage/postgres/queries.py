"""The queries the PostgreSQL store, its writer and its listener share.

Each is a function of a connection, so it runs in whatever transaction that
connection is in: a reader's snapshot, or the writer's transaction.
"""

from __future__ import annotations

from typing import Any

from service.storage.interface import BeforeRetention, HistoryPage, StoredEvent, StoreError
from service.storage.postgres.connections import Connection
from service.storage.sql_rows import ENTITY_COLUMNS, EVENT_COLUMNS, event_columns, family_condition

__all__ = [
    "ENTITIES_BY_IDS",
    "ENTITIES_BY_KEYS",
    "event",
    "history_page",
    "log_page",
    "log_rows",
    "meta",
    "require_retained",
    "sequence_at_or_zero",
]


def _entities_at(wanted: str, kind: str) -> str:
    """The entities of the rows of `wanted` (a `FROM` item with an `id` column) and `kind`."""
    return (
        f"SELECT found.* FROM {wanted} CROSS JOIN LATERAL ("
        f"SELECT {ENTITY_COLUMNS} FROM entities WHERE entities.kind = {kind} "
        "AND entities.id = wanted.id LIMIT 1) AS found"
    )


ENTITIES_BY_KEYS = _entities_at(
    "unnest(%s::text[], %s::text[]) AS wanted (kind, id)", kind="wanted.kind"
)
"""The rows of the entities at (kind, id) pairs, given as two arrays (one row per pair found).

Each pair is one lookup of the primary key, which the `LIMIT` keeps from being
flattened into a join. That holds for a generic plan too: psycopg prepares a
statement on its fifth run, and PostgreSQL may then keep one plan for every
later run of it on that connection, costed on the table as it was. Written as
`(kind, id) IN (SELECT * FROM unnest(…))`, that plan, made while the mirror
was small, read the whole table on every append (a hash join) until the next
`ANALYZE`: at 1,000 webhooks/s of new users, the append's p50 grew from 6.5 to
13.4 ms and its p99 from 14 to 28 ms over 15,000 webhooks, and stayed at
4.9–5.2 and 8–11 ms with this form (2026-12-03: `clerk-relay serve` on a fresh
schema, paced by the bench's load generator).
"""

ENTITIES_BY_IDS = _entities_at("unnest(%s::text[]) AS wanted (id)", kind="%s")
"""The rows of one kind's entities by id: the ids as an array, then the kind.

Lookups of the primary key as in `ENTITIES_BY_KEYS`. Written as `kind = %s AND
id = ANY(%s)`, its generic plan on a small table reads the primary key by kind
alone and filters every entity of that kind by id: a scan of all the mirror's
users for each page of users a reconciliation compares.
"""


def _stored(row: tuple[Any, ...]) -> StoredEvent:
    return StoredEvent(row[0], row[1], tuple(row[2]), row[3], row[4], row[5])


async def meta(conn: Connection, key: str) -> int:
    """A value of `relay_meta`: `head`, `trimmed_through` or `trimmed_time_ns`.

    Raises:
        StoreError: The row is missing (the schema is damaged).
    """
    cursor = await conn.execute("SELECT value FROM relay_meta WHERE key = %s", (key,))
    row = await cursor.fetchone()
    if row is None:
        raise StoreError(f"relay_meta has no {key!r} row; the schema is damaged")
    return int(row[0])


async def require_retained(conn: Connection, after_sequence: int) -> None:
    """Raises BeforeRetention when events after `after_sequence` have been trimmed."""
    trimmed = await meta(conn, "trimmed_through")
    if after_sequence < trimmed:
        raise BeforeRetention(after_sequence, trimmed + 1)


async def log_page(
    conn: Connection, columns: str, after: int, upto: int, limit: int
) -> list[tuple[Any, ...]]:
    """`columns` of at most `limit` events after `after` and at or below `upto`, in order."""
    # Binary results: the serialized events arrive as they are, not hex-encoded.
    async with conn.cursor(binary=True) as cursor:
        await cursor.execute(
            f"SELECT {columns} FROM events WHERE sequence > %s AND sequence <= %s "
            "ORDER BY sequence LIMIT %s",
            (after, upto, limit),
        )
        return await cursor.fetchall()


async def log_rows(
    conn: Connection, after: int, upto: int, limit: int, with_data: bool = True
) -> list[StoredEvent]:
    """At most `limit` events of the log after `after` and at or below `upto`, in order."""
    columns = event_columns(with_data, "''::bytea")
    return [_stored(row) for row in await log_page(conn, columns, after, upto, limit)]


async def sequence_at_or_zero(conn: Connection, cutoff_ns: int) -> int:
    """The highest sequence received before `cutoff_ns` (0 when there is none)."""
    cursor = await conn.execute(
        "SELECT max(sequence) FROM events WHERE receive_time_ns < %s", (cutoff_ns,)
    )
    row = await cursor.fetchone()
    return int(row[0] or 0) if row else 0


async def event(conn: Connection, sequence: int, webhook_id: str) -> StoredEvent | None:
    """One retained event by sequence (when not 0) or webhook id; see `Store.get_event`."""
    if sequence:
        where, params = "sequence = %s", (sequence,)
    else:
        where = "sequence = (SELECT sequence FROM deliveries WHERE webhook_id = %s)"
        params = (webhook_id,)  # type: ignore[assignment]  # one parameter either way
    async with conn.cursor(binary=True) as cursor:
        await cursor.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE {where}", params)
        row = await cursor.fetchone()
    return None if row is None else _stored(row)


async def history_page(
    conn: Connection, entity_id: str, families: tuple[str, ...], after_sequence: int, limit: int
) -> HistoryPage:
    """Events about an entity after a sequence, in order; see `Store.entity_history`."""
    condition, params = family_condition(families, "type", "%s")
    async with conn.cursor(binary=True) as cursor:
        await cursor.execute(
            f"SELECT {EVENT_COLUMNS} FROM events "
            f"WHERE subject_ids @> ARRAY[%s]::text[] AND sequence > %s AND {condition} "
            "ORDER BY sequence LIMIT %s",
            (entity_id, after_sequence, *params, limit),
        )
        rows = await cursor.fetchall()
    return HistoryPage([_stored(row) for row in rows], await meta(conn, "head"))
