"""The projection rules, and the plan of one append transaction, for every backend.

An entity row keeps two versions, each `(updated_at, timestamp, sequence)`:

- the *head* version: the newest event about the entity; it decides `deleted`;
- the *state* version: the newest event that carried a full state; it decides
  `state`.

Both only ever move forward (a max), so the final projection does not depend on
the order events arrive in: a delete leaves a tombstone that an older update
cannot resurrect, yet the tombstone still gets the last state seen before the
delete even when that update arrives after it. An event older than the head is
*stale*: it is logged and broadcast, flagged, and does not change `deleted`.

`plan_batch` is the pure part of an append transaction: given what the backend
read (known webhook ids, current rows) it decides sequences, duplicates,
stale flags, the log rows to insert and the entity rows to write.

The objects an append makes for each event (`Pending` with its facts, the
`LogRow`, the `EntityRow`) are slotted dataclasses that nothing changes once
made, yet not frozen: a frozen one costs three times as much to construct
(1.97 against 0.68 µs for six fields, CPython 3.11), and an append makes five
per event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from clerkrelay.kinds import KIND_BY_NAME, ListFilters
from clerkrelay.v1.event_pb2 import Event
from service.storage.facts import EntityChange, EventFacts, facts_of
from service.storage.interface import AppendResult, EntityRecord, StoredEvent

__all__ = [
    "BatchPlan",
    "EntityRow",
    "Pending",
    "Version",
    "apply_change",
    "plan_batch",
    "prepare",
]

Version = tuple[int, int, int]
"""(updated_at, timestamp, sequence): later is newer."""

_NO_VERSION: Version = (-1, -1, -1)


@dataclass(slots=True)  # not frozen: see the module's docstring
class EntityRow:
    """One row of the projection, with the versions that order its updates."""

    kind: str
    id: str
    state: bytes
    deleted: bool
    event_sequence: int
    head_version: Version
    state_version: Version
    index: ListFilters

    @property
    def updated_at(self) -> int:
        """The head event's `updated_at` (a delete's timestamp for a tombstone)."""
        return self.head_version[0]

    def record(self) -> EntityRecord:
        """The row as the store interface returns it."""
        return EntityRecord(
            self.kind, self.id, self.state, self.deleted, self.event_sequence, self.updated_at
        )


def _placeholder_state(kind: str, entity_id: str) -> bytes:
    """The state of a tombstone whose entity was never seen: only its id."""
    return KIND_BY_NAME[kind].state(id=entity_id).SerializeToString(deterministic=True)


def apply_change(
    row: EntityRow | None, change: EntityChange, sequence: int
) -> tuple[EntityRow | None, bool]:
    """Applies one event's change to an entity row.

    Args:
        row: The current row, or None if the entity was never seen.
        change: What the event says about the entity.
        sequence: The event's sequence.

    Returns:
        The new row (None when nothing changed) and whether the event is stale.
    """
    version: Version = (change.updated_at, change.timestamp, sequence)
    state: bytes | None  # a never-seen entity gets a placeholder unless this event has state
    if row is None:
        state, state_version, index = None, _NO_VERSION, None
        head_version, deleted = _NO_VERSION, False
    else:
        state, state_version, index = row.state, row.state_version, row.index
        head_version, deleted = row.head_version, row.deleted
    stale = version < head_version
    takes_state = change.state is not None and version > state_version
    takes_head = version > head_version
    if not (takes_state or takes_head):
        return None, stale
    if takes_state:
        assert change.state is not None
        state, state_version, index = change.state, version, change.index
    if takes_head:
        head_version, deleted = version, change.delete
    new = EntityRow(
        kind=change.kind,
        id=change.id,
        state=state if state is not None else _placeholder_state(change.kind, change.id),
        deleted=deleted,
        event_sequence=sequence,
        head_version=head_version,
        state_version=state_version,
        index=index or ListFilters(),
    )
    return new, stale


@dataclass(slots=True)  # not frozen: see the module's docstring
class Pending:
    """An event waiting to be appended, with its facts computed outside the transaction."""

    event: Event
    facts: EventFacts


def prepare(event: Event) -> Pending:
    """Computes what the append transaction needs to know about an event."""
    return Pending(event, facts_of(event))


@dataclass(slots=True)  # not frozen: see the module's docstring
class LogRow:
    """A row to insert into the log: the stored event and its webhook id."""

    webhook_id: str
    stored: StoredEvent


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """Everything one append transaction writes, and what each caller is told."""

    results: list[AppendResult]
    log_rows: list[LogRow]
    entity_rows: list[EntityRow]
    head: int


def plan_batch(
    batch: Sequence[Pending],
    head: int,
    head_received_ns: int,
    known_ids: Mapping[str, int],
    rows: Mapping[tuple[str, str], EntityRow],
) -> BatchPlan:
    """Plans one append transaction.

    Args:
        batch: The events, in the order their callers asked.
        head: The highest committed sequence.
        head_received_ns: The receive time of the event at `head` (0 for an
            empty log).
        known_ids: Sequence of every webhook id of the batch already stored.
        rows: The current projection row of every entity the batch touches.

    Returns:
        The plan. Each event not already stored gets the next sequence; its
        `sequence` and `stale` fields are set on the `Event` itself, and so is
        its `receive_time` when it is earlier than the previous event's: the
        log's receive times never decrease, so a time maps to a sequence by a
        binary search (see `Store.sequence_before`) and needs no index. Only
        events received concurrently move, by the time the later one took to
        reach the store (milliseconds).
    """
    seen = dict(known_ids)
    current = dict(rows)
    changed: dict[tuple[str, str], EntityRow] = {}
    results: list[AppendResult] = []
    log_rows: list[LogRow] = []
    for pending in batch:
        event = pending.event
        if event.id in seen:
            results.append(AppendResult(seen[event.id], duplicate=True, stale=False))
            continue
        head += 1
        seen[event.id] = head
        received = event.receive_time  # not ToNanoseconds: its checks cost a tenth of the plan
        received_ns = received.seconds * 1_000_000_000 + received.nanos
        if received_ns < head_received_ns:
            event.receive_time.FromNanoseconds(head_received_ns)
            received_ns = head_received_ns
        head_received_ns = received_ns
        stale = False
        change = pending.facts.change
        if change is not None:
            key = (change.kind, change.id)
            row, stale = apply_change(current.get(key), change, head)
            if row is not None:
                current[key] = changed[key] = row
        event.sequence = head
        event.stale = stale
        facts = pending.facts
        stored = StoredEvent(
            sequence=head,
            type=event.type,
            subject_ids=facts.subject_ids,
            organization_id=facts.organization_id,
            receive_time_ns=received_ns,
            data=event.SerializeToString(),
        )
        log_rows.append(LogRow(event.id, stored))
        results.append(AppendResult(head, duplicate=False, stale=stale))
    return BatchPlan(results, log_rows, list(changed.values()), head)
