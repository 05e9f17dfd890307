"""Store contract, lookups: one event by sequence or webhook id, and one entity's history."""

from __future__ import annotations

from clerkrelay.v1.event_pb2 import Event
from service.storage import Retention, Store
from tests.contract.conftest import StoreFactory
from tests.history import event, membership


async def _append_all(store: Store, events: list[Event]) -> list[int]:
    return [(await store.append(e)).sequence for e in events]


async def test_get_event_by_sequence_and_by_webhook_id(store: Store) -> None:
    written = event("user.created", "user_a", webhook_id="msg_lookup_a")
    await _append_all(store, [event("user.created", "user_0"), written])
    by_sequence = await store.get_event(sequence=2)
    by_id = await store.get_event(webhook_id="msg_lookup_a")
    assert by_sequence is not None and by_id is not None
    assert by_sequence == by_id
    parsed = by_id.event()
    assert (parsed.id, parsed.sequence, parsed.type) == ("msg_lookup_a", 2, "user.created")
    assert parsed.raw_body == written.raw_body
    assert by_id.subject_ids == ("user_a",)


async def test_get_event_absent_is_none(store: Store) -> None:
    await store.append(event("user.created", "user_a", webhook_id="msg_only"))
    assert await store.get_event(sequence=2) is None
    assert await store.get_event(webhook_id="msg_never") is None
    assert await store.get_event(webhook_id="") is None


async def test_get_event_after_trim_is_none_by_both_keys(store_factory: StoreFactory) -> None:
    store = await store_factory(Retention(max_count=1))
    await _append_all(
        store,
        [event("user.created", f"user_{n}", webhook_id=f"msg_trim_{n}") for n in range(3)],
    )
    assert await store.trim() == 2
    assert await store.get_event(sequence=1) is None
    assert await store.get_event(webhook_id="msg_trim_0") is None
    kept = await store.get_event(webhook_id="msg_trim_2")
    assert kept is not None and kept.sequence == 3


async def test_history_lists_every_event_about_an_id_in_order(store: Store) -> None:
    await _append_all(
        store,
        [
            event("user.created", "user_h", at=1_700_000_000_000),  # 1
            event("user.created", "user_other"),  # 2
            event("session.created", "sess_1", user_id="user_h"),  # 3: about user_h too
            membership("organizationMembership.created", "orgmem_1", "org_1", "user_h", 1),  # 4
            event("user.updated", "user_h", at=1_700_000_000_500),  # 5
            event("user.deleted", "user_h", at=1_700_000_001_000),  # 6
        ],
    )
    everything = await store.entity_history("user_h", (), 0, 100)
    assert [e.sequence for e in everything.events] == [1, 3, 4, 5, 6]
    assert everything.snapshot_sequence == 6
    users_only = await store.entity_history("user_h", ("user",), 0, 100)
    assert [(e.sequence, e.type) for e in users_only.events] == [
        (1, "user.created"),
        (5, "user.updated"),
        (6, "user.deleted"),
    ]
    sessions = await store.entity_history("user_h", ("session", "organizationMembership"), 0, 100)
    assert [e.sequence for e in sessions.events] == [3, 4]


async def test_history_pages_after_a_sequence(store: Store) -> None:
    await _append_all(
        store, [event("user.updated", "user_p", at=1_700_000_000_000 + n) for n in range(7)]
    )
    first = await store.entity_history("user_p", (), 0, 3)
    second = await store.entity_history("user_p", (), first.events[-1].sequence, 3)
    third = await store.entity_history("user_p", (), second.events[-1].sequence, 3)
    assert [e.sequence for e in first.events] == [1, 2, 3]
    assert [e.sequence for e in second.events] == [4, 5, 6]
    assert [e.sequence for e in third.events] == [7]


async def test_history_of_an_unknown_id_is_empty(store: Store) -> None:
    await store.append(event("user.created", "user_a"))
    page = await store.entity_history("user_nobody", (), 0, 10)
    assert (page.events, page.snapshot_sequence) == ([], 1)


async def test_history_family_is_matched_exactly(store: Store) -> None:
    # `user` must not match `userX.…` nor a differently cased type.
    await _append_all(store, [event("user.created", "user_f"), event("user.updated", "user_f")])
    assert (await store.entity_history("user_f", ("use",), 0, 10)).events == []
    assert (await store.entity_history("user_f", ("User",), 0, 10)).events == []
    assert len((await store.entity_history("user_f", ("user",), 0, 10)).events) == 2


async def test_history_forgets_trimmed_events(store_factory: StoreFactory) -> None:
    store = await store_factory(Retention(max_count=2))
    await _append_all(
        store, [event("user.updated", "user_t", at=1_700_000_000_000 + n) for n in range(5)]
    )
    assert await store.trim() == 3
    page = await store.entity_history("user_t", (), 0, 10)
    assert [e.sequence for e in page.events] == [4, 5]
