"""`ConsumerService`: thin translations between the protos and `ConsumerEngine`.

Consume yields `ConsumeResponse` messages already encoded (deliveries carry
the stored event bytes as they are), so `add_to_server` registers it without
a response serializer, as `service.event_servicer` does for Subscribe.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from clerkrelay.v1 import consumer_service_pb2_grpc
from clerkrelay.v1.consumer_service_pb2 import (
    DESCRIPTOR,
    ConsumeRequest,
    CreateConsumerGroupRequest,
    CreateConsumerGroupResponse,
    DeleteConsumerGroupRequest,
    DeleteConsumerGroupResponse,
    DiscardParkedEventsRequest,
    DiscardParkedEventsResponse,
    GetConsumerGroupRequest,
    GetConsumerGroupResponse,
    ListConsumerGroupsRequest,
    ListConsumerGroupsResponse,
    ListParkedEventsRequest,
    ListParkedEventsResponse,
    ParkedEvent,
    ReplayParkedEventsRequest,
    ReplayParkedEventsResponse,
    UpdateConsumerGroupRequest,
    UpdateConsumerGroupResponse,
)
from clerkrelay.v1.event_pb2 import Event
from service.consumers.dispatcher import GroupDispatcher
from service.consumers.engine import ConsumerEngine
from service.consumers.member import Member
from service.consumers.settings import duration_ns
from service.consumers.wire import joined
from service.errors import InvalidArgument
from service.storage import SettleKind

__all__ = ["SERVICE_NAME", "ConsumerServicer", "add_to_server"]

SERVICE_NAME: str = DESCRIPTOR.services_by_name["ConsumerService"].full_name
"""`clerkrelay.v1.ConsumerService`."""

_DEFAULT_PAGE = 100
_MAX_PAGE = 1000

if TYPE_CHECKING:
    _Context = grpc.aio.ServicerContext[Any, Any]


class ConsumerServicer(consumer_service_pb2_grpc.ConsumerServiceServicer):
    """Serves consumer groups from an engine.

    Args:
        engine: The process's consumer groups; the caller closes it.
    """

    def __init__(self, engine: ConsumerEngine) -> None:
        self._engine = engine

    async def CreateConsumerGroup(  # noqa: N802 - gRPC method name
        self, request: CreateConsumerGroupRequest, context: _Context
    ) -> CreateConsumerGroupResponse:
        """Creates a group."""
        await self._engine.create(request.name, request.settings)
        return CreateConsumerGroupResponse(group=await self._engine.describe_one(request.name))

    async def UpdateConsumerGroup(  # noqa: N802 - gRPC method name
        self, request: UpdateConsumerGroupRequest, context: _Context
    ) -> UpdateConsumerGroupResponse:
        """Replaces a group's settings."""
        await self._engine.update(request.name, request.settings)
        return UpdateConsumerGroupResponse(group=await self._engine.describe_one(request.name))

    async def GetConsumerGroup(  # noqa: N802 - gRPC method name
        self, request: GetConsumerGroupRequest, context: _Context
    ) -> GetConsumerGroupResponse:
        """One group with its figures."""
        return GetConsumerGroupResponse(group=await self._engine.describe_one(request.name))

    async def ListConsumerGroups(  # noqa: N802 - gRPC method name
        self, request: ListConsumerGroupsRequest, context: _Context
    ) -> ListConsumerGroupsResponse:
        """Every group."""
        return ListConsumerGroupsResponse(groups=await self._engine.describe())

    async def DeleteConsumerGroup(  # noqa: N802 - gRPC method name
        self, request: DeleteConsumerGroupRequest, context: _Context
    ) -> DeleteConsumerGroupResponse:
        """Deletes a group."""
        await self._engine.delete(request.name)
        return DeleteConsumerGroupResponse()

    async def ListParkedEvents(  # noqa: N802 - gRPC method name
        self, request: ListParkedEventsRequest, context: _Context
    ) -> ListParkedEventsResponse:
        """A page of parked events; the token is the last sequence of the previous page."""
        token = request.page_token
        if token and not (token.isdigit() and len(token) <= 19):
            raise InvalidArgument("invalid page_token: pass the previous page's next_page_token")
        after = int(token) if token else 0
        size = min(request.page_size or _DEFAULT_PAGE, _MAX_PAGE)
        rows = await self._engine.parked(request.name, after, size + 1)
        response = ListParkedEventsResponse()
        for row in rows[:size]:
            park_time = Timestamp()
            park_time.FromNanoseconds(row.park_time_ns)
            event = Event(sequence=row.sequence) if row.data is None else Event.FromString(row.data)
            response.parked_events.append(
                ParkedEvent(
                    event=event, attempts=row.attempts, reason=row.reason, park_time=park_time
                )
            )
        if len(rows) > size:
            response.next_page_token = str(rows[size - 1].sequence)
        return response

    async def ReplayParkedEvents(  # noqa: N802 - gRPC method name
        self, request: ReplayParkedEventsRequest, context: _Context
    ) -> ReplayParkedEventsResponse:
        """Puts parked events back into the group."""
        count = await self._engine.replay_parked(request.name, list(request.sequences))
        return ReplayParkedEventsResponse(replayed_count=count)

    async def DiscardParkedEvents(  # noqa: N802 - gRPC method name
        self, request: DiscardParkedEventsRequest, context: _Context
    ) -> DiscardParkedEventsResponse:
        """Removes parked events."""
        count = await self._engine.discard_parked(request.name, list(request.sequences))
        return DiscardParkedEventsResponse(discarded_count=count)

    # The base declares an iterator of `ConsumeResponse`; this one yields them encoded.
    async def Consume(  # type: ignore[override]  # noqa: N802 - gRPC method name
        self, requests: AsyncIterator[ConsumeRequest], context: _Context
    ) -> AsyncIterator[bytes]:
        """Joins a group, then streams deliveries while reading settlements."""
        first = await anext(aiter(requests), None)
        if first is None or first.WhichOneof("request") != "join":
            raise InvalidArgument("the first message of Consume must be `join`")
        join = first.join
        member = Member(name=join.member_name, address=context.peer())
        settings = join.settings if join.HasField("settings") else None
        dispatcher, group = await self._engine.join(join.name, settings, member)
        reader = asyncio.create_task(_read(requests, dispatcher, member), name="consume-reader")
        try:
            yield joined(member.id, group)
            while True:
                message = await member.outbox.get()
                if message is None:
                    return
                if isinstance(message, bytes):
                    yield message
                else:
                    raise message
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await self._engine.leave(dispatcher, member)


