"""Consume on a real server, both stores: one member per event, ack, nack, ack_wait, parking."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration

from clerkrelay.v1.consumer_service_pb2 import (
    ConsumerGroup,
    ConsumerGroupSettings,
    DiscardParkedEventsRequest,
    GetConsumerGroupRequest,
    ListParkedEventsRequest,
    ParkedEvent,
    ReplayParkedEventsRequest,
)
from tests.service.consumers.conftest import GroupRelay
from tests.service.consumers.members import TestMember, until


def settings(
    ack_wait_s: float = 30.0, max_deliveries: int = 0, max_in_flight: int = 0, **kwargs: object
) -> ConsumerGroupSettings:
    """Settings from the beginning of the log."""
    wait = Duration()
    wait.FromNanoseconds(int(ack_wait_s * 1e9))
    return ConsumerGroupSettings(
        after_sequence=0,
        ack_wait=wait,
        max_deliveries=max_deliveries,
        max_in_flight=max_in_flight,
        **kwargs,  # type: ignore[arg-type]
    )


async def group(relay: GroupRelay, name: str) -> ConsumerGroup:
    """GetConsumerGroup's answer."""
    return (await relay.stub.GetConsumerGroup(GetConsumerGroupRequest(name=name))).group


async def parked_events(relay: GroupRelay, name: str) -> list[ParkedEvent]:
    """The first page of ListParkedEvents."""
    page = await relay.stub.ListParkedEvents(ListParkedEventsRequest(name=name))
    return list(page.parked_events)


async def test_each_event_goes_to_exactly_one_member(group_relay: GroupRelay) -> None:
    members = [TestMember(group_relay.channel, "emails", settings(), f"m{i}") for i in range(3)]
    for member in members:
        await member.start()
    sequences = []
    for i in range(30):
        sequences += await group_relay.append("user.created", f"user_{i}")
    got: dict[int, list[str]] = {}

    async def consume(member: TestMember, name: str) -> None:
        while True:
            delivery = await member.next()
            got.setdefault(delivery.event.sequence, []).append(name)
            assert delivery.attempt == 1
            member.ack(delivery)

    tasks = [asyncio.create_task(consume(m, f"m{i}")) for i, m in enumerate(members)]
    await until(lambda: asyncio.sleep(0, len(got)), lambda n: n == len(sequences))
    await asyncio.sleep(0.3)  # a duplicate would show up now
    for task in tasks:
        task.cancel()
    assert sorted(got) == sequences
    assert all(len(names) == 1 for names in got.values())
    info = await until(lambda: group(group_relay, "emails"), lambda g: g.acked_count == 30)
    assert (info.position, info.lag, info.in_flight_count, info.redelivered_count) == (30, 0, 0, 0)
    assert sorted(m.member_name for m in info.members) == ["m0", "m1", "m2"]
    for member in members:
        assert member.rejections == []
        await member.close()


async def test_nack_with_delay_redelivers_after_it(group_relay: GroupRelay) -> None:
    member = TestMember(group_relay.channel, "g", settings())
    await member.start()
    (sequence,) = await group_relay.append("user.created", "user_a")
    first = await member.next()
    assert (first.event.sequence, first.attempt) == (sequence, 1)
    member.nack(first, delay_s=0.6, reason="try later")
    assert await member.nothing_for(0.4)
    again = await member.next()
    assert (again.event.sequence, again.attempt) == (sequence, 2)
    assert again.delivery_id != first.delivery_id
    member.ack(again)
    await member.close()


async def test_unsettled_deliveries_come_back_after_ack_wait(group_relay: GroupRelay) -> None:
    slow = TestMember(group_relay.channel, "g", settings(ack_wait_s=0.3), "slow")
    await slow.start()
    (sequence,) = await group_relay.append("user.created", "user_a")
    first = await slow.next()
    assert first.attempt == 1
    again = await slow.next()  # never settled: delivered again
    assert (again.event.sequence, again.attempt) == (sequence, 2)
    slow.ack(first)  # too late: attempt 1 is no longer in flight
    slow.ack(again)
    await until(lambda: asyncio.sleep(0, slow.rejections), bool)
    assert slow.rejections[0][0] == first.delivery_id
    assert "not in flight for this member" in slow.rejections[0][1]
    info = await until(lambda: group(group_relay, "g"), lambda g: g.acked_count == 1)
    assert (info.redelivered_count, info.delivered_count, info.position) == (1, 2, sequence)
    await slow.close()


