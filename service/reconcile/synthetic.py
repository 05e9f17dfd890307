"""Synthetic events: a reconciliation pass's repairs, shaped like the webhooks they stand for.

A pass appends one event per change it makes to the mirror, so subscribers
learn about repairs as they learn about webhooks. Each event is built as a
webhook would have been:

- `type` is the one Clerk's webhook for that change has: `<family>.created`
  for an entity the mirror never saw, `<family>.updated` for changed state,
  `<family>.deleted` for a removal. Invitations have no `.updated`: theirs is
  named by their status (`organizationInvitation.accepted`, `.revoked`), and
  `.created` otherwise (pending, expired), the type that carries a live
  invitation's state.
- `raw_body` is an envelope the relay builds around the API object:
  `{"data": <object>, "object": "event", "type": ..., "timestamp": <ms>}`, the
  timestamp being when the object was listed. The typed payload is converted
  from it by the webhook converter (`gateway.convert`), so an object that does
  not fit the contract is handled as a webhook's data would be: keys the
  contract does not type are skipped (still in `raw_body`), and a payload that
  cannot be built safely is left out with `payload_omission` saying why.
- A deletion's data is Clerk's `DeletedObject`, `{id, object, deleted: true}`,
  except for memberships, whose `.deleted` webhook carries the whole
  membership: theirs is the mirror's last state, written back as Clerk's JSON.
  Its timestamp is the listing's time, and later than the entity's last known
  `updated_at`, so that it is newer than everything the mirror holds.
- `origin` is `EVENT_ORIGIN_RECONCILIATION` and `reconcile_pass` the pass id.
- `id` is `reconcile_<pass>_<kind>_<entity id>_<updated_at>` (`_deleted` for a
  deletion): never a `svix-id` (those start `msg_`), and deterministic, so the
  same pass run twice appends each change once (the store dedups by id). An
  object without a typed payload never reaches the mirror, so every pass
  would see it as new: its id is `reconcile_raw_<kind>_<entity id>_<digest of
  its JSON>`, with no pass in it, and it is stored once per version.

Where the Backend API's objects differ from the webhook's `data` (see
`tests/reconcile/double_objects.py` and Clerk's Backend API spec,
`tests/fixtures/openapi/bapi-2026-05-12.yml`):
waitlist entries say `object: "waitlist_entry"` (the webhook `waitlistEntry`);
organization domains add `affiliation_verification`/`ownership_verification`
beside `verification` (untyped: kept in `raw_body` only); subscription items
are `commerce_subscription_item`s, with `plan_period` for `interval`, a
`CommercePlan` for the plan, and no `subscription_id`, so a snapshot of an
item would lose the link to its subscription that a webhook's state had: a
snapshot takes such links from the mirror's record (`with_mirror_links`),
into its `raw_body` and its typed state alike.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from clerkrelay.catalog import EVENT_TYPES
from clerkrelay.clerk_json import to_clerk_dict
from clerkrelay.kinds import KIND_BY_NAME, EntityKind
from clerkrelay.limits import MAX_WEBHOOK_ID_BYTES
from clerkrelay.v1.event_pb2 import Event, EventOrigin
from gateway.convert import convert
from gateway.json_text import json_text
from service.storage import EntityRecord

__all__ = [
    "RECONCILE_ID_PREFIX",
    "Change",
    "Snapshot",
    "change_type",
    "check_pass_id",
    "deletable",
    "deleted_event",
    "snapshot",
    "with_mirror_links",
]

RECONCILE_ID_PREFIX = "reconcile_"
"""How the id of every event a pass makes begins (a `svix-id` begins `msg_`)."""

_PASS_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_INVITATION_STATUS_TYPES = {"accepted": "accepted", "revoked": "revoked"}
_MEMBERSHIP = "organization_membership"
_INT64_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)

ApiObject = dict[str, Any]

_RECONCILIATION = EventOrigin.EVENT_ORIGIN_RECONCILIATION  # a protobuf enum's value costs 1.3 µs
_LINKS_THE_API_LACKS: Mapping[str, tuple[str, ...]] = {"subscription_item": ("subscription_id",)}
"""Per kind, the links a webhook's object carries and the Backend API's lacks. A
subscription item never moves to another subscription, so the mirror's link
stays true."""


class Change(enum.Enum):
    """What a pass does to one entity of the mirror."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


