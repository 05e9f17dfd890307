"""A consumer group's settings: names, defaults, ranges, and the form the engine uses.

`normalized` checks a request's `ConsumerGroupSettings` and fills in the
defaults, so that two members asking for the same group the same way send
equal settings whatever they left unset. `GroupConfig` is a stored group's
settings as the dispatcher needs them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from google.protobuf.duration_pb2 import Duration

from clerkrelay.v1.consumer_service_pb2 import ConsumerGroupOrdering, ConsumerGroupSettings
from service.errors import InvalidArgument, quoted
from service.filters import EventFilter, InvalidFilter

__all__ = [
    "DEFAULT_ACK_WAIT_S",
    "DEFAULT_MAX_DELIVERIES",
    "DEFAULT_MAX_IN_FLIGHT",
    "MAX_DELAY_NS",
    "GroupConfig",
    "check_name",
    "duration_ns",
    "normalized",
    "same_settings",
]

DEFAULT_ACK_WAIT_S = 30
"""`ack_wait` when a group leaves it unset."""
DEFAULT_MAX_DELIVERIES = 5
"""`max_deliveries` when a group says 0."""
DEFAULT_MAX_IN_FLIGHT = 100
"""`max_in_flight` when a group says 0."""

_MIN_ACK_WAIT_NS = 10_000_000
_MAX_ACK_WAIT_NS = 24 * 3600 * 10**9
MAX_DELAY_NS = _MAX_ACK_WAIT_NS
"""The longest delay a nack may ask for (24 h)."""
_MAX_DELIVERIES = 1000
_MAX_IN_FLIGHT = 10_000

_PER_ENTITY = ConsumerGroupOrdering.CONSUMER_GROUP_ORDERING_PER_ENTITY
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


def check_name(name: str) -> str:
    """The name, if it is a safe group name.

    Raises:
        InvalidArgument: It is not.
    """
    if not _NAME.match(name):
        raise InvalidArgument(
            f"invalid consumer group name {quoted(name)}: use 1 to 63 characters of "
            "a-z, 0-9, '_', '.' and '-', starting with a letter or a digit"
        )
    return name


def duration_ns(duration: Duration) -> int:
    """A Duration in nanoseconds."""
    return duration.seconds * 10**9 + duration.nanos


def normalized(settings: ConsumerGroupSettings) -> ConsumerGroupSettings:
    """A checked copy with every default filled in and the filter lists sorted.

    Raises:
        InvalidArgument: A bad pattern, or a value out of range.
    """
    out = ConsumerGroupSettings()
    out.CopyFrom(settings)
    try:
        EventFilter(out.event_types, out.entity_ids, out.organization_id)
    except InvalidFilter as error:
        raise InvalidArgument(str(error)) from error
    types, ids = sorted(set(out.event_types)), sorted(set(out.entity_ids))
    del out.event_types[:], out.entity_ids[:]
    out.event_types.extend(types)
    out.entity_ids.extend(ids)
    if not out.HasField("ack_wait"):
        out.ack_wait.seconds = DEFAULT_ACK_WAIT_S
    wait = duration_ns(out.ack_wait)
    if not _MIN_ACK_WAIT_NS <= wait <= _MAX_ACK_WAIT_NS:
        raise InvalidArgument("ack_wait must be from 10 ms to 24 h")
    out.max_deliveries = out.max_deliveries or DEFAULT_MAX_DELIVERIES
    if out.max_deliveries > _MAX_DELIVERIES:
        raise InvalidArgument(f"max_deliveries must be at most {_MAX_DELIVERIES}")
    out.max_in_flight = out.max_in_flight or DEFAULT_MAX_IN_FLIGHT
    if out.max_in_flight > _MAX_IN_FLIGHT:
        raise InvalidArgument(f"max_in_flight must be at most {_MAX_IN_FLIGHT}")
    if out.ordering == ConsumerGroupOrdering.CONSUMER_GROUP_ORDERING_UNSPECIFIED:
        out.ordering = ConsumerGroupOrdering.CONSUMER_GROUP_ORDERING_NONE
    if out.ordering not in ConsumerGroupOrdering.values():
        raise InvalidArgument(f"unknown ordering {out.ordering}")
    return out


def same_settings(a: ConsumerGroupSettings, b: ConsumerGroupSettings) -> bool:
    """Whether two normalized settings are equal, their start aside."""
    left, right = ConsumerGroupSettings(), ConsumerGroupSettings()
    left.CopyFrom(a)
    right.CopyFrom(b)
    for message in (left, right):
        message.ClearField("start")
    return left == right


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """A stored group's settings, ready for dispatching.

    Attributes:
        name: The group's name.
        settings: Its normalized settings.
        stored: Those settings as stored (what each round checks: `settle_and_claim`'s `settings`).
        matches: Its filter.
        ack_wait_ns: Its ack wait.
        max_deliveries: Deliveries before an event is parked.
        max_in_flight: Unsettled deliveries per member.
        per_entity: Whether events of one entity go one at a time.
    """

    name: str
    settings: ConsumerGroupSettings
    stored: bytes
    matches: EventFilter
    ack_wait_ns: int
    max_deliveries: int
    max_in_flight: int
    per_entity: bool

    @classmethod
    def parse(cls, name: str, stored: bytes) -> GroupConfig:
        """The config of a group's stored settings."""
        settings = ConsumerGroupSettings.FromString(stored)
        return cls(
            name=name,
            settings=settings,
            stored=stored,
            matches=EventFilter(
                settings.event_types, settings.entity_ids, settings.organization_id
            ),
            ack_wait_ns=duration_ns(settings.ack_wait),
            max_deliveries=settings.max_deliveries,
            max_in_flight=settings.max_in_flight,
            per_entity=settings.ordering == _PER_ENTITY,
        )
