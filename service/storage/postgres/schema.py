"""The PostgreSQL schema, as numbered migrations applied in order at start-up.

The tables live in the connection's `current_schema()` (the first schema of
its `search_path`), so one database can hold several independent relays.
"""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from service.storage.interface import StoreError

__all__ = ["MIGRATION_LOCK_KEY", "SCHEMA_VERSION", "migrate"]

# Each entry takes the schema from version i to i + 1. Never edit one that has
# shipped: append a new one. The tables mirror the SQLite backend's
# (`service.storage.sqlite.schema`), with PostgreSQL's types: bigint for sequences and
# times, bytea for serialized messages, text[] for an event's subject ids.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE relay_meta (
        key text PRIMARY KEY,
        value bigint NOT NULL
    );
    INSERT INTO relay_meta (key, value) VALUES
        ('head', 0), ('trimmed_through', 0), ('trimmed_time_ns', 0);

    -- Every webhook id ever accepted: dedup is permanent, even after the log is trimmed.
    CREATE TABLE deliveries (
        webhook_id text PRIMARY KEY,
        sequence bigint NOT NULL
    );

    CREATE TABLE events (
        sequence bigint PRIMARY KEY,
        type text NOT NULL,
        subject_ids text[] NOT NULL,
        organization_id text NOT NULL,
        receive_time_ns bigint NOT NULL,
        data bytea NOT NULL
    );
    CREATE INDEX events_by_receive_time ON events (receive_time_ns);

    CREATE TABLE entities (
        kind text NOT NULL,
        id text NOT NULL,
        state bytea NOT NULL,
        deleted boolean NOT NULL,
        event_sequence bigint NOT NULL,
        head_updated_at bigint NOT NULL,
        head_timestamp bigint NOT NULL,
        head_sequence bigint NOT NULL,
        state_updated_at bigint NOT NULL,
        state_timestamp bigint NOT NULL,
        state_sequence bigint NOT NULL,
        organization_id text NOT NULL,
        user_id text NOT NULL,
        subscription_id text NOT NULL,
        payer_id text NOT NULL,
        PRIMARY KEY (kind, id)
    );
    CREATE INDEX entities_by_organization ON entities (kind, organization_id, id);
    CREATE INDEX entities_by_user ON entities (kind, user_id, id);
    CREATE INDEX entities_by_subscription ON entities (kind, subscription_id, id);
    CREATE INDEX entities_by_payer ON entities (kind, payer_id, id);
    """,
    # 2: each lookup index holds only the rows that have its column (NULL, not
    # '', when absent), so a user's event no longer writes four index entries it
    # can never be listed by.
    """
    DROP INDEX entities_by_organization;
    DROP INDEX entities_by_user;
    DROP INDEX entities_by_subscription;
    DROP INDEX entities_by_payer;
    ALTER TABLE entities
        ALTER COLUMN organization_id DROP NOT NULL,
        ALTER COLUMN user_id DROP NOT NULL,
        ALTER COLUMN subscription_id DROP NOT NULL,
        ALTER COLUMN payer_id DROP NOT NULL;
    UPDATE entities SET
        organization_id = NULLIF(organization_id, ''),
        user_id = NULLIF(user_id, ''),
        subscription_id = NULLIF(subscription_id, ''),
        payer_id = NULLIF(payer_id, '');
    CREATE INDEX entities_by_organization ON entities (kind, organization_id, id)
        WHERE organization_id IS NOT NULL;
    CREATE INDEX entities_by_user ON entities (kind, user_id, id)
        WHERE user_id IS NOT NULL;
    CREATE INDEX entities_by_subscription ON entities (kind, subscription_id, id)
        WHERE subscription_id IS NOT NULL;
    CREATE INDEX entities_by_payer ON entities (kind, payer_id, id)
        WHERE payer_id IS NOT NULL;
    """,
    # 3: reconciliation passes record their progress, so that a pass resumes
    # after a restart (`service.storage.passes`).
    """
    CREATE TABLE reconcile_passes (
        pass_id text PRIMARY KEY,
        trigger text NOT NULL,
        allow_mass_delete boolean NOT NULL,
        max_delete_share double precision NOT NULL,
        status text NOT NULL,
        started_at_ms bigint NOT NULL,
        updated_at_ms bigint NOT NULL
    );
    CREATE INDEX reconcile_passes_running ON reconcile_passes (started_at_ms)
        WHERE status = 'running';
    CREATE TABLE reconcile_pass_kinds (
        pass_id text NOT NULL REFERENCES reconcile_passes (pass_id) ON DELETE CASCADE,
        ordinal integer NOT NULL,
        kind text NOT NULL,
        status text NOT NULL,
        position text NOT NULL,
        head_at_start bigint NOT NULL,
        counts text NOT NULL,
        PRIMARY KEY (pass_id, kind)
    );
    """,
    # 4: an entity's history (`Store.entity_history`) is found by its id, one
    # of an event's `subject_ids`: `subject_ids @> ARRAY[id]` uses this index.
    """
    CREATE INDEX events_by_subject ON events USING gin (subject_ids);
    """,
    # 5: consumer groups, as in the SQLite backend's migration 6.
    """
    CREATE TABLE consumer_groups (
        name text PRIMARY KEY,
        settings bytea NOT NULL,
        create_time_ns bigint NOT NULL,
        cursor bigint NOT NULL,
        delivered bigint NOT NULL,
        redelivered bigint NOT NULL,
        acked bigint NOT NULL
    );
    CREATE TABLE consumer_pending (
        group_name text NOT NULL,
        sequence bigint NOT NULL,
        entity_key text,
        member text,
        attempt integer NOT NULL,
        due_ns bigint NOT NULL,
        last_error text NOT NULL,
        PRIMARY KEY (group_name, sequence)
    );
    CREATE INDEX consumer_pending_by_due ON consumer_pending (group_name, due_ns);
    CREATE INDEX consumer_pending_by_entity ON consumer_pending (group_name, entity_key, sequence)
        WHERE entity_key IS NOT NULL;
    CREATE INDEX consumer_pending_by_member ON consumer_pending (group_name, member)
        WHERE member IS NOT NULL;
    CREATE TABLE consumer_parked (
        group_name text NOT NULL,
        sequence bigint NOT NULL,
        entity_key text,
        attempts integer NOT NULL,
        reason text NOT NULL,
        park_time_ns bigint NOT NULL,
        PRIMARY KEY (group_name, sequence)
    );
    """,
    # 6: the consumer indexes by due time and by member go, as in the SQLite
    # backend's migration 7.
    """
    DROP INDEX consumer_pending_by_due;
    DROP INDEX consumer_pending_by_member;
    """,
    # 7: the members of consumer groups, as in the SQLite backend's migration 8.
    """
    CREATE TABLE consumer_members (
        group_name text NOT NULL,
        member_id text NOT NULL,
        member_name text NOT NULL,
        address text NOT NULL,
        join_time_ns bigint NOT NULL,
        seen_ns bigint NOT NULL,
        PRIMARY KEY (group_name, member_id)
    );
    """,
    # 8: the pending events' `turn` and its index, as in the SQLite backend's
    # migration 9.
    """
    ALTER TABLE consumer_pending ADD COLUMN turn integer;
    UPDATE consumer_pending SET turn = CASE
        WHEN member IS NOT NULL THEN 2
        WHEN entity_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM consumer_pending q
            WHERE q.group_name = consumer_pending.group_name
              AND q.entity_key = consumer_pending.entity_key
              AND q.sequence < consumer_pending.sequence) THEN 1
        END;
    CREATE INDEX consumer_pending_turns ON consumer_pending (group_name, turn, sequence)
        WHERE turn IS NOT NULL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

