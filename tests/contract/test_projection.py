"""Store contract, the projection: newer wins, tombstones, stale events, paging."""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clerkrelay.kinds import KIND_BY_NAME, ListFilters
from clerkrelay.v1.event_pb2 import Event
from clerkrelay.v1.organizations_pb2 import (
    Organization,
    OrganizationInvitation,
    OrganizationMembership,
)
from clerkrelay.v1.sessions_pb2 import Session
from clerkrelay.v1.users_pb2 import User
from service.storage import EntityQuery, Store
from tests.contract.conftest import StoreFactory
from tests.history import copy_event, event, membership

T0 = 1_700_000_000_000


async def _state(store: Store, kind: str, entity_id: str) -> tuple[bytes, bool]:
    record, _ = await store.get_entity(kind, entity_id)
    assert record is not None, (kind, entity_id)
    return record.state, record.deleted


async def test_newer_update_wins_whatever_the_arrival_order(store: Store) -> None:
    newer = event("user.updated", "user_a", at=T0 + 2, first_name="Newer")
    older = event("user.updated", "user_a", at=T0 + 1, first_name="Older")
    first = await store.append(newer)
    second = await store.append(older)
    assert (first.stale, second.stale) == (False, True)
    state, deleted = await _state(store, "user", "user_a")
    assert User.FromString(state).first_name == "Newer"
    assert not deleted
    stored = [e.event() for e in (await store.read(0, 10)).events]
    assert [e.stale for e in stored] == [False, True]  # stale events are still logged


async def test_delete_leaves_a_tombstone_older_updates_cannot_resurrect(store: Store) -> None:
    await store.append(event("user.created", "user_b", at=T0, first_name="Ada"))
    await store.append(event("user.deleted", "user_b", at=T0 + 10))
    late = await store.append(event("user.updated", "user_b", at=T0 + 5, first_name="Late"))
    assert late.stale
    record, _ = await store.get_entity("user", "user_b")
    assert record is not None and record.deleted
    # The tombstone keeps the last state seen before the delete.
    assert User.FromString(record.state).first_name == "Late"
    assert record.updated_at == T0 + 10


async def test_tombstone_of_a_never_seen_entity_holds_its_id(store: Store) -> None:
    await store.append(event("organization.deleted", "org_gone", at=T0))
    record, _ = await store.get_entity("organization", "org_gone")
    assert record is not None and record.deleted
    assert Organization.FromString(record.state) == Organization(id="org_gone")


async def test_membership_delete_keeps_the_full_object(store: Store) -> None:
    await store.append(membership("organizationMembership.created", "mem_1", "org_1", "user_1", T0))
    await store.append(
        membership("organizationMembership.deleted", "mem_1", "org_1", "user_1", T0 + 1)
    )
    state, deleted = await _state(store, "organization_membership", "mem_1")
    assert deleted
    kept = OrganizationMembership.FromString(state)
    assert (kept.organization.id, kept.public_user_data.user_id) == ("org_1", "user_1")


async def test_accepted_invitation_is_marked_accepted(store: Store) -> None:
    await store.append(event("organizationInvitation.created", "inv_1", at=T0, status="pending"))
    await store.append(event("organizationInvitation.accepted", "inv_1", at=T0 + 1, status=None))
    state, deleted = await _state(store, "organization_invitation", "inv_1")
    assert OrganizationInvitation.FromString(state).status == "accepted"
    assert not deleted


async def test_session_events_move_its_status(store: Store) -> None:
    await store.append(event("session.created", "sess_1", at=T0, status="active"))
    await store.append(event("session.ended", "sess_1", at=T0 + 2, status="ended"))
    await store.append(event("session.pending", "sess_1", at=T0 + 1, status="pending"))
    state, _ = await _state(store, "session", "sess_1")
    assert Session.FromString(state).status == "ended"


async def test_messages_are_not_entities(store: Store) -> None:
    await store.append(event("email.created", "ema_1"))
    await store.append(event("sms.created", "sms_1"))
    for kind in KIND_BY_NAME:
        assert (await store.list_entities(EntityQuery(kind, show_deleted=True))).records == []
    assert await store.head() == 2


async def test_unknown_types_are_logged_but_not_projected(store: Store) -> None:
    unknown = Event(id="msg_unknown", type="foo.bar", raw_body=b'{"type":"foo.bar"}')
    result = await store.append(unknown)
    assert (result.sequence, result.duplicate, result.stale) == (1, False, False)
    (stored,) = (await store.read(0, 10)).events
    assert stored.event().raw_body == b'{"type":"foo.bar"}'
    assert stored.subject_ids == ()


