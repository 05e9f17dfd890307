"""Members of one group connected to different processes: listed by each, woken by each other.

Two relays over one PostgreSQL database stand for two `grpc` processes (their
dispatch poll set to 30 s, so that only an announcement can wake them in
time); the member records themselves are kept alike on both stores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

from clerkrelay.v1.consumer_service_pb2 import (
    ConsumerGroupOrdering,
    ConsumerGroupSettings,
    ReplayParkedEventsRequest,
    UpdateConsumerGroupRequest,
)
from service.storage import ConsumerState, GroupRow, MemberRow, open_consumer_state, open_store
from service.storage.consumer_records import MEMBER_EXPIRY_NS
from tests.contract.conftest import query_rows
from tests.service.consumers.conftest import GroupRelay, MakeGroupRelay
from tests.service.consumers.members import TestMember, until
from tests.service.consumers.test_delivery import group, settings

_SLOW_POLL_S = 30.0
"""A dispatch poll far longer than any wait below: a round in time was woken."""

on_postgres = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


_MEMBER = MemberRow("id-1", "m1", "ipv4:10.0.0.1:5000", 7)
_EMAILS = GroupRow("emails", ConsumerGroupSettings().SerializeToString(), 1, 0)


@pytest.fixture
async def state(group_relay: GroupRelay) -> AsyncIterator[ConsumerState]:
    """The groups' state of the relay's database, holding a group `emails`."""
    opened = open_consumer_state(group_relay.url)
    try:
        await opened.create_group(_EMAILS)
        yield opened
    finally:
        await opened.close()


async def _slow_relays(make: MakeGroupRelay) -> tuple[GroupRelay, GroupRelay]:
    """Two relays over one database, whose rounds only an announcement wakes in time."""
    return (
        await make(consumer_poll_interval_s=_SLOW_POLL_S),
        await make(consumer_poll_interval_s=_SLOW_POLL_S),
    )


async def test_a_member_its_process_stopped_recording_is_no_longer_listed(
    group_relay: GroupRelay, state: ConsumerState
) -> None:
    await state.members_seen("emails", [_MEMBER])
    (stats,) = await state.stats(["emails"])
    assert stats.members == (MemberRow("id-1", "m1", "ipv4:10.0.0.1:5000", 7, 0),)
    expired = MEMBER_EXPIRY_NS + 1_000_000_000
    query_rows(group_relay.url, f"UPDATE consumer_members SET seen_ns = seen_ns - {expired}")
    (stats,) = await state.stats(["emails"])
    assert stats.members == ()
    await state.members_seen("emails", [])  # any process's record forgets it
    assert query_rows(group_relay.url, "SELECT member_id FROM consumer_members") == []


async def test_a_sqlite_store_opened_again_lists_no_member_of_the_process_before(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    store, state = await open_store(url), open_consumer_state(url)
    await state.create_group(_EMAILS)
    await state.members_seen("emails", [_MEMBER])
    (stats,) = await state.stats(["emails"])
    assert stats.members == (MemberRow("id-1", "m1", "ipv4:10.0.0.1:5000", 7, 0),)
    await state.close()
    await store.close()  # the process ends; within 15 s, its member would still be listed

    store, state = await open_store(url), open_consumer_state(url)
    try:
        (stats,) = await state.stats(["emails"])
        assert (stats.group.name, stats.members) == ("emails", ())
    finally:
        await state.close()
        await store.close()


async def test_no_member_is_recorded_for_a_deleted_group(
    group_relay: GroupRelay, state: ConsumerState
) -> None:
    assert await state.delete_group("emails")
    await state.members_seen("emails", [_MEMBER])
    assert query_rows(group_relay.url, "SELECT member_id FROM consumer_members") == []


@on_postgres
async def test_each_process_lists_the_members_of_every_process(
    make_group_relay: MakeGroupRelay,
) -> None:
    first, second = await make_group_relay(), await make_group_relay()
    m1 = TestMember(first.channel, "emails", settings(max_in_flight=1), "m1")
    await m1.start()
    m2 = TestMember(second.channel, "emails", settings(max_in_flight=1), "m2")
    await m2.start()
    await first.append("user.created", "user_1")
    await first.append("user.created", "user_2")
    await m1.next()
    await m2.next()
    for relay in (first, second):
        info = await until(partial(group, relay, "emails"), lambda g: g.in_flight_count == 2)
        assert [(m.member_name, m.in_flight) for m in info.members] == [("m1", 1), ("m2", 1)]
        assert all(m.address.startswith("ipv4:127.0.0.1:") for m in info.members)
    await m2.close()
    info = await until(lambda: group(first, "emails"), lambda g: len(g.members) == 1)
    assert [m.member_name for m in info.members] == ["m1"]
    await m1.close()


@on_postgres
async def test_events_a_leaving_member_releases_go_at_once_to_a_member_of_another_process(
    make_group_relay: MakeGroupRelay,
) -> None:
    first, second = await _slow_relays(make_group_relay)
    ordered = settings(ordering=ConsumerGroupOrdering.CONSUMER_GROUP_ORDERING_PER_ENTITY)
    leaving = TestMember(first.channel, "emails", ordered, "leaving")
    await leaving.start()
    sequences = await first.append("user.updated", "user_1", count=2)
    held = await leaving.next()
    assert held.event.sequence == sequences[0]
    staying = TestMember(second.channel, "emails", ordered, "staying")
    await staying.start()
    assert await staying.nothing_for(0.3)  # user_1's first event is in flight
    await leaving.close()
    delivered = await staying.next(timeout_s=5.0)
    assert (delivered.event.sequence, delivered.attempt) == (sequences[0], 2)
    await staying.close()


@on_postgres
async def test_parked_events_replayed_through_another_process_go_out_at_once(
    make_group_relay: MakeGroupRelay,
) -> None:
    first, second = await _slow_relays(make_group_relay)
    member = TestMember(second.channel, "emails", settings(), "m")
    await member.start()
    (sequence,) = await second.append("user.created", "user_1")
    member.term(await member.next(), "bad address")
    await until(lambda: group(first, "emails"), lambda g: g.parked_count == 1)
    replayed = await first.stub.ReplayParkedEvents(ReplayParkedEventsRequest(name="emails"))
    assert replayed.replayed_count == 1
    again = await member.next(timeout_s=5.0)
    assert (again.event.sequence, again.attempt) == (sequence, 1)
    await member.close()


@on_postgres
async def test_a_process_behind_an_update_to_per_entity_ordering_keeps_the_new_order(
    make_group_relay: MakeGroupRelay,
) -> None:
    updating, serving = await _slow_relays(make_group_relay)
    holding = TestMember(serving.channel, "emails", settings(max_in_flight=1), "holding")
    await holding.start()
    await serving.append("user.updated", "user_a")
    first = await holding.next()
    acking = TestMember(serving.channel, "emails", settings(max_in_flight=1), "acking")
    await acking.start()
    await serving.append("user.updated", "user_b")
    second = await acking.next()
    await serving.append("user.updated", "user_a")  # waits: both members are full
    assert (first.event.sequence, second.event.sequence) == (1, 2)
    ordered = settings(
        max_in_flight=1, ordering=ConsumerGroupOrdering.CONSUMER_GROUP_ORDERING_PER_ENTITY
    )
    await updating.stub.UpdateConsumerGroup(
        UpdateConsumerGroupRequest(name="emails", settings=ordered)
    )
    # `serving` has not read the update (it polls every 30 s): the round that this ack wakes
    # must not hand user_a's second event to `acking` while `holding` has its first.
    acking.ack(second)
    assert await acking.nothing_for(0.5)
    await holding.close()
    await acking.close()


@on_postgres
async def test_a_member_joining_a_process_behind_an_update_gets_the_new_ordering_at_once(
    make_group_relay: MakeGroupRelay,
) -> None:
    updating, serving = await _slow_relays(make_group_relay)
    first = TestMember(serving.channel, "emails", settings(max_in_flight=10), "first")
    await first.start()
    for user in ("user_a", "user_a", "user_b", "user_a"):
        await serving.append("user.updated", user)
    assert sorted([(await first.next()).event.sequence for _ in range(4)]) == [1, 2, 3, 4]
    ordered = settings(
        max_in_flight=10, ordering=ConsumerGroupOrdering.CONSUMER_GROUP_ORDERING_PER_ENTITY
    )
    await updating.stub.UpdateConsumerGroup(
        UpdateConsumerGroupRequest(name="emails", settings=ordered)
    )
    # `serving` read the group when `first` joined and, polling every 30 s, has not read it
    # since: the joining member makes it read the group before it hands anything out.
    second = TestMember(serving.channel, "emails", ordered, "second")
    await second.start()
    await first.close()  # leaves all four unsettled
    delivered = sorted([(await second.next()).event.sequence for _ in range(2)])
    assert delivered == [1, 3]  # user_a's first and user_b's
    assert await second.nothing_for(0.5)
    await second.close()
