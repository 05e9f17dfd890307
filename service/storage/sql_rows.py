"""The SQL shape of the log and the projection, shared by the SQLite and PostgreSQL stores.

Both backends have the same `events` and `entities` tables; only their
parameter placeholders (`?` and `%s`) and some column types differ. An entity's
lookup columns (organization, user, subscription, payer) hold NULL when it has
none, so the partial indexes on them skip it.
"""

from __future__ import annotations

from typing import Any

from clerkrelay.kinds import FILTER_FIELDS, ListFilters
from service.storage.interface import EntityQuery
from service.storage.projection import EntityRow

__all__ = [
    "ENTITY_COLUMNS",
    "ENTITY_COLUMN_NAMES",
    "EVENT_COLUMNS",
    "entity_from_row",
    "entity_list_sql",
    "entity_to_row",
    "entity_upsert_sql",
    "event_columns",
    "family_condition",
    "head_received_sql",
    "live_sequences_sql",
    "places",
]

ENTITY_COLUMN_NAMES: tuple[str, ...] = (
    "kind",
    "id",
    "state",
    "deleted",
    "event_sequence",
    "head_updated_at",
    "head_timestamp",
    "head_sequence",
    "state_updated_at",
    "state_timestamp",
    "state_sequence",
    *FILTER_FIELDS,  # the lookup columns: one per list filter
)
ENTITY_COLUMNS = ", ".join(ENTITY_COLUMN_NAMES)
_EVENT_FACT_COLUMNS = "sequence, type, subject_ids, organization_id, receive_time_ns"
EVENT_COLUMNS = f"{_EVENT_FACT_COLUMNS}, data"


def event_columns(with_data: bool, empty_data: str) -> str:
    """`EVENT_COLUMNS`, or the same with `empty_data` (the backend's empty blob) for `data`."""
    return EVENT_COLUMNS if with_data else f"{_EVENT_FACT_COLUMNS}, {empty_data}"


def places(columns: str, mark: str) -> str:
    """One parameter mark (`?`, `%s`) per column of `columns`, comma-separated."""
    return ", ".join(mark for _ in columns.split(","))


def entity_from_row(row: tuple[Any, ...]) -> EntityRow:
    """An `entities` row (columns in `ENTITY_COLUMNS` order) as an `EntityRow`."""
    return EntityRow(
        kind=row[0],
        id=row[1],
        state=row[2],
        deleted=bool(row[3]),
        event_sequence=row[4],
        head_version=(row[5], row[6], row[7]),
        state_version=(row[8], row[9], row[10]),
        index=ListFilters(*(value or "" for value in row[11:])),
    )


def entity_to_row(e: EntityRow) -> tuple[object, ...]:
    """An `EntityRow` as the values of an `entities` row, in `ENTITY_COLUMNS` order."""
    return (
        e.kind,
        e.id,
        e.state,
        e.deleted,
        e.event_sequence,
        *e.head_version,
        *e.state_version,
        *(value or None for value in e.index.values()),
    )


def entity_upsert_sql(placeholder: str) -> str:
    """The statement that writes an entity's row, inserting it or updating it in place.

    In place, not `INSERT OR REPLACE`: on SQLite, replacing deletes the old row
    and inserts a new one under a new rowid, which writes three B-tree pages
    (the old row's, the new row's and the `(kind, id)` index's) where an
    update writes one. Per `user.updated` of an existing user, measured on a
    store of 20,000 users: 65 → 49 KB written one event a commit, 49 → 35 KB
    in commits of 25 (WAL frames and their checkpoint).
    """
    return (
        f"INSERT INTO entities ({ENTITY_COLUMNS}) "
        f"VALUES ({places(ENTITY_COLUMNS, placeholder)}) "
        "ON CONFLICT (kind, id) DO UPDATE SET "
        + ", ".join(f"{name} = excluded.{name}" for name in ENTITY_COLUMN_NAMES[2:])
    )


def head_received_sql(head: str) -> str:
    """The statement that reads the receive time of the event at the head.

    Args:
        head: The SQL expression of the head's sequence: a placeholder, or a
            subquery.

    When trimming took that event, the latest trimmed receive time stands in.
    """
    return (
        f"SELECT coalesce((SELECT receive_time_ns FROM events WHERE sequence = {head}), "
        "(SELECT value FROM relay_meta WHERE key = 'trimmed_time_ns'))"
    )


def entity_list_sql(query: EntityQuery, placeholder: str) -> tuple[str, list[object]]:
    """The statement and parameters that list one page of entities, in id order."""
    clauses = [f"kind = {placeholder}"]
    params: list[object] = [query.kind]
    for column, value in zip(FILTER_FIELDS, query.filters.values(), strict=True):
        if value:
            clauses.append(f"{column} = {placeholder}")
            params.append(value)
    if not query.show_deleted:
        clauses.append("NOT deleted")
    if query.after_id:
        clauses.append(f"id > {placeholder}")
        params.append(query.after_id)
    params.append(query.limit)
    statement = (
        f"SELECT {ENTITY_COLUMNS} FROM entities WHERE {' AND '.join(clauses)} "
        f"ORDER BY id LIMIT {placeholder}"
    )
    return statement, params


def live_sequences_sql(placeholder: str) -> str:
    """The statement of `Store.live_sequences`: kind, after id and limit are its parameters."""
    return (
        f"SELECT id, event_sequence FROM entities WHERE kind = {placeholder} AND NOT deleted "
        f"AND id > {placeholder} ORDER BY id LIMIT {placeholder}"
    )


def family_condition(
    families: tuple[str, ...], column: str, placeholder: str
) -> tuple[str, list[str]]:
    """A condition that `column` (an event type) is in one of `families`, and its parameters.

    `substr` rather than `LIKE`: SQLite's `LIKE` ignores case, and `_` in a
    family would be a wildcard. Empty `families` is no condition (`TRUE`).
    """
    if not families:
        return "1 = 1", []
    terms = [f"substr({column}, 1, {len(family) + 1}) = {placeholder}" for family in families]
    return "(" + " OR ".join(terms) + ")", [f"{family}." for family in families]
