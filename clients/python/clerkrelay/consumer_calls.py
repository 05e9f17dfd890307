"""`ConsumerCalls`: the ConsumerService helpers of `RelayClient`: consuming, and managing groups.

`consume` joins a group (creating it on first use with the settings given)
and returns a `ConsumerStream`. The management helpers (`create_consumer_group`,
`consumer_group`, `consumer_groups`, `update_consumer_group`,
`delete_consumer_group`, `parked_events`, `replay_parked_events`,
`discard_parked_events`) need an admin token when the relay's auth is on.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from google.protobuf.duration_pb2 import Duration

from clerkrelay.backoff import Backoff
from clerkrelay.calls import UnaryCalls
from clerkrelay.consumer import ConsumerStream
from clerkrelay.v1.consumer_service_pb2 import (
    ConsumerGroup,
    ConsumerGroupOrdering,
    ConsumerGroupSettings,
    CreateConsumerGroupRequest,
    DeleteConsumerGroupRequest,
    DiscardParkedEventsRequest,
    GetConsumerGroupRequest,
    JoinConsumerGroup,
    ListConsumerGroupsRequest,
    ListParkedEventsRequest,
    ParkedEvent,
    ReplayParkedEventsRequest,
    UpdateConsumerGroupRequest,
)

if TYPE_CHECKING:
    from clerkrelay.v1.consumer_service_pb2_grpc import ConsumerServiceAsyncStub

__all__ = ["ConsumerCalls", "group_settings"]

_ORDERINGS = {
    "none": ConsumerGroupOrdering.CONSUMER_GROUP_ORDERING_NONE,
    "per_entity": ConsumerGroupOrdering.CONSUMER_GROUP_ORDERING_PER_ENTITY,
}


def group_settings(
    *,
    event_types: str | Iterable[str] = (),
    entity_ids: Iterable[str] = (),
    organization_id: str = "",
    after_sequence: int | None = None,
    since: datetime | None = None,
    ack_wait_s: float | None = None,
    max_deliveries: int = 0,
    max_in_flight: int = 0,
    ordering: str = "none",
) -> ConsumerGroupSettings:
    """A group's settings; what is left out gets the server's default.

    Args:
        event_types: Type patterns (`user.*`); empty: every type.
        entity_ids: Only events about these ids.
        organization_id: Only events of this organization.
        after_sequence: Start after this sequence (0: the whole retained log).
        since: Start at events received at or after this time.
        ack_wait_s: Seconds a member has to settle a delivery (default 30).
        max_deliveries: Deliveries before an event is parked (0: 5).
        max_in_flight: Unsettled deliveries per member (0: 100).
        ordering: `none` or `per_entity`.

    Without `after_sequence` or `since`, a new group sees new events only.
    """
    if ordering not in _ORDERINGS:
        raise ValueError(f"ordering must be one of {sorted(_ORDERINGS)}")
    settings = ConsumerGroupSettings(
        event_types=[event_types] if isinstance(event_types, str) else list(event_types),
        entity_ids=list(entity_ids),
        organization_id=organization_id,
        max_deliveries=max_deliveries,
        max_in_flight=max_in_flight,
        ordering=_ORDERINGS[ordering],
    )
    if after_sequence is not None:
        settings.after_sequence = after_sequence
    elif since is not None:
        settings.since.FromDatetime(since)
    if ack_wait_s is not None:
        wait = Duration()
        wait.FromNanoseconds(int(ack_wait_s * 1e9))
        settings.ack_wait.CopyFrom(wait)
    return settings


class ConsumerCalls:
    """The ConsumerService helpers (see the module docstring).

    A mixin: the class using it (`RelayClient`) provides `_consumer_stub`
    (the stub of its open channel), `_calls` (its unary calls) and
    `_metadata` (sent with every Consume call).
    """

    __slots__ = ()
    _calls: UnaryCalls
    _metadata: tuple[tuple[str, str], ...]

    def _consumer_stub(self) -> ConsumerServiceAsyncStub:
        raise NotImplementedError

    def consume(
        self,
        group: str,
        *,
        settings: ConsumerGroupSettings | None = None,
        create: bool = True,
        member_name: str = "",
        backoff: Backoff | None = None,
        **options: object,
    ) -> ConsumerStream:
        """Joins a consumer group; its messages are this member's share of the events.

        Args:
            group: The group's name.
            settings: The group's settings; None builds them from `options`
                (see `group_settings`: `event_types=…`, `ordering=…`, …).
            create: Send the settings, creating the group if it does not
                exist (it must then have the same settings). False joins an
                existing group as it is.
            member_name: A label for this member (a host or pod name).
            backoff: The reconnection policy.
            **options: Passed to `group_settings`.

        Returns:
            The stream; iterate it inside `async with`.
        """
        join = JoinConsumerGroup(name=group, member_name=member_name)
        if create:
            join.settings.CopyFrom(settings or group_settings(**options))  # type: ignore[arg-type]
        stub = self._consumer_stub()
        metadata = self._metadata
        return ConsumerStream(
            lambda requests: stub.Consume(requests, metadata=metadata), join, backoff
        )

    async def create_consumer_group(
        self, name: str, settings: ConsumerGroupSettings | None = None, **options: object
    ) -> ConsumerGroup:
        """Creates a group (settings as in `consume`); raises `RelayError` if it exists."""
        request = CreateConsumerGroupRequest(
            name=name,
            settings=settings or group_settings(**options),  # type: ignore[arg-type]
        )
        stub = self._consumer_stub()
        return (await self._calls.call(stub.CreateConsumerGroup, request)).group

    async def update_consumer_group(
        self, name: str, settings: ConsumerGroupSettings | None = None, **options: object
    ) -> ConsumerGroup:
        """Replaces a group's settings (its start is kept)."""
        request = UpdateConsumerGroupRequest(
            name=name,
            settings=settings or group_settings(**options),  # type: ignore[arg-type]
        )
        stub = self._consumer_stub()
        return (await self._calls.call(stub.UpdateConsumerGroup, request)).group

    async def consumer_group(self, name: str) -> ConsumerGroup:
        """One group with its figures (NotFoundError when unknown)."""
        stub = self._consumer_stub()
        request = GetConsumerGroupRequest(name=name)
        return (await self._calls.call(stub.GetConsumerGroup, request)).group

    async def consumer_groups(self) -> list[ConsumerGroup]:
        """Every group, in name order."""
        stub = self._consumer_stub()
        request = ListConsumerGroupsRequest()
        return list((await self._calls.call(stub.ListConsumerGroups, request)).groups)

    async def delete_consumer_group(self, name: str) -> None:
        """Deletes a group with its in-flight and parked events."""
        stub = self._consumer_stub()
        await self._calls.call(stub.DeleteConsumerGroup, DeleteConsumerGroupRequest(name=name))

    async def parked_events(self, name: str, *, limit: int | None = None) -> list[ParkedEvent]:
        """A group's parked events in sequence order (every page, or the first `limit`)."""
        stub = self._consumer_stub()
        found: list[ParkedEvent] = []
        token = ""
        while limit is None or len(found) < limit:
            request = ListParkedEventsRequest(name=name, page_token=token, page_size=1000)
            page = await self._calls.call(stub.ListParkedEvents, request)
            found += page.parked_events
            token = page.next_page_token
            if not token:
                break
        return found if limit is None else found[:limit]

    async def replay_parked_events(self, name: str, sequences: Iterable[int] = ()) -> int:
        """Delivers parked events again (all when `sequences` is empty); how many."""
        stub = self._consumer_stub()
        request = ReplayParkedEventsRequest(name=name, sequences=list(sequences))
        return (await self._calls.call(stub.ReplayParkedEvents, request)).replayed_count

    async def discard_parked_events(self, name: str, sequences: Iterable[int] = ()) -> int:
        """Removes parked events (all when `sequences` is empty); how many."""
        stub = self._consumer_stub()
        request = DiscardParkedEventsRequest(name=name, sequences=list(sequences))
        response = await self._calls.call(stub.DiscardParkedEvents, request)
        return response.discarded_count
