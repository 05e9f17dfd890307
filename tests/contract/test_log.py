"""Store contract, the log: sequences, dedup, reads, notifications, retention."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from clerkrelay.v1.event_pb2 import Event
from service.storage import AppendResult, BeforeRetention, Retention, Store, StoredEvent
from tests.contract.conftest import StoreFactory
from tests.history import copy_event, event


async def test_empty_store(store: Store) -> None:
    assert await store.head() == 0
    assert await store.oldest_retained() == 1
    result = await store.read(0, 100)
    assert result.events == []
    assert result.last_examined == 0


async def test_sequence_starts_at_one_and_has_no_gaps(store: Store) -> None:
    events = [event("user.created", f"user_{i:03d}", webhook_id=f"msg_seq_{i}") for i in range(60)]
    results = await asyncio.gather(*(store.append(e) for e in events))
    assert sorted(r.sequence for r in results) == list(range(1, 61))
    assert not any(r.duplicate for r in results)
    assert await store.head() == 60
    read = await store.read(0, 1000)
    assert [e.sequence for e in read.events] == list(range(1, 61))
    assert read.last_examined == 60


async def test_append_sets_sequence_on_the_stored_event(store: Store) -> None:
    original = event("organization.created", "org_a", webhook_id="msg_stored")
    result = await store.append(copy_event(original))
    (stored,) = (await store.read(0, 10)).events
    parsed = stored.event()
    assert parsed.sequence == result.sequence == 1
    assert parsed.id == "msg_stored"
    assert parsed.raw_body == original.raw_body
    assert parsed.organization_created == original.organization_created
    assert stored.type == "organization.created"
    assert stored.organization_id == "org_a"
    assert stored.subject_ids == ("org_a",)


async def test_duplicate_changes_nothing_and_returns_the_original_sequence(store: Store) -> None:
    first = event("user.created", "user_dup", webhook_id="msg_dup")
    await store.append(event("user.created", "user_other"))
    original = await store.append(copy_event(first))
    changed = event("user.updated", "user_dup", at=1_800_000_000_000, webhook_id="msg_dup")
    again = await store.append(changed)
    assert (original.sequence, original.duplicate) == (2, False)
    assert (again.sequence, again.duplicate) == (2, True)
    assert await store.head() == 2
    record, _ = await store.get_entity("user", "user_dup")
    assert record is not None and record.event_sequence == 2


async def test_dedup_survives_a_restart(store_factory: StoreFactory) -> None:
    store = await store_factory()
    await store.append(event("user.created", "user_r", webhook_id="msg_restart"))
    await store.close()
    reopened = await store_factory()
    result = await reopened.append(event("user.created", "user_r", webhook_id="msg_restart"))
    assert (result.sequence, result.duplicate) == (1, True)
    assert await reopened.head() == 1
    follow = await reopened.append(event("user.created", "user_s"))
    assert follow.sequence == 2


async def test_concurrent_appends_of_one_id_store_it_once(store: Store) -> None:
    original = event("user.created", "user_race", webhook_id="msg_race")
    results = await asyncio.gather(*(store.append(copy_event(original)) for _ in range(20)))
    assert sum(not r.duplicate for r in results) == 1
    assert {r.sequence for r in results} == {1}
    assert len((await store.read(0, 100)).events) == 1


async def test_append_many_answers_each_event_as_append_would(store: Store) -> None:
    await store.append(event("user.created", "user_a", webhook_id="msg_a"))
    results = await store.append_many(
        [
            event("user.created", "user_b", webhook_id="msg_b"),
            event("user.created", "user_a", webhook_id="msg_a"),  # a duplicate
            event("user.updated", "user_b", at=1_800_000_000_000, webhook_id="msg_b2"),
        ]
    )
    assert [(r.sequence, r.duplicate) if isinstance(r, AppendResult) else r for r in results] == [
        (2, False),
        (1, True),
        (3, False),
    ]
    assert await store.append_many([]) == []
    page = await store.read(0, 10)
    assert [e.sequence for e in page.events] == [1, 2, 3]
    user_b, _ = await store.get_entity("user", "user_b")
    assert user_b is not None and user_b.event_sequence == 3


async def test_read_pages_and_filters(store: Store) -> None:
    for i in range(10):
        kind = "user.created" if i % 3 == 0 else "organization.created"
        await store.append(event(kind, f"id_{i}"))

    def users_only(e: StoredEvent) -> bool:
        return e.type.startswith("user.")

    page = await store.read(0, 4, users_only)
    assert [e.sequence for e in page.events] == [1, 4]
    assert page.last_examined == 4
    rest = await store.read(page.last_examined, 100, users_only)
    assert [e.sequence for e in rest.events] == [7, 10]
    assert rest.last_examined == 10
    assert (await store.read(10, 100)).last_examined == 10


async def test_a_read_without_data_has_every_fact_and_no_bytes(store: Store) -> None:
    for i in range(5):
        await store.append(event("user.created" if i % 2 else "organization.created", f"id_{i}"))

    def users_only(e: StoredEvent) -> bool:
        return e.type.startswith("user.")

    full = await store.read(1, 3, users_only)
    light = await store.read(1, 3, users_only, with_data=False)
    assert light.last_examined == full.last_examined == 4
    assert [e._replace(data=b"") for e in full.events] == light.events
    assert [e.sequence for e in light.events] == [2, 4]
    assert all(e.data for e in full.events)


async def test_listeners_see_every_commit_in_order(store: Store) -> None:
    seen: list[int] = []

    def listener(events: Sequence[StoredEvent]) -> None:
        seen.extend(e.sequence for e in events)

    remove = store.add_listener(listener)
    await asyncio.gather(*(store.append(event("role.created", f"role_{i}")) for i in range(25)))
    await store.append(event("role.created", "role_0", webhook_id="msg_role_dup"))
    assert seen == list(range(1, 27))
    remove()
    await store.append(event("role.created", "role_late"))
    assert seen == list(range(1, 27))


async def test_wait_for_returns_once_the_head_reaches_it(store: Store) -> None:
    waiter = asyncio.create_task(store.wait_for(2))
    await store.append(event("permission.created", "perm_1"))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await store.append(event("permission.created", "perm_2"))
    await asyncio.wait_for(waiter, 5)


async def test_sequence_before_a_time(store: Store) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    await store.append(event("user.created", "user_t1"))
    middle = datetime.now(UTC) + timedelta(milliseconds=1)
    await asyncio.sleep(0.01)
    await store.append(event("user.created", "user_t2"))
    assert await store.sequence_before(before) == 0
    assert await store.sequence_before(middle) == 1
    assert await store.sequence_before(datetime.now(UTC) + timedelta(seconds=5)) == 2


def _received_at(ns: int, entity_id: str) -> Event:
    stamped = event("user.created", entity_id, webhook_id=f"msg_{entity_id}")
    stamped.receive_time.FromNanoseconds(ns)
    return stamped


async def test_receive_times_never_decrease_along_the_log(store: Store) -> None:
    t = 1_800_000_000_000_000_000
    sent = [_received_at(at, f"user_r{n}") for n, at in enumerate([t, t - 5_000_000, t + 1000])]
    for stamped in sent:
        await store.append(copy_event(stamped))
    stored = [e.event() for e in (await store.read(0, 10)).events]
    assert [e.receive_time.ToNanoseconds() for e in stored] == [t, t, t + 1000]
    assert [e.raw_body for e in stored] == [e.raw_body for e in sent]


async def test_sequence_before_matches_every_time_on_a_long_log(store: Store) -> None:
    t = 1_800_000_000_000_000_000
    times = [t + (n // 3) * 1_000_000 for n in range(100)]  # three events per millisecond
    for n, at in enumerate(times):
        await store.append(_received_at(at, f"user_s{n}"))
    # Cutoffs 10 µs either side of each millisecond: clear of a datetime's float rounding.
    for cutoff in [at + d for at in sorted(set(times)) for d in (-10_000, 10_000)]:
        expected = sum(1 for at in times if at < cutoff)
        when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=cutoff // 1000)
        assert await store.sequence_before(when) == expected, cutoff


async def test_retention_by_count(store_factory: StoreFactory) -> None:
    store = await store_factory(Retention(max_count=10, interval_s=3600))
    for i in range(30):
        await store.append(event("user.updated", "user_keep", at=1_700_000_000_000 + i))
    assert await store.trim() == 20
    assert await store.oldest_retained() == 21
    with pytest.raises(BeforeRetention) as error:
        await store.read(0, 100)
    assert error.value.oldest_retained == 21
    assert "oldest retained sequence is 21" in str(error.value)
    kept = await store.read(20, 100)
    assert [e.sequence for e in kept.events] == list(range(21, 31))
    # The projection is never trimmed, and dedup outlives the log.
    record, head = await store.get_entity("user", "user_keep")
    assert record is not None and record.event_sequence == 30 and head == 30
    trimmed_first = (await store.read(20, 1)).events[0].event()
    assert trimmed_first.sequence == 21
    assert await store.trim() == 0


async def test_retention_by_age(store_factory: StoreFactory) -> None:
    store = await store_factory(Retention(max_age_s=0.2, interval_s=3600))
    for i in range(5):
        await store.append(event("user.created", f"user_old_{i}", webhook_id=f"msg_old_{i}"))
    await asyncio.sleep(0.3)
    boundary = datetime.now(UTC)
    await store.append(event("user.created", "user_new"))
    assert await store.trim() == 5
    assert await store.oldest_retained() == 6
    assert [e.sequence for e in (await store.read(5, 10)).events] == [6]
    again = await store.append(event("user.created", "user_old_0", webhook_id="msg_old_0"))
    assert (again.sequence, again.duplicate) == (1, True)
    with pytest.raises(BeforeRetention):
        await store.sequence_before(boundary - timedelta(seconds=10))


async def test_ping_answers(store: Store) -> None:
    await store.ping()
