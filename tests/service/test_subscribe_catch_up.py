"""EventService.Subscribe's start: history, then caught_up, then live; batches; where it starts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from clerkrelay.v1.event_service_pb2 import SubscribeRequest
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage import Retention
from service.storage.sqlite import SqliteStore
from service.subscription import StreamLimits
from tests.history import event
from tests.service.conftest import MakeRelay, OpenChannel
from tests.service.subscribing import Received, append_users, caught_up, collect


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
