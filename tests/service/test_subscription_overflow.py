"""A live buffer that overflows between two reads of a stream: the stream rereads, no gap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

from clerkrelay.v1.event_service_pb2 import SubscribeResponse
from service.broadcaster import Broadcaster
from service.filters import EventFilter
from service.storage.sqlite import SqliteStore
from service.subscription import StreamLimits, Subscription
from tests.history import event


async def next_response(messages: AsyncIterator[bytes]) -> SubscribeResponse:
    return SubscribeResponse.FromString(await anext(messages))


async def test_overflow_while_the_stream_is_not_reading_loses_nothing(
    store: SqliteStore,
) -> None:
    """Events dropped by an overflow are reread from the log, not skipped.

    (Before: the stream took the empty buffer's "last examined" sequence as its
    position, so the dropped events fell between `fell_behind` and the reread.)
    """
    for pattern in ([], ["user.*"]):
        broadcaster = Broadcaster(store)
        subscription = Subscription(
            store, broadcaster, EventFilter(pattern), StreamLimits(live_buffer_events=2)
        )
        async with subscription:
            start = await store.head()
            messages: AsyncGenerator[bytes, None] = subscription.messages(start)
            assert (await next_response(messages)).WhichOneof("response") == "caught_up"
            for n in range(5):  # one commit each: the third overflows the buffer of 2
                await store.append(event("user.created", f"user_{start + n}"))
            kinds: list[str] = []
            sequences: list[int] = []
            async with asyncio.timeout(10):
                while kinds[-1:] != ["caught_up"]:  # fell behind, reread the log, live again
                    response = await next_response(messages)
                    kind = response.WhichOneof("response")
                    assert kind is not None
                    kinds.append(kind)
                    sequences += [e.sequence for e in response.events.events]
            assert (kinds[0], kinds[-1]) == ("fell_behind", "caught_up")
            assert sequences == list(range(start + 1, start + 6))
            await messages.aclose()
        broadcaster.close()