def check_pass_id(pass_id: str) -> None:
    """Checks a pass id: 1–64 of `A-Z a-z 0-9 . _ : -`, a letter or a digit first.

    Raises:
        ValueError: It is not.
    """
    if not _PASS_ID.fullmatch(pass_id):
        raise ValueError(f"a pass id is 1 to 64 of A-Z a-z 0-9 . _ : - , not {pass_id!r}")


def change_type(kind: EntityKind, change: Change, item: Mapping[str, Any]) -> str:
    """The type of the webhook Clerk sends for `change` of `item` (see the module's docstring).

    Raises:
        ValueError: Clerk has no webhook for that change of that kind.
    """
    action = change.value
    if kind.family == "organizationInvitation" and change is not Change.DELETED:
        action = _INVITATION_STATUS_TYPES.get(str(item.get("status")), "created")
    event_type = f"{kind.family}.{action}"
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Clerk sends no {event_type} webhook")
    return event_type


def deletable(kind: EntityKind) -> bool:
    """Whether Clerk has a `.deleted` webhook for the kind.

    Invitations, waitlist entries and subscription items have none: they
    change status instead.
    """
    return f"{kind.family}.deleted" in EVENT_TYPES


@dataclass(slots=True)  # not frozen: a frozen one costs three times as much to build
class Snapshot:
    """One API object, as the event that would create it in the mirror.

    Attributes:
        kind: The registry's kind.
        item: The object as the Backend API sent it.
        event: Its `.created` event (the status's type for an invitation).
        payload: The typed state (within `event`); None when the conversion
            left it out.
        updated_at: The object's `updated_at` (typed, or read from `item` when
            the payload was left out); None when it has none.
        listed_at_ms: When it was listed; the envelope's timestamp.
    """

    kind: EntityKind
    item: ApiObject
    event: Event
    payload: Message | None
    updated_at: int | None
    listed_at_ms: int

    @property
    def id(self) -> str:
        """The entity's id."""
        return str(self.item["id"])

    @property
    def state(self) -> bytes | None:
        """The typed state, serialized as the store keeps it; None when it was left out.

        Serialized when asked (only an object the mirror holds is compared), not
        with every snapshot.
        """
        return None if self.payload is None else self.payload.SerializeToString(deterministic=True)

    def event_for(self, change: Change, pass_id: str) -> Event:
        """The event that makes `change` (created or updated) from this snapshot."""
        event_type = change_type(self.kind, change, self.item)
        if event_type == self.event.type:
            return self.event
        return _build(self.kind, self.item, event_type, self.listed_at_ms, pass_id)


def snapshot(kind: str, item: ApiObject, pass_id: str, listed_at_ms: int) -> Snapshot:
    """Converts one API object of `kind` (a registry name) listed at `listed_at_ms`."""
    entity_kind = KIND_BY_NAME[kind]
    event_type = change_type(entity_kind, Change.CREATED, item)
    event = _build(entity_kind, item, event_type, listed_at_ms, pass_id)
    case = event.WhichOneof("payload")
    payload: Message | None = None
    updated_at: int | None = None
    if case is not None:
        typed: Message = getattr(event, case)
        if _has_updated_at(typed.DESCRIPTOR) and typed.HasField("updated_at"):
            updated_at = typed.updated_at  # type: ignore[attr-defined]
        payload = typed
    elif isinstance(item.get("updated_at"), int):
        updated_at = item["updated_at"]
    return Snapshot(entity_kind, item, event, payload, updated_at, listed_at_ms)


@functools.cache
def _has_updated_at(descriptor: Descriptor) -> bool:
    """Whether a message type has an `updated_at` field (looked up once per type)."""
    return "updated_at" in descriptor.fields_by_name


