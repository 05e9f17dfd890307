"""The SQL of consumer groups that both backends run (`service.storage.consumer_state` runs it).

Written once for SQLite and PostgreSQL: `?` placeholders (the PostgreSQL
backend turns them into `%s`), and only what both dialects read alike.
"""

from __future__ import annotations

import functools

__all__ = [
    "GROUP_COLUMNS",
    "MEMBERS",
    "NEXT_TURN",
    "PARK",
    "RENEW_TURNS",
    "TURN_HANDED",
    "TURN_NEXT",
    "claim_sql",
    "next_turns_if_changed",
]

GROUP_COLUMNS = "name, settings, create_time_ns, cursor, delivered, redelivered, acked"
"""The columns of `consumer_groups`, in `GroupRow`'s order."""

_CLAIMABLE = """
    SELECT p.sequence, p.attempt, p.member, p.last_error, e.data, p.entity_key
    FROM consumer_pending p LEFT JOIN events e ON e.sequence = p.sequence
    WHERE p.group_name = ? AND p.due_ns <= ? {guard}
    ORDER BY p.sequence LIMIT ?
"""
TURN_NEXT = 1
"""`turn` of a pending event that is its entity's earliest (or has no entity)."""
TURN_HANDED = 2
"""`turn` of a pending event a member has held (or holds)."""

# Among the events whose turn is set only (see `service.storage.consumer_state`): no
# earlier event of the entity pending (in flight or not: a lookup on the
# entity's index), and no event of the entity in flight (a replayed parked
# event comes back behind the events that went on without it). Every event in
# flight has been handed, so the keys in flight are read from the handed
# events, once per claim. Both sets are read first, from the index of `turn`
# alone (`MATERIALIZED`): asked for the events whose turn is set directly,
# SQLite walks the group's whole pending set by its primary key, and so does
# PostgreSQL before the table has statistics.
_PER_ENTITY_CLAIMABLE = f"""
    WITH turns AS MATERIALIZED (
        SELECT t.sequence FROM consumer_pending t
        WHERE t.group_name = ? AND t.turn >= {TURN_NEXT}),
    handed AS MATERIALIZED (
        SELECT h.sequence FROM consumer_pending h
        WHERE h.group_name = ? AND h.turn = {TURN_HANDED})
    SELECT p.sequence, p.attempt, p.member, p.last_error, e.data, p.entity_key
    FROM consumer_pending p LEFT JOIN events e ON e.sequence = p.sequence
    WHERE p.group_name = ? AND p.due_ns <= ? AND p.sequence IN (SELECT sequence FROM turns)
    AND (p.entity_key IS NULL OR (
        NOT EXISTS (
            SELECT 1 FROM consumer_pending q
            WHERE q.group_name = p.group_name AND q.entity_key = p.entity_key
              AND q.sequence < p.sequence)
        AND p.entity_key NOT IN (
            SELECT f.entity_key FROM consumer_pending f
            WHERE f.group_name = ? AND f.sequence IN (SELECT sequence FROM handed)
              AND f.member IS NOT NULL AND f.due_ns > ? AND f.entity_key IS NOT NULL))) {{guard}}
    ORDER BY p.sequence LIMIT ?
"""
# Every pending event's turn, from scratch (as the migrations that added `turn` did).
RENEW_TURNS = f"""
    UPDATE consumer_pending SET turn = CASE
        WHEN member IS NOT NULL THEN {TURN_HANDED}
        WHEN entity_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM consumer_pending q
            WHERE q.group_name = consumer_pending.group_name
              AND q.entity_key = consumer_pending.entity_key
              AND q.sequence < consumer_pending.sequence) THEN {TURN_NEXT}
        END
    WHERE group_name = ?
"""
# Sets the turn of an entity's earliest pending event, once an event of it has gone.
NEXT_TURN = f"""
    UPDATE consumer_pending SET turn = {TURN_NEXT}
    WHERE group_name = ? AND turn IS NULL AND sequence = (
        SELECT min(q.sequence) FROM consumer_pending q
        WHERE q.group_name = ? AND q.entity_key = ?)
"""
# The group's settings are those given (parameters: group, settings): a round's check that its
# process has read every update to them (`ConsumerState.settle_and_claim`).
_SETTINGS_ARE = "EXISTS (SELECT 1 FROM consumer_groups g WHERE g.name = ? AND g.settings = ?)"


def next_turns_if_changed(keys: int) -> str:
    """`NEXT_TURN` for `keys` entities at once, only if the group's settings have changed.

    The group may order per entity now (a turn on an event of a group that does
    not is ignored). While the settings are those given, the statement changes
    nothing. Parameters: group, group, settings, group, the entity keys.
    """
    return f"""
    UPDATE consumer_pending SET turn = {TURN_NEXT}
    WHERE group_name = ? AND turn IS NULL AND NOT {_SETTINGS_ARE} AND sequence IN (
        SELECT min(q.sequence) FROM consumer_pending q
        WHERE q.group_name = ? AND q.entity_key IN ({",".join("?" * keys)})
        GROUP BY q.entity_key)
"""


MEMBERS = """
    SELECT m.member_id, m.member_name, m.address, m.join_time_ns,
        (SELECT count(*) FROM consumer_pending p
         WHERE p.group_name = m.group_name AND p.member = m.member_id)
    FROM consumer_members m
    WHERE m.group_name = ? AND m.seen_ns >= ?
    ORDER BY m.join_time_ns, m.member_id
"""
"""A group's members recorded since a time, each with how many events it holds."""
PARK = (
    "INSERT INTO consumer_parked (group_name, sequence, entity_key, attempts, reason, "
    "park_time_ns) SELECT group_name, sequence, entity_key, attempt, ?, ? "
    "FROM consumer_pending WHERE group_name = ? AND sequence = ?"
)
"""Copies a pending event into the parked set, with a reason and a time (the caller deletes it)."""


@functools.cache
def claim_sql(per_entity: bool, guarded: bool = False) -> str:
    """The claim's query: the eligible events, lowest sequence first, with their data.

    Parameters: group, now, limit; with `per_entity` group, group, group, now,
    group, now, limit. `guarded`: nothing is eligible unless the group's
    settings are those given; two more parameters, group and settings, before
    the limit.
    """
    query = _PER_ENTITY_CLAIMABLE if per_entity else _CLAIMABLE
    return query.format(guard=f"AND {_SETTINGS_ARE}" if guarded else "")
