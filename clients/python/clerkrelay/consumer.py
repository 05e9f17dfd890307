"""`ConsumerStream`: a member of a consumer group that survives disconnects; `ConsumerMessage`s.

```python
async with client.consume("welcome-emails", event_types=["user.created"]) as messages:
    async for msg in messages:
        async with msg:            # leaving normally acks; an exception nacks (and is raised)
            await send_welcome_email(msg.event.user_created)
```

Each message carries the typed `Event`, its `attempt` (1 for the first
delivery) and its `delivery_id`. Settle it once with `ack()`, `nack(delay=…,
reason=…)` or `term(reason)`; a message left unsettled comes back after the
group's `ack_wait`, to this member or another.

Reconnecting. When the Consume call fails with a retryable status
(`RETRYABLE_CODES`) or the server ends it cleanly (shutting down), the
stream waits (`Backoff`) and joins the group again. The server gives a
departed member's unsettled deliveries to other members, so settling a
message received before the reconnect does nothing (delivery is at least
once: the event comes again). Any other status (NOT_FOUND: the group does not
exist or was deleted; FAILED_PRECONDITION: it exists with other settings;
INVALID_ARGUMENT, PERMISSION_DENIED, …) ends the iteration with the matching
`RelayError`.

A settlement the server could not apply (already delivered again after
`ack_wait`, say) is logged and counted in `rejections`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING

import grpc
from google.protobuf.duration_pb2 import Duration

from clerkrelay.backoff import Backoff
from clerkrelay.errors import UnavailableError, error_from_rpc
from clerkrelay.stream import RETRYABLE_CODES
from clerkrelay.v1.consumer_service_pb2 import (
    AckDeliveries,
    ConsumeRequest,
    ConsumeResponse,
    Delivery,
    JoinConsumerGroup,
    NackDelivery,
    TermDelivery,
)
from clerkrelay.v1.event_pb2 import Event

__all__ = ["ConsumerMessage", "ConsumerStream", "OpenConsume"]

_LOG = logging.getLogger(__name__)

if TYPE_CHECKING:
    _Call = grpc.aio.StreamStreamCall[ConsumeRequest, ConsumeResponse]

OpenConsume = Callable[[AsyncIterator[ConsumeRequest]], "_Call"]
"""Starts one Consume call with these requests (the client adds its metadata)."""


class ConsumerMessage:
    """One delivery of an event to this member.

    Args:
        delivery: The delivery as the server sent it.
        send: Queues a request on the call the delivery came on.
    """

    __slots__ = ("_send", "_settled", "attempt", "delivery_id", "event")

    def __init__(self, delivery: Delivery, send: Callable[[ConsumeRequest], None]) -> None:
        self.event: Event = delivery.event
        """The event, typed."""
        self.attempt: int = delivery.attempt
        """Which delivery of the event this is: 1 for the first."""
        self.delivery_id: str = delivery.delivery_id
        """The server's id of this delivery."""
        self._send = send
        self._settled = False

    def __repr__(self) -> str:
        return (
            f"ConsumerMessage(sequence={self.event.sequence}, type={self.event.type!r}, "
            f"attempt={self.attempt})"
        )

    @property
    def settled(self) -> bool:
        """True once acked, nacked or termed."""
        return self._settled

    def _settle(self, request: ConsumeRequest) -> None:
        if self._settled:
            raise RuntimeError(f"delivery {self.delivery_id} is already settled")
        self._settled = True
        self._send(request)

    async def ack(self) -> None:
        """Done: the event is not delivered again."""
        self._settle(ConsumeRequest(ack=AckDeliveries(delivery_ids=[self.delivery_id])))

    async def nack(self, delay: float = 0.0, reason: str = "") -> None:
        """Not done: deliver it again (to any member), after `delay` seconds.

        After the group's `max_deliveries`, the event is parked with `reason`.
        """
        if not 0 <= delay <= 86_400:
            raise ValueError("delay must be from 0 to 86400 seconds")
        wait = Duration()
        wait.FromNanoseconds(int(delay * 1e9))
        nack = NackDelivery(delivery_id=self.delivery_id, delay=wait, reason=reason)
        self._settle(ConsumeRequest(nack=nack))

    async def term(self, reason: str = "") -> None:
        """Never deliver it again: the event is parked with `reason` (it can be replayed)."""
        term = TermDelivery(delivery_id=self.delivery_id, reason=reason)
        self._settle(ConsumeRequest(term=term))

    async def __aenter__(self) -> ConsumerMessage:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Acks on a normal exit, nacks on an exception (unless already settled)."""
        if self._settled:
            return
        if exc is None:
            await self.ack()
        else:
            await self.nack(reason=f"{type(exc).__name__}: {exc}"[:1000])


class ConsumerStream:
    """An async iterator of `ConsumerMessage`s that rejoins its group (see the module docstring).

    Made by `RelayClient.consume`; iterate it once, inside `async with` (or
    call `aclose`) so that the call ends when you stop.

    Args:
        open_call: Starts a Consume call.
        join: The join message (group, settings, member name).
        backoff: The reconnection policy.
    """

    def __init__(
        self, open_call: OpenConsume, join: JoinConsumerGroup, backoff: Backoff | None = None
    ) -> None:
        self._open_call = open_call
        self._join = join
        self._backoff = backoff or Backoff()
        self._reconnects = 0
        self.member_id = ""
        """The server's id of this member (changes on every rejoin)."""
        self.rejections: list[tuple[str, str]] = []
        """Settlements the server could not apply: (delivery id, reason)."""
        self._generator: AsyncGenerator[ConsumerMessage, None] = self._run()

    @property
    def reconnects(self) -> int:
        """How many times the stream has joined again."""
        return self._reconnects

    def __aiter__(self) -> ConsumerStream:
        return self

    async def __anext__(self) -> ConsumerMessage:
        return await self._generator.__anext__()

    async def aclose(self) -> None:
        """Leaves the group: the call ends; unsettled messages go to other members."""
        await self._generator.aclose()

    async def __aenter__(self) -> ConsumerStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self) -> AsyncGenerator[ConsumerMessage, None]:
        failures = 0
        while True:
            outgoing: asyncio.Queue[ConsumeRequest | None] = asyncio.Queue()
            outgoing.put_nowait(ConsumeRequest(join=self._join))
            call = self._open_call(_drain(outgoing))
            reason = "the server ended the stream"
            try:
                async for response in call:
                    failures = 0
                    kind = response.WhichOneof("response")
                    if kind == "joined":
                        self.member_id = response.joined.member_id
                    elif kind == "deliveries":
                        for delivery in response.deliveries.deliveries:
                            yield ConsumerMessage(delivery, outgoing.put_nowait)
                    elif kind == "rejected":
                        rejected = response.rejected
                        self.rejections.append((rejected.delivery_id, rejected.reason))
                        _LOG.warning("settlement rejected: %s", rejected.reason)
            except grpc.aio.AioRpcError as error:
                if error.code() not in RETRYABLE_CODES:
                    raise error_from_rpc(error) from None
                reason = f"{error.code().name}: {error.details()}"
            finally:
                outgoing.put_nowait(None)
                call.cancel()
            failures += 1
            if self._backoff.exhausted(failures):
                raise UnavailableError(
                    grpc.StatusCode.UNAVAILABLE,
                    f"gave up after {failures} failed attempts (last: {reason})",
                )
            delay = self._backoff.delay(failures - 1)
            _LOG.info("consumer stream interrupted (%s); joining again in %.2f s", reason, delay)
            await asyncio.sleep(delay)
            self._reconnects += 1


async def _drain(queue: asyncio.Queue[ConsumeRequest | None]) -> AsyncIterator[ConsumeRequest]:
    """The queued requests, with acks queued together sent as one message."""
    while (request := await queue.get()) is not None:
        if request.WhichOneof("request") == "ack":
            while not queue.empty():
                following = queue.get_nowait()
                if following is None or following.WhichOneof("request") != "ack":
                    yield request
                    if following is None:
                        return
                    request = following
                    break
                request.ack.delivery_ids.extend(following.ack.delivery_ids)
        yield request