async def test_list_filters_by_organization_and_user(store: Store) -> None:
    rows = [
        ("mem_a", "org_1", "user_1"),
        ("mem_b", "org_1", "user_2"),
        ("mem_c", "org_2", "user_1"),
    ]
    for i, (mid, org, user) in enumerate(rows):
        await store.append(membership("organizationMembership.created", mid, org, user, T0 + i))
    await store.append(
        membership("organizationMembership.deleted", "mem_b", "org_1", "user_2", T0 + 9)
    )

    async def ids(show_deleted: bool = False, **filters: str) -> list[str]:
        query = EntityQuery("organization_membership", ListFilters(**filters), show_deleted)
        page = await store.list_entities(query)
        return [r.id for r in page.records]

    assert await ids(organization_id="org_1") == ["mem_a"]
    assert await ids(organization_id="org_1", show_deleted=True) == ["mem_a", "mem_b"]
    assert await ids(user_id="user_1") == ["mem_a", "mem_c"]
    assert await ids() == ["mem_a", "mem_c"]
    page = await store.list_entities(EntityQuery("organization_membership"))
    assert page.snapshot_sequence == 4


NEW_USERS = 200


async def test_paging_neither_skips_nor_repeats_while_appends_continue(store: Store) -> None:
    await asyncio.gather(
        *(store.append(event("user.created", f"user_{i:04d}", at=T0)) for i in range(240))
    )
    stop = asyncio.Event()

    async def keep_writing() -> None:
        # Updates go on until the paging ends; new users stop after NEW_USERS, so
        # the paging, which they sort after, catches up with them however fast
        # the store appends.
        for i in itertools.count():
            if stop.is_set():
                return
            await store.append(event("user.updated", f"user_{i % 240:04d}", at=T0 + 1 + i))
            if i < NEW_USERS:
                await store.append(event("user.created", f"user_new_{i:04d}", at=T0))

    writer = asyncio.create_task(keep_writing())
    seen: list[str] = []
    after = ""
    while True:
        page = await store.list_entities(EntityQuery("user", after_id=after, limit=25))
        if not page.records:
            break
        seen.extend(r.id for r in page.records)
        after = page.records[-1].id
        await asyncio.sleep(0.005)
    stop.set()
    await writer
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert {f"user_{i:04d}" for i in range(240)} <= set(seen)


def _history() -> list[Event]:
    """A realistic life of a few entities, in the order Clerk produced it."""
    t = itertools.count(T0, 1000)
    return [
        event("user.created", "user_x", at=next(t), first_name="Ada"),
        event("organization.created", "org_x", at=next(t), name="Acme"),
        membership("organizationMembership.created", "mem_x", "org_x", "user_x", next(t)),
        event("session.created", "sess_x", at=next(t), user_id="user_x", status="active"),
        event("user.updated", "user_x", at=next(t), first_name="Ada L."),
        event("organizationInvitation.created", "inv_x", at=next(t), organization_id="org_x"),
        membership(
            "organizationMembership.updated", "mem_x", "org_x", "user_x", next(t), role="org:admin"
        ),
        event("organizationInvitation.accepted", "inv_x", at=next(t), organization_id="org_x"),
        event("session.ended", "sess_x", at=next(t), user_id="user_x", status="ended"),
        event("organization.updated", "org_x", at=next(t), name="Acme Inc"),
        membership("organizationMembership.deleted", "mem_x", "org_x", "user_x", next(t)),
        event("user.updated", "user_x", at=next(t), last_name="Lovelace"),
        event("user.deleted", "user_x", at=next(t)),
        event("organization.deleted", "org_x", at=next(t)),
    ]


async def _projection(store: Store) -> dict[tuple[str, str], tuple[bytes, bool]]:
    snapshot = {}
    for kind in sorted(KIND_BY_NAME):
        page = await store.list_entities(EntityQuery(kind, show_deleted=True, limit=1000))
        snapshot.update({(kind, r.id): (r.state, r.deleted) for r in page.records})
    return snapshot


HISTORY = _history()


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    order=st.permutations(range(len(HISTORY))),
    repeats=st.lists(st.integers(0, len(HISTORY) - 1), max_size=6),
)
async def test_projection_does_not_depend_on_arrival_order(
    store_factory: StoreFactory, order: list[int], repeats: list[int]
) -> None:
    in_order = await store_factory(fresh=True)
    for e in HISTORY:
        await in_order.append(copy_event(e))
    expected = await _projection(in_order)
    await in_order.close()

    shuffled = await store_factory(fresh=True)
    deliveries = [HISTORY[i] for i in order] + [HISTORY[i] for i in repeats]
    for e in deliveries:
        await shuffled.append(copy_event(e))
    try:
        assert await _projection(shuffled) == expected
        assert await shuffled.head() == len(HISTORY)
    finally:
        await shuffled.close()


async def test_a_batch_of_many_entities_sees_every_current_row(store: Store) -> None:
    """A batch reads the rows of all its entities (in chunks), so none is taken for new."""
    ids = [f"user_{n:04d}" for n in range(600)]
    await store.append_many([event("user.created", i, at=T0 + 2, first_name="New") for i in ids])
    older = [event("user.updated", i, at=T0 + 1, first_name="Old") for i in ids]
    results = await store.append_many(older)
    assert [r.stale for r in results if not isinstance(r, BaseException)] == [True] * 600
    page = await store.list_entities(EntityQuery("user", limit=1000))
    assert {User.FromString(r.state).first_name for r in page.records} == {"New"}