async def test_parking_after_max_deliveries_then_replay_and_discard(
    group_relay: GroupRelay,
) -> None:
    member = TestMember(group_relay.channel, "g", settings(max_deliveries=2))
    await member.start()
    (sequence,) = await group_relay.append("user.created", "user_a")
    (other,) = await group_relay.append("user.created", "user_b")
    attempts: list[tuple[int, int]] = []
    termed = False
    while len(attempts) < 2 or not termed:  # `other` comes in any batch: term it when it does
        delivery = await member.next()
        if delivery.event.sequence == other:
            member.term(delivery, "not for us")
            termed = True
            continue
        attempts.append((delivery.event.sequence, delivery.attempt))
        member.nack(delivery, reason=f"failure {delivery.attempt}")
    assert attempts == [(sequence, 1), (sequence, 2)]
    stub = group_relay.stub
    parked = await until(lambda: parked_events(group_relay, "g"), lambda parked: len(parked) == 2)
    assert [(p.event.sequence, p.attempts, p.reason) for p in parked] == [
        (sequence, 2, "failure 2"),
        (other, 1, "not for us"),
    ]
    assert parked[0].event.type == "user.created"
    info = await group(group_relay, "g")
    assert (info.parked_count, info.position, info.in_flight_count) == (2, other, 0)

    replay = ReplayParkedEventsRequest(name="g", sequences=[sequence])
    replayed = await stub.ReplayParkedEvents(replay)
    assert replayed.replayed_count == 1
    delivery = await member.next()
    assert (delivery.event.sequence, delivery.attempt) == (sequence, 1)
    member.ack(delivery)
    discarded = await stub.DiscardParkedEvents(DiscardParkedEventsRequest(name="g"))
    assert discarded.discarded_count == 1
    info = await until(lambda: group(group_relay, "g"), lambda g: g.acked_count == 1)
    assert (info.parked_count, info.pending_count, info.in_flight_count) == (0, 0, 0)
    await member.close()


async def test_live_events_are_delivered_without_reading_the_log(
    group_relay: GroupRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = TestMember(group_relay.channel, "live", settings(), "m")
    await member.start()
    first = await group_relay.append("user.created", "user_0")
    assert (await member.next()).event.sequence == first[0]  # the group is at the head
    read, head = group_relay.store.read, group_relay.store.head
    reads = heads = 0

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await read(*args, **kwargs)

    async def counted_head() -> int:
        nonlocal heads
        heads += 1
        return await head()

    monkeypatch.setattr(group_relay.store, "read", counted)
    monkeypatch.setattr(group_relay.store, "head", counted_head)
    delivered = []
    for i in range(1, 11):
        await group_relay.append("user.created", f"user_{i}")
        delivery = await member.next()
        delivered.append(delivery.event.sequence)
        member.ack(delivery)
    assert delivered == list(range(first[0] + 1, first[0] + 11))
    assert reads == 0  # each came from the store's report of its commit
    # Nor was the head read (on PostgreSQL, ahead of the reports of commits made but not
    # reported yet, which a round would then have read from the log): the reports move it.
    assert heads == 0
    await member.close()


async def test_max_in_flight_is_respected(group_relay: GroupRelay) -> None:
    member = TestMember(group_relay.channel, "g", settings(max_in_flight=3))
    await member.start()
    for i in range(10):
        await group_relay.append("user.created", f"user_{i}")
    held = [await member.next() for _ in range(3)]
    assert await member.nothing_for(0.5)
    member.ack(held[0])
    fourth = await member.next()
    assert fourth.event.sequence == 4
    assert await member.nothing_for(0.3)
    await member.close()


async def test_a_member_that_leaves_gives_its_events_to_the_others(group_relay: GroupRelay) -> None:
    leaving = TestMember(group_relay.channel, "g", settings(max_in_flight=2), "leaving")
    await leaving.start()
    for i in range(2):
        await group_relay.append("user.created", f"user_{i}")
    held = sorted([(await leaving.next()).event.sequence for _ in range(2)])
    staying = TestMember(group_relay.channel, "g", name="staying")
    await staying.start()
    assert await staying.nothing_for(0.3)
    await leaving.close()
    deliveries = [await staying.next(), await staying.next()]
    again = sorted((d.event.sequence, d.attempt) for d in deliveries)
    assert again == [(held[0], 2), (held[1], 2)]
    await staying.close()
