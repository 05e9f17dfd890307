"""What a Subscribe call received, message by message, and helpers to wait for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field

import grpc

from clerkrelay.v1.event_service_pb2 import SubscribeRequest, SubscribeResponse
from service.storage import Store
from tests.history import event

Call = grpc.aio.UnaryStreamCall[SubscribeRequest, SubscribeResponse]


@dataclass
class Received:
    """What one subscriber got, message by message."""

    sequences: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    checkpoints: list[int] = field(default_factory=list)

    def add(self, response: SubscribeResponse) -> None:
        kind = response.WhichOneof("response")
        assert kind is not None
        self.kinds.append(kind)
        if kind == "events":
            self.sequences.extend(e.sequence for e in response.events.events)
        elif kind == "checkpoint":
            self.checkpoints.append(response.checkpoint.sequence)


async def collect(
    stream: AsyncIterable[SubscribeResponse],
    received: Received,
    until: Callable[[Received], bool],
    timeout: float = 10,  # noqa: ASYNC109 - one bound for the whole collection
) -> Received:
    async def run() -> None:
        async for response in stream:
            received.add(response)
            if until(received):
                return

    await asyncio.wait_for(run(), timeout)
    return received


def caught_up(received: Received) -> bool:
    return "caught_up" in received.kinds


def until_count(count: int) -> Callable[[Received], bool]:
    """Caught up, with at least `count` events."""
    return lambda received: caught_up(received) and len(received.sequences) >= count


def rejoined(received: Received) -> bool:
    """Fell behind, then caught up again."""
    kinds = received.kinds
    return "fell_behind" in kinds and "caught_up" in kinds[kinds.index("fell_behind") :]


async def append_users(store: Store, count: int, prefix: str = "user") -> None:
    for i in range(count):
        await store.append(event("user.created", f"{prefix}_{i:05d}"))
