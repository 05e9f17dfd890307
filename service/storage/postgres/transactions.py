"""The PostgreSQL store's two write transactions: appending a batch, and trimming the log.

Each is a function of the writer's connection; `service.storage.postgres.writer`
decides when they run, and `service.storage.postgres.store` explains why an append
locks the `head` row of `relay_meta` first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from service.storage.interface import Retention, StoreError
from service.storage.postgres.connections import Connection
from service.storage.postgres.queries import ENTITIES_BY_KEYS, meta, sequence_at_or_zero
from service.storage.projection import BatchPlan, Pending, plan_batch
from service.storage.sql_rows import (
    EVENT_COLUMNS,
    entity_from_row,
    entity_to_row,
    entity_upsert_sql,
    head_received_sql,
)

__all__ = ["append_batch", "trim_log"]

_UPSERT_ENTITY = entity_upsert_sql("%s")
_HEAD_RECEIVED = head_received_sql("(SELECT value FROM relay_meta WHERE key = 'head')")

_INSERT_DELIVERIES = (
    "INSERT INTO deliveries (webhook_id, sequence) SELECT * FROM unnest(%s::text[], %s::int8[])"
)
_INSERT_EVENTS = (
    f"INSERT INTO events ({EVENT_COLUMNS}) "
    "SELECT sequence, type, ARRAY(SELECT jsonb_array_elements_text(subject_ids::jsonb)), "
    "organization_id, receive_time_ns, data FROM unnest("
    "%s::int8[], %s::text[], %s::text[], %s::text[], %s::int8[], %s::bytea[]"
    ") AS batch (sequence, type, subject_ids, organization_id, receive_time_ns, data)"
)


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
    # One pipeline for the whole transaction: BEGIN and the reads go out together
    # (the server runs them in order, each after the lock with a fresh snapshot),
    # then the writes, NOTIFY and COMMIT: two round trips in all.
    async with conn.pipeline(), conn.transaction():
        async with conn.pipeline():  # its end sends the reads and waits for them
            # The cluster-wide append lock (see `service.storage.postgres.store`): it
            # orders this batch after every batch already visible.
            head = await conn.execute("SELECT value FROM relay_meta WHERE key = 'head' FOR UPDATE")
            deliveries = await conn.execute(
                "SELECT webhook_id, sequence FROM deliveries WHERE webhook_id = ANY(%s)",
                ([pending.event.id for pending in batch],),
            )
            keys = list(
                {
                    (change.kind, change.id)
                    for pending in batch
                    if (change := pending.facts.change) is not None
                }
            )
            entities = await conn.execute(
                ENTITIES_BY_KEYS,
                ([kind for kind, _ in keys], [entity_id for _, entity_id in keys]),
            )
            received = await conn.execute(_HEAD_RECEIVED)
            row = await head.fetchone()
            known = {webhook_id: int(seq) for webhook_id, seq in await deliveries.fetchall()}
            rows = {(r[0], r[1]): entity_from_row(r) for r in await entities.fetchall()}
            (head_received_ns,) = await received.fetchone() or (0,)
        if row is None:
            raise StoreError("relay_meta has no 'head' row; the schema is damaged")
        locked_head = int(row[0])
        plan = plan_batch(batch, locked_head, int(head_received_ns), known, rows)
        if plan.log_rows:
            # Each table's rows as arrays, in one statement (a transaction at a
            # moderate rate holds one or two events).
            stored = [log_row.stored for log_row in plan.log_rows]
            await conn.execute(
                _INSERT_DELIVERIES,
                (
                    [log_row.webhook_id for log_row in plan.log_rows],
                    [s.sequence for s in stored],
                ),
            )
            await conn.execute(
                _INSERT_EVENTS,
                (
                    [s.sequence for s in stored],
                    [s.type for s in stored],
                    [json.dumps(s.subject_ids) for s in stored],
                    [s.organization_id for s in stored],
                    [s.receive_time_ns for s in stored],
                    [s.data for s in stored],
                ),
            )
            if plan.entity_rows:
                async with conn.cursor() as cur:
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
