"""The SQLite schema, as numbered migrations applied in order at start-up."""

from __future__ import annotations

import sqlite3

from service.storage.interface import StoreError

__all__ = ["SCHEMA_VERSION", "migrate"]

# Each entry takes the schema from version i to i + 1. Never edit one that has
# shipped: append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE relay_meta (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO relay_meta (key, value) VALUES
        ('head', 0), ('trimmed_through', 0), ('trimmed_time_ns', 0);

    -- Every webhook id ever accepted: dedup is permanent, even after the log is trimmed.
    CREATE TABLE deliveries (
        webhook_id TEXT PRIMARY KEY,
        sequence INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE events (
        sequence INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        subject_ids TEXT NOT NULL,
        organization_id TEXT NOT NULL,
        receive_time_ns INTEGER NOT NULL,
        data BLOB NOT NULL
    );
    CREATE INDEX events_by_receive_time ON events (receive_time_ns);

    CREATE TABLE entities (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        state BLOB NOT NULL,
        deleted INTEGER NOT NULL,
        event_sequence INTEGER NOT NULL,
        head_updated_at INTEGER NOT NULL,
        head_timestamp INTEGER NOT NULL,
        head_sequence INTEGER NOT NULL,
        state_updated_at INTEGER NOT NULL,
        state_timestamp INTEGER NOT NULL,
        state_sequence INTEGER NOT NULL,
        organization_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        subscription_id TEXT NOT NULL,
        payer_id TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    ) WITHOUT ROWID;
    CREATE INDEX entities_by_organization ON entities (kind, organization_id, id);
    CREATE INDEX entities_by_user ON entities (kind, user_id, id);
    CREATE INDEX entities_by_subscription ON entities (kind, subscription_id, id);
    CREATE INDEX entities_by_payer ON entities (kind, payer_id, id);
    """,
    # 2: entities become a rowid table (a WITHOUT ROWID table moves whole ~1.5 KB
    # rows on every page split), and each lookup index holds only the rows that
    # have its column (NULL, not '', when absent): a user's event no longer
    # writes four index entries it can never be listed by. About 3× less CPU
    # per appended event (bench: store appends).
    """
    CREATE TABLE entities_v2 (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        state BLOB NOT NULL,
        deleted INTEGER NOT NULL,
        event_sequence INTEGER NOT NULL,
        head_updated_at INTEGER NOT NULL,
        head_timestamp INTEGER NOT NULL,
        head_sequence INTEGER NOT NULL,
        state_updated_at INTEGER NOT NULL,
        state_timestamp INTEGER NOT NULL,
        state_sequence INTEGER NOT NULL,
        organization_id TEXT,
        user_id TEXT,
        subscription_id TEXT,
        payer_id TEXT,
        UNIQUE (kind, id)
    );
    INSERT INTO entities_v2
        SELECT kind, id, state, deleted, event_sequence,
            head_updated_at, head_timestamp, head_sequence,
            state_updated_at, state_timestamp, state_sequence,
            NULLIF(organization_id, ''), NULLIF(user_id, ''),
            NULLIF(subscription_id, ''), NULLIF(payer_id, '')
        FROM entities ORDER BY kind, id;
    DROP TABLE entities;
    ALTER TABLE entities_v2 RENAME TO entities;
    CREATE INDEX entities_by_organization ON entities (kind, organization_id, id)
        WHERE organization_id IS NOT NULL;
    CREATE INDEX entities_by_user ON entities (kind, user_id, id)
        WHERE user_id IS NOT NULL;
    CREATE INDEX entities_by_subscription ON entities (kind, subscription_id, id)
        WHERE subscription_id IS NOT NULL;
    CREATE INDEX entities_by_payer ON entities (kind, payer_id, id)
        WHERE payer_id IS NOT NULL;
    """,
    # 3: two pages fewer per commit. The head is no longer stored: it is the
    # last sequence in the log (or the last trimmed one). Receive times no
    # longer have an index: they never decrease along the log, so a time is
    # found by a binary search over the sequences.
    """
    DELETE FROM relay_meta WHERE key = 'head';
    DROP INDEX events_by_receive_time;
    """,
    # 4: reconciliation passes record their progress, so that a pass resumes
    # after a restart (`service.storage.passes`).
    """
    CREATE TABLE reconcile_passes (
        pass_id TEXT PRIMARY KEY,
        trigger TEXT NOT NULL,
        allow_mass_delete INTEGER NOT NULL,
        max_delete_share REAL NOT NULL,
        status TEXT NOT NULL,
        started_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    );
    CREATE INDEX reconcile_passes_running ON reconcile_passes (started_at_ms)
        WHERE status = 'running';
    CREATE TABLE reconcile_pass_kinds (
        pass_id TEXT NOT NULL,
        ordinal INTEGER NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        position TEXT NOT NULL,
        head_at_start INTEGER NOT NULL,
        counts TEXT NOT NULL,
        PRIMARY KEY (pass_id, kind)
    ) WITHOUT ROWID;
    """,
    # 5: an entity's history (`Store.entity_history`) is found by its id: one
    # row per subject of each event, in id then sequence order. The rows of
    # the events already stored are filled in from their `subject_ids`.
    """
    CREATE TABLE event_subjects (
        subject_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        PRIMARY KEY (subject_id, sequence)
    ) WITHOUT ROWID;
    WITH RECURSIVE split (sequence, word, rest) AS (
        SELECT sequence, '', subject_ids || ' ' FROM events
        UNION ALL
        SELECT sequence, substr(rest, 1, instr(rest, ' ') - 1), substr(rest, instr(rest, ' ') + 1)
        FROM split WHERE rest != ''
    )
    INSERT OR IGNORE INTO event_subjects (subject_id, sequence)
        SELECT word, sequence FROM split WHERE word != '';
    """,
    # 6: consumer groups (`service.storage.consumer_records`): the groups, their
    # pending events (waiting, or in flight with a member and an ack deadline)
    # and their parked events. A group's position is derived from them.
    """
    CREATE TABLE consumer_groups (
        name TEXT PRIMARY KEY,
        settings BLOB NOT NULL,
        create_time_ns INTEGER NOT NULL,
        cursor INTEGER NOT NULL,
        delivered INTEGER NOT NULL,
        redelivered INTEGER NOT NULL,
        acked INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE consumer_pending (
        group_name TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        entity_key TEXT,
        member TEXT,
        attempt INTEGER NOT NULL,
        due_ns INTEGER NOT NULL,
        last_error TEXT NOT NULL,
        PRIMARY KEY (group_name, sequence)
    ) WITHOUT ROWID;
    CREATE INDEX consumer_pending_by_due ON consumer_pending (group_name, due_ns);
    CREATE INDEX consumer_pending_by_entity ON consumer_pending (group_name, entity_key, sequence)
        WHERE entity_key IS NOT NULL;
    CREATE INDEX consumer_pending_by_member ON consumer_pending (group_name, member)
        WHERE member IS NOT NULL;
    CREATE TABLE consumer_parked (
        group_name TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        entity_key TEXT,
        attempts INTEGER NOT NULL,
        reason TEXT NOT NULL,
        park_time_ns INTEGER NOT NULL,
        PRIMARY KEY (group_name, sequence)
    ) WITHOUT ROWID;
    """,
    # 7: a pending event is looked up by its group and sequence (the primary
    # key) or by its entity; the indexes by due time and by member cost two
    # B-tree writes each when an event is claimed and when it is acked, and
    # served only scans bounded by the group's pending set (at most 10,000
    # events examined ahead): about 1.5× the claims and acks per second.
    """
    DROP INDEX consumer_pending_by_due;
    DROP INDEX consumer_pending_by_member;
    """,
    # 8: the members of consumer groups, as each process connected to them
    # last said (`ConsumerState.members_seen`), so that a group's figures
    # list every process's members.
    """
    CREATE TABLE consumer_members (
        group_name TEXT NOT NULL,
        member_id TEXT NOT NULL,
        member_name TEXT NOT NULL,
        address TEXT NOT NULL,
        join_time_ns INTEGER NOT NULL,
        seen_ns INTEGER NOT NULL,
        PRIMARY KEY (group_name, member_id)
    ) WITHOUT ROWID;
    """,
    # 9: per-entity claims examine only the pending events whose `turn` is
    # set (`service.storage.consumer_state`), by an index of their own: each
    # entity's earliest pending event (1) and the events members hold (2).
    # The pending events written before get theirs here.
    """
    ALTER TABLE consumer_pending ADD COLUMN turn INTEGER;
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


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Brings the database to SCHEMA_VERSION; safe when two processes start together.

    `BEGIN IMMEDIATE` takes the write lock before reading the version, so a
    second process waits, then finds the work done.

    Raises:
        StoreError: The database was written by a newer clerk-relay.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{path} has schema version {version}, newer than this clerk-relay "
                f"understands ({SCHEMA_VERSION}); upgrade clerk-relay"
            )
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
