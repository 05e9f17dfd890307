"""What an event is about: its subjects, its organization, and the entity it changes.

Computed once per event when it is appended, from its typed payload, and
stored beside it so that filters and the projection never parse events again.
Its dataclasses are not frozen, for the cost of constructing them (see
`service.storage.projection`); nothing changes them once made.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message

from clerkrelay.kinds import KIND_BY_FAMILY, ListFilters
from clerkrelay.v1.deleted_object_pb2 import DeletedObject
from clerkrelay.v1.event_pb2 import Event
from clerkrelay.v1.organizations_pb2 import OrganizationInvitation

__all__ = ["EntityChange", "EventFacts", "facts_of"]

_NO_LINKS = ListFilters()


@dataclass(slots=True)  # not frozen: see the module's docstring
class EntityChange:
    """How one event changes one entity.

    Attributes:
        kind: The entity kind.
        id: Clerk's id of the entity.
        delete: The event deletes the entity (leaves a tombstone).
        state: The full state the event carries, serialized deterministically;
            None for a `DeletedObject`, which carries only ids.
        index: The state's listed links (its lookup columns).
        updated_at: The state's `data.updated_at`, or the envelope timestamp
            when the payload has none (deletes).
        timestamp: The envelope timestamp (ms), 0 when absent.
    """

    kind: str
    id: str
    delete: bool
    state: bytes | None
    index: ListFilters
    updated_at: int
    timestamp: int


@dataclass(slots=True)  # not frozen: see the module's docstring
class EventFacts:
    """What the log stores beside an event for filtering, and its projection change."""

    subject_ids: tuple[str, ...]
    organization_id: str
    change: EntityChange | None


def facts_of(event: Event) -> EventFacts:
    """Computes the facts of a typed event (an unknown type has none)."""
    case = event.WhichOneof("payload")
    if case is None:
        return EventFacts((), "", None)
    payload: Message = getattr(event, case)
    family, _, action = event.type.partition(".")
    entity_id: str = getattr(payload, "id", "")
    kind = KIND_BY_FAMILY.get(family)

    change = None
    index, user_id = _NO_LINKS, ""
    if kind is not None and entity_id:
        state = None if isinstance(payload, DeletedObject) else _state_of(payload, action)
        if state is not None:
            index, user_id = kind.read_links(state)
        change = EntityChange(
            kind=kind.name,
            id=entity_id,
            delete=action == "deleted",
            state=None if state is None else state.SerializeToString(deterministic=True),
            index=index,
            updated_at=_updated_at(payload, event.timestamp),
            timestamp=event.timestamp,
        )

    organization_id = entity_id if family == "organization" else index.organization_id
    subjects = [entity_id] if entity_id else []
    if user_id and user_id != entity_id:
        subjects.append(user_id)
    return EventFacts(tuple(subjects), organization_id, change)


def _updated_at(payload: Message, timestamp: int) -> int:
    """`data.updated_at` when the payload has one, else the envelope timestamp."""
    if "updated_at" in payload.DESCRIPTOR.fields_by_name and payload.HasField("updated_at"):
        updated_at: int = getattr(payload, "updated_at", timestamp)
        return updated_at
    return timestamp


_INVITATION_STATUS = {"accepted": "accepted", "revoked": "revoked"}


def _state_of(payload: Message, action: str) -> Message:
    """The entity state an event carries: an accepted (or revoked) invitation says so."""
    status = _INVITATION_STATUS.get(action)
    if isinstance(payload, OrganizationInvitation) and status and payload.status != status:
        marked = OrganizationInvitation()
        marked.CopyFrom(payload)
        marked.status = status
        return marked
    return payload
