"""EventService.Subscribe live: hand-over, slow subscribers, cancel, checkpoints, shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import grpc

from clerkrelay.v1.event_service_pb2 import SubscribeRequest
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from service.subscription import StreamLimits
from tests.history import event
from tests.service.conftest import MakeRelay
from tests.service.subscribing import Received, append_users, caught_up, collect, rejoined


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


async def test_a_stream_that_keeps_receiving_gets_no_heartbeat_until_it_goes_quiet(
    make_relay: MakeRelay,
) -> None:
    # Its housekeeping timer fires while events still flow: it must set itself
    # again for the new due time, not send a heartbeat.
    relay = await make_relay(StreamLimits(heartbeat_interval_s=0.5, checkpoint_interval_s=0.5))
    call = relay.stub.Subscribe(SubscribeRequest())
    received = await collect(call, Received(), caught_up)
    for i in range(1, 16):
        await relay.store.append(event("user.created", f"busy_{i:02d}"))
        await collect(call, received, until_sequence(i))
        await asyncio.sleep(0.1)
    assert "heartbeat" not in received.kinds
    quiet = time.monotonic()  # about 0.1 s after the last message
    await collect(call, received, lambda r: "heartbeat" in r.kinds, timeout=5)
    assert 0.25 <= time.monotonic() - quiet < 1.5
    assert received.sequences == list(range(1, 16))
    call.cancel()


def until_sequence(sequence: int) -> Callable[[Received], bool]:
    return lambda received: sequence in received.sequences


async def test_progress_past_the_last_match_is_checkpointed_at_the_checkpoint_interval(
    make_relay: MakeRelay,
) -> None:
    # The stream waited for a heartbeat a minute away; a commit of a match and a
    # non-match leaves progress unreported, due at the much nearer checkpoint time.
    relay = await make_relay(
        StreamLimits(checkpoint_every=1000, checkpoint_interval_s=0.3, heartbeat_interval_s=60)
    )
    call = relay.stub.Subscribe(SubscribeRequest(event_types=["user.*"]))
    received = await collect(call, Received(), caught_up)
    await asyncio.sleep(0.1)  # the stream is waiting, its timer set for the heartbeat
    results = await relay.store.append_many(
        [event("user.created", "match"), event("role.created", "no_match")]
    )
    assert [getattr(r, "sequence", r) for r in results] == [1, 2]
    await collect(call, received, lambda r: bool(r.checkpoints), timeout=5)
    assert received.sequences == [1]
    assert received.checkpoints == [2]
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
