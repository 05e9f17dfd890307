"""The PostgreSQL store's two write transactions: appending a batch, and trimming the log.

Each is a function of the writer's connection; `service.storage.postgres.writer`
decides when they run, and `service.storage.postgres.store` explains why an append
locks the `head` row of `relay_meta` first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from service.storage.interface import Retention, StoreError
from service.storage.postgres.connections import Connection
from service.storage.postgres.queries import meta, sequence_at_or_zero
from service.storage.projection import BatchPlan, EntityRow, Pending, plan_batch
from service.storage.sql_rows import (
    ENTITY_COLUMN_NAMES,
    ENTITY_COLUMNS,
    EVENT_COLUMNS,
    entity_from_row,
    entity_to_row,
    head_received_sql,
)

__all__ = ["append_batch", "trim_log"]

_UPSERT_ENTITY = (
    f"INSERT INTO entities ({ENTITY_COLUMNS}) "
    f"VALUES ({', '.join(['%s'] * len(ENTITY_COLUMN_NAMES))}) "
    "ON CONFLICT (kind, id) DO UPDATE SET "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in ENTITY_COLUMN_NAMES[2:])
)
_EVENT_TYPES = ("int8", "text", "text[]", "text", "int8", "bytea")


async def append_batch(
    conn: Connection, batch: list[Pending], notification: Callable[[int], tuple[str, str]]
) -> tuple[BatchPlan, int]:
    """One transaction: lock the head, dedup, sequence, projection, notify, commit.

    Args:
        conn: The writer's connection.
        batch: The events to append, in order.
        notification: The channel and payload that announce a new head.

    Returns:
        The plan, and the head this transaction found under the lock.
    """
    async with conn.transaction():
        # The cluster-wide append lock (see `service.storage.postgres.store`): it
        # orders this batch after every batch already visible.
        cursor = await conn.execute("SELECT value FROM relay_meta WHERE key = 'head' FOR UPDATE")
        row = await cursor.fetchone()
        if row is None:
            raise StoreError("relay_meta has no 'head' row; the schema is damaged")
        locked_head = int(row[0])
        cursor = await conn.execute(
            "SELECT webhook_id, sequence FROM deliveries WHERE webhook_id = ANY(%s)",
            ([pending.event.id for pending in batch],),
        )
        known = {webhook_id: int(sequence) for webhook_id, sequence in await cursor.fetchall()}
        keys = {
            (change.kind, change.id)
            for pending in batch
            if (change := pending.facts.change) is not None
        }
        rows = await _load_entities(conn, keys)
        cursor = await conn.execute(head_received_sql("%s"), (locked_head,))
        (head_received_ns,) = await cursor.fetchone() or (0,)
        plan = plan_batch(batch, locked_head, int(head_received_ns), known, rows)
        if plan.log_rows:
            async with conn.cursor() as cur:
                async with cur.copy(
                    "COPY deliveries (webhook_id, sequence) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["text", "int8"])
                    for log_row in plan.log_rows:
                        await copy.write_row((log_row.webhook_id, log_row.stored.sequence))
                async with cur.copy(
                    f"COPY events ({EVENT_COLUMNS}) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(list(_EVENT_TYPES))
                    for log_row in plan.log_rows:
                        s = log_row.stored
                        await copy.write_row(
                            (
                                s.sequence,
                                s.type,
                                list(s.subject_ids),
                                s.organization_id,
                                s.receive_time_ns,
                                s.data,
                            )
                        )
                if plan.entity_rows:
                    await cur.executemany(
                        _UPSERT_ENTITY, [entity_to_row(e) for e in plan.entity_rows]
                    )
            # NOTIFY is delivered at commit, and only if the commit succeeds.
            await conn.execute(
                "WITH moved AS (UPDATE relay_meta SET value = %s WHERE key = 'head') "
                "SELECT pg_notify(%s, %s)",
                (plan.head, *notification(plan.head)),
            )
    return plan, locked_head


async def _load_entities(
    conn: Connection, keys: Iterable[tuple[str, str]]
) -> Mapping[tuple[str, str], EntityRow]:
    pairs = list(keys)
    if not pairs:
        return {}
    cursor = await conn.execute(
        f"SELECT {ENTITY_COLUMNS} FROM entities "
        "WHERE (kind, id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
        ([kind for kind, _ in pairs], [entity_id for _, entity_id in pairs]),
    )
    return {(row[0], row[1]): entity_from_row(row) for row in await cursor.fetchall()}


async def trim_log(conn: Connection, retention: Retention) -> int:
    """One transaction: removes the events `retention` no longer keeps; returns how many.

    Raises:
        StoreError: `relay_meta` is damaged.
    """
    async with conn.transaction():
        # Serializes trims across processes; appends do not wait for it.
        await conn.execute(
            "SELECT value FROM relay_meta "
            "WHERE key IN ('trimmed_through', 'trimmed_time_ns') FOR UPDATE"
        )
        trimmed_through = await meta(conn, "trimmed_through")
        trimmed_time_ns = await meta(conn, "trimmed_time_ns")
        cutoff = 0
        if retention.max_count is not None:
            cutoff = max(cutoff, await meta(conn, "head") - retention.max_count)
        if retention.max_age_s is not None:
            oldest_ns = time.time_ns() - int(retention.max_age_s * 1e9)
            cutoff = max(cutoff, await sequence_at_or_zero(conn, oldest_ns))
        if cutoff <= trimmed_through:
            return 0
        cursor = await conn.execute(
            "SELECT max(receive_time_ns) FROM events WHERE sequence <= %s", (cutoff,)
        )
        row = await cursor.fetchone()
        time_ns = int(row[0] or 0) if row else 0
        cursor = await conn.execute("DELETE FROM events WHERE sequence <= %s", (cutoff,))
        removed = cursor.rowcount
        async with conn.cursor() as cur:
            await cur.executemany(
                "UPDATE relay_meta SET value = %s WHERE key = %s",
                [
                    (cutoff, "trimmed_through"),
                    (max(time_ns, trimmed_time_ns), "trimmed_time_ns"),
                ],
            )
    return removed
