"""PER_ENTITY ordering on a real server, both stores: one event per entity in flight, in log order.

Three members handle 60 events about 10 users, acking after a random pause;
one member leaves midway (its unsettled events move to the others) and a new
one joins. No user may ever have two events held at once, and each user's
events must be acked in log order.
"""

from __future__ import annotations

import asyncio
import random

from clerkrelay.v1.consumer_service_pb2 import (
    ConsumerGroupOrdering,
    CreateConsumerGroupRequest,
    UpdateConsumerGroupRequest,
)
from service.storage import open_consumer_state
from tests.service.consumers.conftest import GroupRelay
from tests.service.consumers.members import TestMember, until
from tests.service.consumers.test_delivery import group, settings

PER_ENTITY = ConsumerGroupOrdering.CONSUMER_GROUP_ORDERING_PER_ENTITY


async def test_per_entity_order_and_exclusivity_while_members_come_and_go(
    group_relay: GroupRelay,
) -> None:
    rng = random.Random(14)
    users = [f"user_{i}" for i in range(10)]
    for _ in range(6):
        for user in users:
            await group_relay.append("user.updated", user)
    held: dict[str, str] = {}
    acked: dict[str, list[int]] = {user: [] for user in users}
    violations: list[str] = []

    async def consume(member: TestMember, name: str) -> None:
        while True:
            delivery = await member.next(30)
            user = delivery.event.user_updated.id
            if user in held:
                violations.append(f"{user} held by {held[user]} and {name}")
            held[user] = name
            await asyncio.sleep(rng.random() * 0.01)
            del held[user]
            acked[user].append(delivery.event.sequence)
            member.ack(delivery)

    group_settings = settings(ordering=PER_ENTITY, max_in_flight=4)
    members = {
        f"m{i}": TestMember(group_relay.channel, "ordered", group_settings) for i in range(3)
    }
    tasks = {}
    for name, member in members.items():
        await member.start()
        tasks[name] = asyncio.create_task(consume(member, name))

    def done() -> int:
        return sum(len(sequences) for sequences in acked.values())

    await until(lambda: asyncio.sleep(0, done()), lambda n: n >= 20, 30)
    tasks["m0"].cancel()  # m0 leaves with deliveries it never settles
    for user, name in list(held.items()):
        if name == "m0":
            del held[user]
    await members["m0"].close()
    late = TestMember(group_relay.channel, "ordered")
    await late.start()
    tasks["m3"] = asyncio.create_task(consume(late, "m3"))

    info = await until(lambda: group(group_relay, "ordered"), lambda g: g.position == 60, 60)
    for task in tasks.values():
        task.cancel()
    assert violations == []
    for user, sequences in acked.items():
        assert sequences == sorted(sequences), user
        assert len(set(sequences)) == 6, user
    assert sorted(s for sequences in acked.values() for s in set(sequences)) == list(range(1, 61))
    assert info.in_flight_count == 0
    for member in (members["m1"], members["m2"], late):
        await member.close()


async def test_a_group_updated_to_per_entity_ordering_holds_back_what_it_handed_out_before(
    group_relay: GroupRelay,
) -> None:
    # Handed out under `none`, the events carry no turns; the update sets them
    # from the pending events, so the next member gets each user's first only.
    for user in ("user_a", "user_a", "user_b", "user_a"):
        await group_relay.append("user.updated", user)
    first = TestMember(group_relay.channel, "switch", settings(max_in_flight=10))
    await first.start()
    assert sorted([(await first.next()).event.sequence for _ in range(4)]) == [1, 2, 3, 4]
    await group_relay.stub.UpdateConsumerGroup(
        UpdateConsumerGroupRequest(name="switch", settings=settings(ordering=PER_ENTITY))
    )
    await first.close()  # leaves all four unsettled
    second = TestMember(group_relay.channel, "switch")
    await second.start()
    delivered = sorted([(await second.next()).event.sequence for _ in range(2)])
    assert delivered == [1, 3]  # user_a's first and user_b's
    assert await second.nothing_for(0.5)
    await second.close()


async def test_a_process_that_starts_dispatching_a_per_entity_group_renews_its_turns(
    group_relay: GroupRelay,
) -> None:
    # A process that had not read the update to per-entity ordering yet added
    # these events under `none`, so without turns, and was killed before its
    # next read of the group (which would have set them): the process that
    # starts dispatching the group next must not leave them stuck.
    await group_relay.stub.CreateConsumerGroup(
        CreateConsumerGroupRequest(name="stale", settings=settings(ordering=PER_ENTITY))
    )
    for user in ("user_a", "user_a", "user_b"):
        await group_relay.append("user.updated", user)
    state = open_consumer_state(group_relay.url)
    try:
        pending = [(1, "user_a"), (2, "user_a"), (3, "user_b")]
        assert await state.fill("stale", 0, 3, pending, per_entity=False)
    finally:
        await state.close()
    member = TestMember(group_relay.channel, "stale", settings(ordering=PER_ENTITY))
    await member.start()
    delivered = sorted([(await member.next()).event.sequence for _ in range(2)])
    assert delivered == [1, 3]  # user_a's first and user_b's
    assert await member.nothing_for(0.5)
    await member.close()
