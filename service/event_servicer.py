"""`EventService.Subscribe`: translates the request, then streams a `Subscription`.

The handler is registered with `response_serializer=None`: it yields
`SubscribeResponse` messages already encoded (see `service.wire`), so stored
events go to the wire without being parsed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC
from typing import Any

import grpc

from clerkrelay.v1.event_service_pb2 import SubscribeRequest
from service.broadcaster import Broadcaster
from service.errors import InvalidArgument
from service.filters import EventFilter, InvalidFilter
from service.storage import BeforeRetention, Store
from service.subscription import StreamLimits, Subscription

__all__ = ["EventServicer"]

_SERVICE = "clerkrelay.v1.EventService"
_MAX_SEQUENCE = 2**63 - 1  # the stores keep sequences as signed 64-bit integers


class EventServicer:
    """Serves Subscribe streams from a store and its broadcaster."""

    def __init__(self, store: Store, broadcaster: Broadcaster, limits: StreamLimits) -> None:
        self._store = store
        self._broadcaster = broadcaster
        self._limits = limits

    def handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        """The generic handler to add to a server."""
        return grpc.method_handlers_generic_handler(
            _SERVICE,
            {
                "Subscribe": grpc.unary_stream_rpc_method_handler(
                    self.Subscribe,
                    request_deserializer=SubscribeRequest.FromString,
                    response_serializer=None,
                )
            },
        )

    async def Subscribe(  # noqa: N802 - gRPC method name
        self, request: SubscribeRequest, context: grpc.aio.ServicerContext[bytes, bytes]
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
        subscription = Subscription(self._store, self._broadcaster, event_filter, limits)
        subscription.register()
        try:
            after = await self._start(request)
            async for message in subscription.messages(after):
                yield message
        finally:
            subscription.close()

    async def _start(self, request: SubscribeRequest) -> int:
        """The sequence the stream starts after (registration has already happened)."""
        start = request.WhichOneof("start")
        if start == "after_sequence":
            if request.after_sequence > _MAX_SEQUENCE:
                raise InvalidArgument(
                    f"after_sequence must be at most {_MAX_SEQUENCE} (got {request.after_sequence})"
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

    async def close(self) -> None:
        """Ends every open stream after its buffered events (for graceful shutdown)."""
        self._broadcaster.close()
