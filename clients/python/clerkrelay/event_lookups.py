"""`RelayClient`'s reads of the log itself: its head, one event, pages of events, a history.

A mixin: the class using it (`RelayClient`) provides `_event_stub` (the
EventService stub of its open channel) and `_calls` (its unary calls).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from clerkrelay.calls import UnaryCalls
from clerkrelay.listing import Listing
from clerkrelay.v1.event_pb2 import Event
from clerkrelay.v1.event_service_pb2 import (
    GetEventRequest,
    GetHeadRequest,
    ListEntityEventsRequest,
    ListEventsRequest,
)

if TYPE_CHECKING:  # the async stub types exist only in the .pyi files
    from clerkrelay.v1.event_service_pb2_grpc import EventServiceAsyncStub

__all__ = ["EventLookups"]


class EventLookups:
    """EventService's unary reads (see the module docstring)."""

    __slots__ = ()
    _calls: UnaryCalls

    def _event_stub(self) -> EventServiceAsyncStub:
        raise NotImplementedError

    async def head_sequence(self) -> int:
        """The sequence of the newest event in the relay's log (0 when it is empty).

        Read with `EventService.GetHead`. Also a cheap way to check that the
        server is reachable and accepts the token.

        Raises:
            RelayError: The call failed (UnavailableError: unreachable).
        """
        stub = self._event_stub()
        response = await self._calls.call(stub.GetHead, GetHeadRequest())
        return response.head_sequence

    async def get_event(self, key: int | str, /) -> Event | None:
        """One event by sequence (an int) or webhook id (a str); None when the log has none."""
        request = GetEventRequest(sequence=key) if isinstance(key, int) else GetEventRequest(id=key)
        response = await self._calls.get(self._event_stub().GetEvent, request)
        return None if response is None else response.event

    def entity_events(self, id: str, /, *, kind: str = "", page_size: int = 0) -> Listing[Event]:
        """Every retained event about an entity, in log order (`EventService.ListEntityEvents`).

        Args:
            id: Clerk's id of the entity.
            kind: Only events that change an entity of this kind (`user`, …).
            page_size: Events per page; 0 means the server's default (100).
        """
        return self._calls.listing(
            self._event_stub().ListEntityEvents,
            lambda token: ListEntityEventsRequest(
                entity_id=id, kind=kind, page_size=page_size, page_token=token
            ),
            lambda response: response.events,
        )

    def list_events(
        self,
        *,
        event_types: Iterable[str] = (),
        entity_ids: Iterable[str] = (),
        organization_id: str = "",
        after_sequence: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 0,
    ) -> Listing[Event]:
        """The retained events that match, in log order, page by page (`EventService.ListEvents`).

        The listing ends at the head when its first page is read (or before
        `until`); `Subscribe` after it for what came later.

        Args:
            event_types: Patterns, as for `subscribe`; empty means every type.
            entity_ids: Only events about one of these ids.
            organization_id: Only events of this organization.
            after_sequence: Start after this sequence; None (and no `since`):
                the oldest retained event.
            since: Start at the first event received at or after this time.
            until: Only events received before this time.
            page_size: Events per page; 0 means the server's default (100).
        """
        request = ListEventsRequest(
            event_types=list(event_types),
            entity_ids=list(entity_ids),
            organization_id=organization_id,
            page_size=page_size,
        )
        if after_sequence is not None:
            request.after_sequence = after_sequence
        elif since is not None:
            request.since.FromDatetime(since)
        if until is not None:
            request.until.FromDatetime(until)

        def page(token: str) -> ListEventsRequest:
            copy = ListEventsRequest()
            copy.CopyFrom(request)
            copy.page_token = token
            return copy

        return self._calls.listing(
            self._event_stub().ListEvents, page, lambda response: response.events
        )
