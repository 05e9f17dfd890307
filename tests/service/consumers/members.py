"""A test member of a consumer group: a real Consume stream, driven by hand."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import grpc
from google.protobuf.duration_pb2 import Duration

from clerkrelay.v1.consumer_service_pb2 import (
    AckDeliveries,
    ConsumeRequest,
    ConsumerGroupSettings,
    ConsumerJoined,
    Delivery,
    JoinConsumerGroup,
    NackDelivery,
    TermDelivery,
)
from clerkrelay.v1.consumer_service_pb2_grpc import ConsumerServiceStub

if TYPE_CHECKING:
    from clerkrelay.v1.consumer_service_pb2_grpc import ConsumerServiceAsyncStub

__all__ = ["TestMember", "until"]

_T = TypeVar("_T")


class TestMember:
    """Joins a group on `start`, then collects deliveries and rejections.

    Args:
        channel: A channel to the relay.
        group: The group's name.
        settings: Settings to send with the join (None: none).
        name: The member's label.
        metadata: Call metadata (a bearer token).
    """

    __test__ = False  # not a test class, despite its name

    def __init__(
        self,
        channel: grpc.aio.Channel,
        group: str,
        settings: ConsumerGroupSettings | None = None,
        name: str = "",
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> None:
        stub: ConsumerServiceAsyncStub = ConsumerServiceStub(channel)
        self._requests: asyncio.Queue[ConsumeRequest | None] = asyncio.Queue()
        join = JoinConsumerGroup(name=group, member_name=name)
        if settings is not None:
            join.settings.CopyFrom(settings)
        self._requests.put_nowait(ConsumeRequest(join=join))
        self.call = stub.Consume(self._outgoing(), metadata=metadata)
        self._responses = aiter(self.call)
        self.deliveries: asyncio.Queue[Delivery] = asyncio.Queue()
        self.rejections: list[tuple[str, str]] = []
        self.ended: asyncio.Future[grpc.StatusCode] = asyncio.get_running_loop().create_future()
        self._reader: asyncio.Task[None] | None = None

    async def _outgoing(self) -> AsyncIterator[ConsumeRequest]:
        while (request := await self._requests.get()) is not None:
            yield request

    async def start(self) -> ConsumerJoined:
        """Joins; returns the answer (raises the call's error if it fails)."""
        first = await anext(self._responses)
        assert first.WhichOneof("response") == "joined", first
        self._reader = asyncio.create_task(self._read())
        return first.joined

    async def _read(self) -> None:
        try:
            async for message in self._responses:
                if message.WhichOneof("response") == "deliveries":
                    for delivery in message.deliveries.deliveries:
                        self.deliveries.put_nowait(delivery)
                else:
                    rejected = message.rejected
                    self.rejections.append((rejected.delivery_id, rejected.reason))
            self.ended.set_result(grpc.StatusCode.OK)
        except grpc.aio.AioRpcError as error:
            self.ended.set_result(error.code())

    async def next(self, timeout_s: float = 10.0) -> Delivery:
        """The next delivery."""
        async with asyncio.timeout(timeout_s):
            return await self.deliveries.get()

    async def nothing_for(self, seconds: float) -> bool:
        """True when no delivery arrives within `seconds`."""
        try:
            async with asyncio.timeout(seconds):
                delivery = await self.deliveries.get()
        except TimeoutError:
            return True
        self.deliveries.put_nowait(delivery)
        return False

    def ack(self, *deliveries: Delivery | str) -> None:
        """Acks deliveries."""
        ids = [d if isinstance(d, str) else d.delivery_id for d in deliveries]
        self._requests.put_nowait(ConsumeRequest(ack=AckDeliveries(delivery_ids=ids)))

    def nack(self, delivery: Delivery, delay_s: float = 0.0, reason: str = "") -> None:
        """Nacks a delivery."""
        delay = Duration()
        delay.FromNanoseconds(int(delay_s * 1e9))
        nack = NackDelivery(delivery_id=delivery.delivery_id, delay=delay, reason=reason)
        self._requests.put_nowait(ConsumeRequest(nack=nack))

    def term(self, delivery: Delivery, reason: str) -> None:
        """Terms a delivery."""
        term = TermDelivery(delivery_id=delivery.delivery_id, reason=reason)
        self._requests.put_nowait(ConsumeRequest(term=term))

    def send(self, request: ConsumeRequest) -> None:
        """Sends any request."""
        self._requests.put_nowait(request)

    async def close(self) -> None:
        """Ends the stream from the member's side (cancels the call)."""
        self.call.cancel()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


async def until(
    read: Callable[[], Awaitable[_T]], done: Callable[[_T], bool], timeout_s: float = 10.0
) -> _T:
    """Reads again until `done` accepts the value (the server settles in rounds)."""
    async with asyncio.timeout(timeout_s):
        while True:
            value = await read()
            if done(value):
                return value
            await asyncio.sleep(0.02)