async def _read(
    requests: AsyncIterator[ConsumeRequest], dispatcher: GroupDispatcher, member: Member
) -> None:
    """Passes a member's settlements to the dispatcher; the stream ends when the member's does."""
    try:
        async for request in requests:
            kind = request.WhichOneof("request")
            if kind == "ack":
                for delivery in request.ack.delivery_ids:
                    dispatcher.settle(member, SettleKind.ACK, delivery)
            elif kind == "nack":
                nack = request.nack
                dispatcher.settle(
                    member, SettleKind.NACK, nack.delivery_id, duration_ns(nack.delay), nack.reason
                )
            elif kind == "term":
                term = request.term
                dispatcher.settle(member, SettleKind.TERM, term.delivery_id, 0, term.reason)
            else:
                member.send(InvalidArgument("`join` may only be the first message of Consume"))
                return
    except grpc.aio.AioRpcError:  # the member went away
        pass
    member.send(None)


def add_to_server(servicer: ConsumerServicer, server: grpc.aio.Server) -> None:
    """The generated registration, but Consume sends the bytes it yields as they are."""
    generated = consumer_service_pb2_grpc
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    capture = _Capture()
    generated.add_ConsumerServiceServicer_to_server(servicer, capture)  # type: ignore[arg-type]
    handlers.update(capture.handlers)
    handlers["Consume"] = grpc.stream_stream_rpc_method_handler(
        servicer.Consume,
        request_deserializer=ConsumeRequest.FromString,
        response_serializer=None,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)  # type: ignore[attr-defined]  # newer than grpc-stubs


class _Capture:
    """Stands in for a server to collect the generated method handlers."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        """Ignored: the handlers come from `add_registered_method_handlers`."""

    def add_registered_method_handlers(self, name: str, handlers: Any) -> None:
        """Keeps the generated handlers."""
        self.handlers.update(handlers)
