"""`EventService`: Subscribe, GetHead, and the log lookups GetEvent and ListEntityEvents.

Subscribe translates the request, then streams a `Subscription`; the lookups
are answered by `service.lookups`.

Subscribe yields `SubscribeResponse` messages already encoded (see
`service.wire`), so stored events go to the wire without being parsed. The
generated `add_EventServiceServicer_to_server` would serialize each response
with `SubscribeResponse.SerializeToString`, which takes a message, not bytes;
`add_to_server` registers the same method under the same name, with the
generated request deserializer and no response serializer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC
from typing import TYPE_CHECKING, Any

import grpc

from clerkrelay.v1 import event_service_pb2_grpc
from clerkrelay.v1.event_pb2 import Event
from clerkrelay.v1.event_service_pb2 import (
    DESCRIPTOR,
    GetEventRequest,
    GetEventResponse,
    GetHeadRequest,
    GetHeadResponse,
    ListEntityEventsRequest,
    ListEntityEventsResponse,
    ListEventsRequest,
    ListEventsResponse,
    SubscribeRequest,
)
from service.broadcaster import Broadcaster
from service.errors import InvalidArgument
from service.event_listing import list_events
from service.filters import EventFilter, InvalidFilter
from service.lookups import find_event, history
from service.storage import MAX_SEQUENCE, BeforeRetention, Store
from service.subscribers import Subscribers
from service.subscription import StreamLimits, Subscription

__all__ = ["SERVICE_NAME", "EventServicer", "add_to_server"]

SERVICE_NAME: str = DESCRIPTOR.services_by_name["EventService"].full_name
"""`clerkrelay.v1.EventService`."""


if TYPE_CHECKING:
    _Context = grpc.aio.ServicerContext[SubscribeRequest, bytes]
    _HeadContext = grpc.aio.ServicerContext[GetHeadRequest, GetHeadResponse]
    _EventContext = grpc.aio.ServicerContext[GetEventRequest, GetEventResponse]
    _HistoryContext = grpc.aio.ServicerContext[ListEntityEventsRequest, ListEntityEventsResponse]
    _ListContext = grpc.aio.ServicerContext[ListEventsRequest, ListEventsResponse]


class EventServicer(event_service_pb2_grpc.EventServiceServicer):
    """Serves Subscribe streams from a store and its broadcaster, and GetHead from the store.

    Args:
        store: The store; its lifetime belongs to the caller.
        broadcaster: The store's broadcaster; `close` closes it.
        limits: How streams batch and pace their messages.
        subscribers: Tracks every open stream (for metrics and the console).
    """

    def __init__(
        self,
        store: Store,
        broadcaster: Broadcaster,
        limits: StreamLimits,
        subscribers: Subscribers,
    ) -> None:
        self._store = store
        self._broadcaster = broadcaster
        self._limits = limits
        self._subscribers = subscribers

    # The base declares an iterator of `SubscribeResponse`; this one yields them
    # encoded (`add_to_server` sends them as they are). The ignore is on the line
    # mypy reports the return type on: the arguments below are still checked.
    async def Subscribe(  # type: ignore[override]  # noqa: N802 - gRPC method name
        self, request: SubscribeRequest, context: _Context
    ) -> AsyncIterator[bytes]:
        """Streams the matching history, then live events."""
        try:
            event_filter = EventFilter(
                request.event_types, request.entity_ids, request.organization_id
            )
        except InvalidFilter as error:
            raise InvalidArgument(str(error)) from error
        limits = self._limits
        if request.max_batch_size:
            limits = replace(
                limits, max_batch_events=min(request.max_batch_size, limits.max_batch_events)
            )
        with self._subscribers.open(
            request.event_types, request.entity_ids, request.organization_id, context.peer()
        ) as stats:
            async with Subscription(self._store, self._broadcaster, event_filter, limits) as stream:
                stats.progress = stream
                after = await self._start(request)
                async for message in stream.messages(after):
                    yield message

    async def GetHead(  # noqa: N802 - gRPC method name
        self, request: GetHeadRequest, context: _HeadContext
    ) -> GetHeadResponse:
        """The log's head and oldest retained sequence."""
        # The oldest first: the head can only grow after it, so the answer
        # never has `oldest_retained_sequence > head_sequence + 1`.
        oldest = await self._store.oldest_retained()
        head = await self._store.head()
        return GetHeadResponse(head_sequence=head, oldest_retained_sequence=oldest)

    async def GetEvent(  # noqa: N802 - gRPC method name
        self, request: GetEventRequest, context: _EventContext
    ) -> GetEventResponse:
        """One stored event, by sequence or webhook id."""
        which = request.WhichOneof("event")
        if which == "sequence" and request.sequence == 0:
            raise InvalidArgument("sequence must be 1 or more")
        found = await find_event(self._store, sequence=request.sequence, webhook_id=request.id)
        return GetEventResponse(event=Event.FromString(found.data))

    async def ListEntityEvents(  # noqa: N802 - gRPC method name
        self, request: ListEntityEventsRequest, context: _HistoryContext
    ) -> ListEntityEventsResponse:
        """One page of the events about one entity, in sequence order."""
        page = await history(
            self._store, request.entity_id, request.kind, request.page_size, request.page_token
        )
        return ListEntityEventsResponse(
            events=[Event.FromString(stored.data) for stored in page.events],
            next_page_token=page.next_page_token,
            snapshot_sequence=page.snapshot_sequence,
        )

    async def ListEvents(  # noqa: N802 - gRPC method name
        self, request: ListEventsRequest, context: _ListContext
    ) -> ListEventsResponse:
        """One page of the log, filtered, between two points."""
        page = await list_events(self._store, request)
        return ListEventsResponse(
            events=[Event.FromString(stored.data) for stored in page.events],
            next_page_token=page.next_page_token,
            snapshot_sequence=page.snapshot_sequence,
        )

    async def _start(self, request: SubscribeRequest) -> int:
        """The sequence the stream starts after (registration has already happened)."""
        start = request.WhichOneof("start")
        if start == "after_sequence":
            if request.after_sequence > MAX_SEQUENCE:
                raise InvalidArgument(
                    f"after_sequence must be at most {MAX_SEQUENCE} (got {request.after_sequence})"
                )
            oldest = await self._store.oldest_retained()
            if request.after_sequence == 0:
                return oldest - 1  # 0 means everything still retained
            if request.after_sequence + 1 < oldest:
                raise BeforeRetention(request.after_sequence, oldest)
            return request.after_sequence
        if start == "since":
            try:
                since = request.since.ToDatetime(tzinfo=UTC)
            except ValueError as error:  # seconds or nanos out of Timestamp's range
                raise InvalidArgument(f"invalid since: {error}") from None
            return await self._store.sequence_before(since)
        return await self._store.head()

    def close(self) -> None:
        """Ends every open stream after its buffered events (for graceful shutdown)."""
        self._broadcaster.close()