def with_mirror_links(kind: str, item: ApiObject, record: EntityRecord | None) -> ApiObject:
    """`item` (of `kind`, a registry name) with the links the API lacks, from the mirror's record.

    A link the item has (not null) is kept; so is an item whose kind lacks none.
    """
    names = _LINKS_THE_API_LACKS.get(kind, ())
    if record is None or not names:
        return item
    state = KIND_BY_NAME[kind].state.FromString(record.state)
    links = {
        name: getattr(state, name)
        for name in names
        if item.get(name) is None and state.HasField(name)
    }
    return {**item, **links} if links else item


def deleted_event(record: EntityRecord, pass_id: str, listed_at_ms: int) -> Event:
    """The `.deleted` event of a mirror entity that a complete listing did not contain.

    Raises:
        ValueError: Clerk has no `.deleted` webhook for the record's kind.
    """
    kind = KIND_BY_NAME[record.kind]
    event_type = change_type(kind, Change.DELETED, {})
    state = kind.state.FromString(record.state)
    data: ApiObject
    if record.kind == _MEMBERSHIP:
        data = _clerk_json(state)
    else:
        data = {"id": record.id, "object": getattr(state, "object", "") or record.kind}
        data["deleted"] = True
    at_ms = max(listed_at_ms, record.updated_at + 1)
    return _build(kind, data, event_type, at_ms, pass_id, version="deleted")


def _build(
    kind: EntityKind,
    item: ApiObject,
    event_type: str,
    at_ms: int,
    pass_id: str,
    version: str | None = None,
) -> Event:
    """Converts the envelope around `item`; sets the event's id, origin and pass."""
    envelope = {"data": item, "object": "event", "type": event_type, "timestamp": at_ms}
    body = json_text(envelope).encode()  # exact: integers over 64 bits stay integers
    event = convert(envelope, body, "", time.time_ns()).event
    entity_id = str(item["id"])
    if version is not None:
        event.id = _event_id(f"{pass_id}_{kind.name}", entity_id, version)
    elif event.WhichOneof("payload") is None:
        canonical = json.dumps(item, sort_keys=True, separators=(",", ":"))  # any integer
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        event.id = _event_id(f"raw_{kind.name}", entity_id, digest[:24])
    else:
        updated_at = item.get("updated_at")
        token = str(updated_at) if isinstance(updated_at, int) else "none"
        event.id = _event_id(f"{pass_id}_{kind.name}", entity_id, token)
    event.origin = _RECONCILIATION
    event.reconcile_pass = pass_id
    return event


def _event_id(scope: str, entity_id: str, version: str) -> str:
    """`reconcile_<scope>_<entity id>_<version>`, the entity id hashed if it would not fit."""
    event_id = f"{RECONCILE_ID_PREFIX}{scope}_{entity_id}_{version}"
    if len(event_id.encode()) > MAX_WEBHOOK_ID_BYTES:
        hashed = "h" + hashlib.sha256(entity_id.encode()).hexdigest()[:32]
        event_id = f"{RECONCILE_ID_PREFIX}{scope}_{hashed}_{version}"
    return event_id


def _clerk_json(message: Message) -> ApiObject:
    """A typed state as Clerk's JSON: `to_clerk_dict`, with 64-bit integers as numbers again."""
    document = to_clerk_dict(message)
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment] # upb's is the same
    _integers_back(descriptor, document)
    return document


def _integers_back(descriptor: Descriptor, document: dict[str, Any]) -> None:
    """Turns the strings the protobuf JSON mapping makes of 64-bit integers back into numbers."""
    for key, value in document.items():
        field = descriptor.fields_by_name.get(key)
        if field is None:  # free-form JSON parsed back under Clerk's key
            continue
        if field.type in _INT64_TYPES:
            document[key] = [int(v) for v in value] if isinstance(value, list) else int(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
            for nested in value if isinstance(value, list) else [value]:
                if isinstance(nested, dict):
                    _integers_back(field.message_type, nested)
