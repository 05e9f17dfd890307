"""EventService.Subscribe over real channels: catch-up, hand-over, slow subscribers, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clerkrelay.v1.event_service_pb2 import SubscribeRequest, SubscribeResponse
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from service.filters import EventFilter
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage import Retention, Store
from service.storage.sqlite import SqliteStore
from service.subscription import StreamLimits
from tests.history import event, membership
from tests.service.conftest import OpenChannel, StartServer

if TYPE_CHECKING:
    from clerkrelay.v1.event_service_pb2_grpc import EventServiceAsyncStub

FAMILIES = ["user", "organization", "session", "role"]


@dataclass
class Relay:
    """A real server with the Subscribe side wired in, and a stub to it."""

    store: Store
    server: RelayServer
    stub: EventServiceAsyncStub
    channel: grpc.aio.Channel
    open_channel: OpenChannel
    target: str


MakeRelay = Callable[..., Awaitable[Relay]]
Call = grpc.aio.UnaryStreamCall[SubscribeRequest, SubscribeResponse]


@pytest.fixture
async def make_relay(
    store: SqliteStore, start_server: StartServer, open_channel: OpenChannel
) -> AsyncIterator[MakeRelay]:
    async def make(limits: StreamLimits | None = None) -> Relay:
        server, target = await start_server(stream_limits=limits or StreamLimits())
        channel = open_channel(target)
        return Relay(store, server, EventServiceStub(channel), channel, open_channel, target)

    yield make


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


async def test_history_then_caught_up_then_live(make_relay: MakeRelay) -> None:
    relay = await make_relay()
    await append_users(relay.store, 5)
    call = relay.stub.Subscribe(SubscribeRequest(after_sequence=0))
    received = await collect(call, Received(), caught_up)
    assert received.sequences == [1, 2, 3, 4, 5]
    assert received.kinds == ["events", "caught_up"]
    await relay.store.append(event("user.created", "user_live"))
    await collect(call, received, lambda r: len(r.sequences) == 6)
    assert received.sequences == [1, 2, 3, 4, 5, 6]
    call.cancel()


async def test_history_arrives_batched(make_relay: MakeRelay) -> None:
    relay = await make_relay(StreamLimits(max_batch_events=50))
    await asyncio.gather(
        *(relay.store.append(event("role.created", f"role_{i}")) for i in range(120))
    )
    call = relay.stub.Subscribe(SubscribeRequest(after_sequence=0))
    received = await collect(call, Received(), caught_up)
    assert received.sequences == list(range(1, 121))
    assert received.kinds == ["events", "events", "events", "caught_up"]
    call.cancel()


async def test_match_all_catch_up_reads_large_pages_and_sends_bounded_batches(
    make_relay: MakeRelay,
) -> None:
    relay = await make_relay(StreamLimits(max_batch_events=50, catch_up_read_events=120))
    await asyncio.gather(
        *(relay.store.append(event("role.created", f"role_{i}")) for i in range(300))
    )
    sizes: list[int] = []
    received = Received()
    call = relay.stub.Subscribe(SubscribeRequest(after_sequence=0))
    async for response in call:
        received.add(response)
        if response.WhichOneof("response") == "events":
            sizes.append(len(response.events.events))
        if caught_up(received):
            break
    assert received.sequences == list(range(1, 301))
    # Pages of 120, 120 and 60 events, each sent in messages of at most 50.
    assert sizes == [50, 50, 20, 50, 50, 20, 50, 10]
    assert received.kinds == ["events"] * 8 + ["caught_up"]
    call.cancel()


async def test_after_sequence_and_live_only(make_relay: MakeRelay) -> None:
    relay = await make_relay()
    await append_users(relay.store, 4)
    after = relay.stub.Subscribe(SubscribeRequest(after_sequence=2))
    live = relay.stub.Subscribe(SubscribeRequest())
    got_after = await collect(after, Received(), caught_up)
    got_live = await collect(live, Received(), caught_up)
    assert got_after.sequences == [3, 4]
    assert got_live.sequences == []
    await relay.store.append(event("user.created", "user_new"))
    await collect(live, got_live, lambda r: bool(r.sequences))
    assert got_live.sequences == [5]
    after.cancel()
    live.cancel()


async def test_since_a_time(make_relay: MakeRelay) -> None:
    relay = await make_relay()
    await append_users(relay.store, 2, "early")
    await asyncio.sleep(0.02)
    since = Timestamp()
    since.FromDatetime(datetime.now(UTC))
    await asyncio.sleep(0.02)
    await append_users(relay.store, 2, "late")
    call = relay.stub.Subscribe(SubscribeRequest(since=since))
    received = await collect(call, Received(), caught_up)
    assert received.sequences == [3, 4]
    call.cancel()


async def test_filters_by_type_entity_and_organization(make_relay: MakeRelay) -> None:
    relay = await make_relay()
    store = relay.store
    await store.append(event("user.created", "user_a"))
    await store.append(event("organization.created", "org_1"))
    await store.append(membership("organizationMembership.created", "mem_1", "org_1", "user_a", 1))
    await store.append(membership("organizationMembership.created", "mem_2", "org_2", "user_b", 2))
    await store.append(event("session.created", "sess_1", user_id="user_a"))

    async def sequences(request: SubscribeRequest) -> list[int]:
        call = relay.stub.Subscribe(request)
        received = await collect(call, Received(), caught_up)
        call.cancel()
        return received.sequences

    assert await sequences(SubscribeRequest(event_types=["user.*"], after_sequence=0)) == [1]
    assert await sequences(
        SubscribeRequest(event_types=["organizationMembership.created"], after_sequence=0)
    ) == [3, 4]
    assert await sequences(SubscribeRequest(organization_id="org_1", after_sequence=0)) == [2, 3]
    assert await sequences(SubscribeRequest(entity_ids=["user_a"], after_sequence=0)) == [1, 3, 5]
    assert await sequences(
        SubscribeRequest(event_types=["session.*", "user.created"], after_sequence=0)
    ) == [1, 5]


async def test_invalid_pattern_is_invalid_argument(make_relay: MakeRelay) -> None:
    relay = await make_relay()
    call = relay.stub.Subscribe(SubscribeRequest(event_types=["user.*", "*.created"]))
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call.read()
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'*.created'" in (error.value.details() or "")


async def test_start_before_retention_is_out_of_range(
    tmp_path: Path, open_channel: OpenChannel
) -> None:
    trimmed = await SqliteStore.open(
        tmp_path / "trimmed.db", Retention(max_count=3, interval_s=3600)
    )
    server = RelayServer(
        ServiceSettings(grpc_addr="127.0.0.1:0", shutdown_grace_s=1.0),
        trimmed,
    )
    try:
        await append_users(trimmed, 10)
        await trimmed.trim()
        stub = EventServiceStub(open_channel(f"127.0.0.1:{await server.start()}"))
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.Subscribe(SubscribeRequest(after_sequence=2)).read()
        assert error.value.code() == grpc.StatusCode.OUT_OF_RANGE
        assert "oldest retained sequence is 8" in (error.value.details() or "")
        everything = stub.Subscribe(SubscribeRequest(after_sequence=0))
        received = await collect(everything, Received(), caught_up)
        assert received.sequences == [8, 9, 10]
        everything.cancel()
    finally:
        await server.stop()
        await trimmed.close()


async def test_hand_over_under_load_has_no_gap_and_no_repeat(make_relay: MakeRelay) -> None:
    relay = await make_relay(StreamLimits(max_batch_events=100))
    total = 1500
    await append_users(relay.store, 300, "before")

    async def publish() -> None:
        for i in range(total - 300):
            await relay.store.append(event("user.created", f"during_{i:05d}"))
            if i % 50 == 0:
                await asyncio.sleep(0)

    publisher = asyncio.create_task(publish())
    await asyncio.sleep(0.01)
    call = relay.stub.Subscribe(SubscribeRequest(after_sequence=0))
    received = await collect(call, Received(), lambda r: len(r.sequences) >= total, timeout=60)
    await publisher
    assert received.sequences == list(range(1, total + 1))
    assert received.kinds.count("caught_up") == 1
    call.cancel()


async def test_slow_subscriber_falls_behind_and_still_gets_everything(
    make_relay: MakeRelay,
) -> None:
    relay = await make_relay(StreamLimits(live_buffer_events=8, max_batch_events=20))
    # Small HTTP/2 windows so that a subscriber that stops reading really stalls the stream.
    options = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)]
    slow_channel = grpc.aio.insecure_channel(relay.target, options=options)
    try:
        slow = EventServiceStub(slow_channel).Subscribe(SubscribeRequest(after_sequence=0))
        fast = relay.stub.Subscribe(SubscribeRequest(after_sequence=0))
        slow_got = await collect(slow, Received(), caught_up)
        fast_got = await collect(fast, Received(), caught_up)
        total = 800
        writer = asyncio.create_task(append_users(relay.store, total))
        # The fast subscriber receives every event while the slow one reads nothing.
        await collect(fast, fast_got, lambda r: len(r.sequences) >= total, timeout=60)
        await writer
        assert fast_got.sequences == list(range(1, total + 1))
        await collect(slow, slow_got, lambda r: rejoined(r) and len(r.sequences) >= total, 60)
        assert slow_got.sequences == list(range(1, total + 1))
        slow.cancel()
        fast.cancel()
    finally:
        await slow_channel.close(None)


async def test_cancel_frees_the_subscription(make_relay: MakeRelay) -> None:
    relay = await make_relay()
    calls = [relay.stub.Subscribe(SubscribeRequest()) for _ in range(5)]
    for call in calls:
        await collect(call, Received(), caught_up)
    assert relay.server.subscriber_count == 5
    for call in calls:
        call.cancel()
    for _ in range(100):
        if relay.server.subscriber_count == 0:
            break
        await asyncio.sleep(0.02)
    assert relay.server.subscriber_count == 0


async def test_sparse_filter_gets_checkpoints_and_idle_stream_heartbeats(
    make_relay: MakeRelay,
) -> None:
    relay = await make_relay(
        StreamLimits(checkpoint_every=10, checkpoint_interval_s=0.2, heartbeat_interval_s=0.2)
    )
    await append_users(relay.store, 25)
    call = relay.stub.Subscribe(SubscribeRequest(event_types=["role.*"], after_sequence=0))
    received = await collect(call, Received(), caught_up)
    assert received.sequences == []
    assert received.checkpoints and received.checkpoints[-1] <= 25
    await append_users(relay.store, 3, "live")
    await collect(call, received, lambda r: 28 in r.checkpoints, timeout=5)
    await collect(call, received, lambda r: "heartbeat" in r.kinds, timeout=5)
    assert received.checkpoints == sorted(received.checkpoints)
    call.cancel()


async def test_shutdown_ends_streams_with_ok(make_relay: MakeRelay) -> None:
    relay = await make_relay()
    await append_users(relay.store, 3)
    call = relay.stub.Subscribe(SubscribeRequest(after_sequence=0))
    received = await collect(call, Received(), caught_up)
    await relay.server.stop()
    async for response in call:
        received.add(response)
    assert await call.code() == grpc.StatusCode.OK
    assert received.sequences == [1, 2, 3]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("publish"), st.sampled_from(FAMILIES), st.integers(1, 6)),
            st.tuples(
                st.just("subscribe"),
                st.lists(st.sampled_from([f + ".*" for f in FAMILIES]), max_size=2),
                st.integers(0, 30),
            ),
        ),
        min_size=2,
        max_size=12,
    )
)
async def test_every_subscriber_gets_exactly_its_events_in_order(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, Any, int]]
) -> None:
    """Publishes and subscriptions interleaved at random, each from a random start."""
    store = await SqliteStore.open(tmp_path_factory.mktemp("prop") / "relay.db")
    server = RelayServer(
        ServiceSettings(grpc_addr="127.0.0.1:0", shutdown_grace_s=1.0),
        store,
        stream_limits=StreamLimits(max_batch_events=7),
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{await server.start()}")
    stub = EventServiceStub(channel)
    published: list[tuple[int, str]] = []
    subscribers: list[tuple[list[str], int, Call]] = []
    try:
        for step in steps:
            if step[0] == "publish":
                _, family, count = step
                for _ in range(count):
                    result = await store.append(
                        event(f"{family}.created", f"{family}_{len(published)}")
                    )
                    published.append((result.sequence, f"{family}.created"))
            else:
                _, patterns, after = step
                call = stub.Subscribe(SubscribeRequest(event_types=patterns, after_sequence=after))
                subscribers.append((patterns, after, call))
        for patterns, after, call in subscribers:
            matches = EventFilter(patterns).matches_type
            expected = [s for s, t in published if s > after and matches(t)]
            received = await collect(call, Received(), until_count(len(expected)))
            assert received.sequences == expected
            call.cancel()
    finally:
        await server.stop()
        await channel.close(None)
        await store.close()