MIGRATION_LOCK_KEY = 0x636C_6572_6B72_656C  # "clerkrel": any constant shared by every version
"""The `pg_advisory_xact_lock` key that serializes migrations across processes."""


async def migrate(conn: AsyncConnection[TupleRow]) -> str:
    """Brings the schema to SCHEMA_VERSION; safe when two processes start together.

    Everything runs in one transaction that first takes a transaction-scoped
    advisory lock on a constant key: a second process starting at the same
    time waits for the first to commit, then finds the version up to date and
    does nothing. A failed migration rolls back completely.

    Args:
        conn: A connection in autocommit mode (the transaction is explicit).

    Returns:
        The schema the tables live in.

    Raises:
        StoreError: The search path names no existing schema, or the schema
            was written by a newer clerk-relay.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        row = await (await conn.execute("SELECT current_schema()")).fetchone()
        schema: str | None = row[0] if row else None
        if schema is None:
            raise StoreError(
                "the PostgreSQL search_path names no existing schema to create the tables in"
            )
        # Kept outside the numbered migrations: it records which of them ran.
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS relay_schema ("
            " singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),"
            " version integer NOT NULL)"
        )
        row = await (await conn.execute("SELECT version FROM relay_schema")).fetchone()
        version: int = row[0] if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"PostgreSQL schema {schema!r} has schema version {version}, newer than "
                f"this clerk-relay understands ({SCHEMA_VERSION}); upgrade clerk-relay"
            )
        for number in range(version, SCHEMA_VERSION):
            # No parameters: psycopg sends it with the simple query protocol,
            # which runs every statement of the migration.
            await conn.execute(MIGRATIONS[number])
        if version < SCHEMA_VERSION:
            await conn.execute(
                "INSERT INTO relay_schema (version) VALUES (%s) "
                "ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version",
                (SCHEMA_VERSION,),
            )
    return schema