def add_to_server(servicer: EventServicer, server: grpc.aio.Server) -> None:
    """`add_EventServiceServicer_to_server`, but Subscribe sends the bytes it yields as they are."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Subscribe": grpc.unary_stream_rpc_method_handler(
            servicer.Subscribe,
            request_deserializer=SubscribeRequest.FromString,
            response_serializer=None,
        ),
        "GetHead": grpc.unary_unary_rpc_method_handler(
            servicer.GetHead,
            request_deserializer=GetHeadRequest.FromString,
            response_serializer=GetHeadResponse.SerializeToString,
        ),
        "GetEvent": grpc.unary_unary_rpc_method_handler(
            servicer.GetEvent,
            request_deserializer=GetEventRequest.FromString,
            response_serializer=GetEventResponse.SerializeToString,
        ),
        "ListEntityEvents": grpc.unary_unary_rpc_method_handler(
            servicer.ListEntityEvents,
            request_deserializer=ListEntityEventsRequest.FromString,
            response_serializer=ListEntityEventsResponse.SerializeToString,
        ),
        "ListEvents": grpc.unary_unary_rpc_method_handler(
            servicer.ListEvents,
            request_deserializer=ListEventsRequest.FromString,
            response_serializer=ListEventsResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)  # type: ignore[attr-defined]  # newer than grpc-stubs
