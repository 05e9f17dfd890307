"""The open streams of a server: filter, position, lag, fell-behind count, and their metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

from prometheus_client import CollectorRegistry, generate_latest

from clerkrelay.v1.event_service_pb2 import SubscribeRequest, SubscribeResponse
from service.broadcaster import Broadcaster
from service.filters import EventFilter
from service.storage.sqlite import SqliteStore
from service.subscribers import Subscribers
from service.subscription import StreamLimits, Subscription
from tests.history import event
from tests.service.conftest import MakeRelay


async def _until(condition: Callable[[], bool]) -> None:
    """Polls `condition` every 10 ms for at most 10 s (the stream runs on the server's task)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met within 10 s")


def _sample(registry: CollectorRegistry, line_start: str) -> float:
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {line_start} in the exposition")


async def test_a_live_stream_is_listed_with_its_filter_and_position(make_relay: MakeRelay) -> None:
    relay = await make_relay()
    await relay.store.append(event("user.created", "user_0"))
    stream = relay.stub.Subscribe(
        SubscribeRequest(event_types=["user.*"], entity_ids=["user_1"], after_sequence=0)
    )
    first = await anext(aiter(stream))
    assert first.WhichOneof("response") == "caught_up"
    (stats,) = relay.server.subscribers.streams()
    assert stats.filter_text() == "types=user.* entities=user_1"
    assert stats.peer.startswith("ipv4:127.0.0.1:")
    assert stats.position == 1
    await relay.store.append(event("user.created", "user_1"))
    response = await anext(aiter(stream))
    assert [e.sequence for e in response.events.events] == [2]
    await _until(lambda: stats.position >= 2)  # it moves once the batch is sent
    assert (stats.position, relay.server.subscribers.lag(stats)) == (2, 0)
    assert stats.bytes_sent > 0
    stream.cancel()
    await _until(lambda: not relay.server.subscribers.streams())


async def test_a_stopped_stream_lags_then_falls_behind(store: SqliteStore) -> None:
    registry = CollectorRegistry()
    subscribers = Subscribers(store, registry)
    broadcaster = Broadcaster(store)
    try:
        with subscribers.open(["*"], [], "", "ipv4:127.0.0.1:1") as stats:
            subscription = Subscription(
                store, broadcaster, EventFilter([]), StreamLimits(live_buffer_events=2)
            )
            async with subscription:
                stats.progress = subscription
                messages: AsyncGenerator[bytes, None] = subscription.messages(0)
                assert SubscribeResponse.FromString(await anext(messages)).HasField("caught_up")
                for n in range(5):  # the stream does not read: its buffer of 2 overflows
                    await store.append(event("user.created", f"user_{n}"))
                assert (stats.position, subscribers.lag(stats)) == (0, 5)
                assert _sample(registry, "clerk_relay_subscriber_max_lag_events") == 5
                assert _sample(registry, 'clerk_relay_subscriber_streams_by_lag{lag="1-100"}') == 1
                assert _sample(registry, 'clerk_relay_subscriber_streams_by_lag{lag="0"}') == 0
                kinds: list[str | None] = []
                async with asyncio.timeout(10):
                    while kinds[-1:] != ["caught_up"]:
                        kinds.append(
                            SubscribeResponse.FromString(await anext(messages)).WhichOneof(
                                "response"
                            )
                        )
                assert kinds[0] == "fell_behind"
                assert (stats.fell_behind, subscribers.lag(stats)) == (1, 0)
                assert _sample(registry, "clerk_relay_subscriber_streams") == 1
                await messages.aclose()
        # A closed stream's counts stay in the totals; the stream is gone.
        assert subscribers.streams() == []
        assert _sample(registry, "clerk_relay_subscriber_streams") == 0
        assert _sample(registry, "clerk_relay_subscriber_fell_behind_total") == 1
        assert _sample(registry, "clerk_relay_subscriber_sent_bytes_total") == stats.bytes_sent > 0
    finally:
        broadcaster.close()
        subscribers.close()
    assert b"clerk_relay_subscriber" not in generate_latest(registry)
