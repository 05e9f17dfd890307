"""Store contract, for reconciliation: pass checkpoints, the pass lock, entities by the page."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from service.storage import (
    ENDED_PASSES_KEPT,
    KIND_DONE,
    KIND_LISTING,
    KIND_PENDING,
    MAX_ENTITY_IDS,
    PASS_RUNNING,
    EntityQuery,
    KindCheckpoint,
    PassCheckpoint,
    Store,
    open_store,
)
from tests.contract.conftest import StoreFactory, fresh_schema, query_rows
from tests.history import event


def _checkpoint(
    pass_id: str = "p1", started_at_ms: int = 1_000, **changes: object
) -> PassCheckpoint:
    values: dict[str, object] = {
        "pass_id": pass_id,
        "trigger": "rpc",
        "allow_mass_delete": True,
        "max_delete_share": 0.25,
        "status": PASS_RUNNING,
        "started_at_ms": started_at_ms,
        "updated_at_ms": started_at_ms,
        "kinds": (
            KindCheckpoint("user", KIND_LISTING, '{"offset":0,"tail":["user_9"]}', 7, '{"a":1}'),
            KindCheckpoint("organization"),
        ),
    }
    values.update(changes)
    return PassCheckpoint(**values)  # type: ignore[arg-type]


async def test_an_empty_store_has_no_unfinished_pass(store: Store) -> None:
    assert await store.unfinished_pass() is None


async def test_a_saved_running_pass_comes_back_as_saved(store: Store) -> None:
    saved = _checkpoint()
    await store.save_pass(saved)
    assert await store.unfinished_pass() == saved


async def test_a_later_checkpoint_replaces_the_earlier_one_kinds_included(store: Store) -> None:
    await store.save_pass(_checkpoint())
    later = _checkpoint(
        updated_at_ms=2_000,
        kinds=(
            KindCheckpoint("user", KIND_DONE, "", 7, '{"a":2}'),
            KindCheckpoint("organization", KIND_LISTING, "x", 9, "{}"),
        ),
    )
    await store.save_pass(later)
    assert await store.unfinished_pass() == later


async def test_an_ended_pass_is_not_unfinished(store: Store) -> None:
    await store.save_pass(_checkpoint())
    await store.save_pass(_checkpoint(status="completed"))
    assert await store.unfinished_pass() is None


async def test_the_newest_running_pass_is_the_unfinished_one(store: Store) -> None:
    await store.save_pass(_checkpoint("old", 1_000))
    await store.save_pass(_checkpoint("new", 2_000, kinds=(KindCheckpoint("role"),)))
    await store.save_pass(_checkpoint("ended", 3_000, status="failed"))
    found = await store.unfinished_pass()
    assert found is not None and (found.pass_id, found.kinds) == ("new", (KindCheckpoint("role"),))


async def test_an_ending_pass_keeps_only_the_newest_ended_passes(
    backend: str, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'relay.db'}"
        else:
            url = stack.enter_context(fresh_schema())
        store = await open_store(url)
        try:
            await store.save_pass(_checkpoint("unfinished", 0))
            for n in range(ENDED_PASSES_KEPT + 3):
                await store.save_pass(_checkpoint(f"p{n:02d}", 1_000 + n))
                await store.save_pass(_checkpoint(f"p{n:02d}", 1_000 + n, status="completed"))
            found = await store.unfinished_pass()
        finally:
            await store.close()
        passes = query_rows(url, "SELECT pass_id FROM reconcile_passes ORDER BY pass_id")
        kinds = query_rows(
            url, "SELECT DISTINCT pass_id FROM reconcile_pass_kinds ORDER BY pass_id"
        )
    kept = [(f"p{n:02d}",) for n in range(3, ENDED_PASSES_KEPT + 3)] + [("unfinished",)]
    assert (passes, kinds) == (kept, kept)
    assert found is not None and found.pass_id == "unfinished"


async def test_checkpoints_survive_reopening(store_factory: StoreFactory) -> None:
    first = await store_factory()
    saved = _checkpoint(kinds=(KindCheckpoint("user", KIND_PENDING),))
    await first.save_pass(saved)
    await first.close()
    again = await store_factory()
    assert await again.unfinished_pass() == saved


async def test_one_pass_lock_at_a_time_until_released(store: Store) -> None:
    first = await store.lock_passes()
    assert first is not None
    assert await store.lock_passes() is None
    await first.release()
    await first.release()  # a second release changes nothing
    second = await store.lock_passes()
    assert second is not None
    assert await store.lock_passes() is None
    await second.release()


async def test_get_entities_reads_those_held_tombstones_included(store: Store) -> None:
    await store.append(event("user.created", "user_a"))
    await store.append(event("user.created", "user_b"))
    await store.append(event("user.deleted", "user_b", at=2_000_000_000_000))
    await store.append(event("organization.created", "user_c"))  # another kind, same id shape

    found = await store.get_entities("user", ["user_a", "user_b", "user_c", "user_x"])

    assert sorted(found) == ["user_a", "user_b"]
    assert (found["user_a"].deleted, found["user_b"].deleted) == (False, True)
    single, _ = await store.get_entity("user", "user_a")
    assert found["user_a"] == single
    assert await store.get_entities("user", []) == {}


async def test_live_sequences_page_live_entities_of_a_kind_in_id_order(store: Store) -> None:
    for entity_id in ("user_d", "user_a", "user_c", "user_b", "user_e"):
        await store.append(event("user.created", entity_id))
    await store.append(event("user.deleted", "user_c", at=2_000_000_000_000))
    await store.append(event("user.updated", "user_a", at=2_000_000_000_001))
    await store.append(event("organization.created", "user_f"))  # another kind, same id shape

    first = await store.live_sequences("user", "", 2)
    rest = await store.live_sequences("user", first[-1][0], 2)
    last = await store.live_sequences("user", rest[-1][0], 2)

    assert (first, rest, last) == (
        [("user_a", 7), ("user_b", 4)],
        [("user_d", 1), ("user_e", 5)],
        [],
    )
    records = (await store.list_entities(EntityQuery("user"))).records
    assert [(r.id, r.event_sequence) for r in records] == [*first, *rest]
    assert await store.live_sequences("organization", "", 10) == [("user_f", 8)]


async def test_get_entities_refuses_more_than_a_page_of_ids(store: Store) -> None:
    ids = [f"user_{n}" for n in range(MAX_ENTITY_IDS + 1)]
    with pytest.raises(ValueError, match=f"at most {MAX_ENTITY_IDS} ids"):
        await store.get_entities("user", ids)
    assert len(await store.get_entities("user", ids[:MAX_ENTITY_IDS])) == 0
