"""Consumer groups' stored state, on both backends: fill, claim, settle, park, replay, reopen."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.storage import (
    Claim,
    ConsumerState,
    Fill,
    GroupExists,
    GroupRow,
    SettleKind,
    Settlement,
    Store,
    StoreUnavailable,
    open_consumer_state,
    open_store,
)
from service.storage.consumer_records import Tx
from tests.contract.conftest import drop_schema, postgres_schema_url
from tests.history import event

ACK_WAIT_NS = 200_000_000


@dataclass
class Db:
    """A store and the consumer state of one database, reopenable as a restarted relay would."""

    url: str
    store: Store
    state: ConsumerState

    async def reopen(self) -> None:
        await self.state.close()
        await self.store.close()
        self.store = await open_store(self.url)
        self.state = open_consumer_state(self.url)


@pytest.fixture
async def db(backend: str, tmp_path: Path) -> AsyncIterator[Db]:
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'relay.db'}"
    else:
        schema, url = postgres_schema_url()
    opened = Db(url, await open_store(url), open_consumer_state(url))
    try:
        yield opened
    finally:
        await opened.state.close()
        await opened.store.close()
        if schema is not None:
            drop_schema(schema)


async def _group_with(
    db: Db, entity_ids: list[str], name: str = "g", *, per_entity: bool = True
) -> None:
    """A group from the beginning, filled with one `user.updated` event per id, in order.

    `per_entity=False` fills it as a process does for a group without per-entity
    ordering (no turns kept).
    """
    await db.state.create_group(GroupRow(name, b"settings", time.time_ns(), 0))
    for i, entity in enumerate(entity_ids):
        await db.store.append(event("user.updated", entity, webhook_id=f"{name}_{i}"))
    page = await db.store.read(0, 1000)
    fill = [(e.sequence, e.subject_ids[0]) for e in page.events]
    assert await db.state.fill(name, 0, page.last_examined, fill, per_entity=per_entity)


Claimer = Callable[..., Awaitable[list[tuple[str, int, int]]]]


def _claimer(db: Db, name: str = "g", per_entity: bool = False, max_deliveries: int = 3) -> Claimer:
    async def claim(*wants: tuple[str, int]) -> list[tuple[str, int, int]]:
        claims, _ = await db.state.claim(
            name,
            wants,
            per_entity=per_entity,
            ack_wait_ns=ACK_WAIT_NS,
            max_deliveries=max_deliveries,
        )
        return [(c.member, c.sequence, c.attempt) for c in claims]

    return claim


async def test_create_get_and_duplicate(db: Db) -> None:
    await db.state.create_group(GroupRow("g", b"s", 5, 7))
    with pytest.raises(GroupExists):
        await db.state.create_group(GroupRow("g", b"other", 6, 0))
    assert await db.state.get_group("g") == GroupRow("g", b"s", 5, 7)
    assert await db.state.get_group("nope") is None
    (stats,) = await db.state.stats()
    assert (stats.position, stats.pending, stats.in_flight, stats.parked) == (7, 0, 0, 0)
    assert await db.state.update_settings("g", b"new", per_entity=False)
    assert not await db.state.update_settings("nope", b"new", per_entity=False)
    assert await db.state.delete_group("g")
    assert not await db.state.delete_group("g")
    assert await db.state.stats() == []


async def test_fill_is_refused_when_the_cursor_moved(db: Db) -> None:
    await _group_with(db, ["user_a"])
    assert not await db.state.fill("g", 0, 5, [(1, "user_a")])  # cursor is 1 now
    assert await db.state.pending_summary("g") == (1, 1)


async def test_fill_is_refused_when_the_settings_changed(db: Db) -> None:
    await _group_with(db, ["user_a"])  # settings b"settings", cursor 1
    await db.store.append(event("user.updated", "user_b", webhook_id="late"))
    assert await db.state.update_settings("g", b"per entity", per_entity=True)

    async def round_filling(read: bytes) -> bool:
        """A round that adds event 2 under the settings `read`; whether it was added."""
        *_, filled = await db.state.settle_and_claim(
            "g",
            [],
            [],
            per_entity=False,
            ack_wait_ns=ACK_WAIT_NS,
            max_deliveries=3,
            fill=Fill(1, 2, [(2, "user_b")]),
            settings=read,
        )
        return filled

    assert not await round_filling(b"settings")  # read before the update
    assert await db.state.pending_summary("g") == (1, 1)
    assert await round_filling(b"per entity")
    assert await db.state.pending_summary("g") == (2, 1)


async def _stale_round(
    db: Db, settlements: list[Settlement], wants: list[tuple[str, int]]
) -> tuple[list[bool], list[tuple[str, int, int]]]:
    """A round of a process that read the settings b"settings" (no per-entity order)."""
    applied, claims, _, _ = await db.state.settle_and_claim(
        "g",
        settlements,
        wants,
        per_entity=False,
        ack_wait_ns=ACK_WAIT_NS,
        max_deliveries=3,
        settings=b"settings",
    )
    return applied, [(c.member, c.sequence, c.attempt) for c in claims]


async def test_a_round_under_settings_read_before_an_update_hands_nothing_out(db: Db) -> None:
    await _group_with(db, ["user_a", "user_a", "user_b"], per_entity=False)
    assert await _stale_round(db, [], [("m1", 1)]) == ([], [("m1", 1, 1)])  # settings unchanged
    assert await db.state.update_settings("g", b"per entity", per_entity=True)

    # Unguarded, this round would hand out user_a's second event beside its first.
    assert await _stale_round(db, [], [("m2", 5)]) == ([], [])
    claim = _claimer(db, per_entity=True)
    assert await claim(("m2", 5)) == [("m2", 3, 1)]


async def test_an_ack_under_settings_read_before_an_update_gives_the_entity_its_turn(
    db: Db,
) -> None:
    await _group_with(db, ["user_a", "user_a"], per_entity=False)
    assert await _stale_round(db, [], [("m1", 1)]) == ([], [("m1", 1, 1)])
    assert await db.state.update_settings("g", b"per entity", per_entity=True)

    ack = Settlement(SettleKind.ACK, "m1", 1, 1)
    assert await _stale_round(db, [ack], []) == ([True], [])
    # Without its turn set by that ack, user_a's second event would wait for a renewal.
    assert await _claimer(db, per_entity=True)(("m2", 5)) == [("m2", 2, 1)]


async def test_an_ack_under_unchanged_settings_sets_no_turn(db: Db) -> None:
    await _group_with(db, ["user_a", "user_a"], per_entity=False)
    assert await _stale_round(db, [], [("m1", 1)]) == ([], [("m1", 1, 1)])
    ack = Settlement(SettleKind.ACK, "m1", 1, 1)
    assert await _stale_round(db, [ack], []) == ([True], [])

    async def turns(tx: Tx) -> list[tuple[int, int | None]]:
        rows = await tx.fetch("SELECT sequence, turn FROM consumer_pending ORDER BY sequence")
        return [(int(sequence), turn) for sequence, turn in rows]

    assert await db.state._db.run(turns, read_only=True) == [(2, None)]


async def test_claim_round_robin_then_ack_moves_the_position(db: Db) -> None:
    await _group_with(db, ["user_a", "user_b", "user_c", "user_d"])
    claim = _claimer(db)
    assert await claim(("m1", 2), ("m2", 1)) == [("m1", 1, 1), ("m2", 2, 1), ("m1", 3, 1)]
    applied = await db.state.settle(
        "g",
        [
            Settlement(SettleKind.ACK, "m1", 1, 1),
            Settlement(SettleKind.ACK, "m1", 2, 1),  # m2's delivery: refused
            Settlement(SettleKind.ACK, "m2", 2, 2),  # wrong attempt: refused
        ],
        max_deliveries=3,
    )
    assert applied == [True, False, False]
    (stats,) = await db.state.stats()
    assert (stats.position, stats.pending, stats.in_flight) == (1, 1, 2)
    assert (stats.group.delivered, stats.group.acked) == (3, 1)


async def test_nack_with_delay_waits_then_redelivers(db: Db) -> None:
    await _group_with(db, ["user_a"])
    claim = _claimer(db)
    assert await claim(("m1", 5)) == [("m1", 1, 1)]
    nack = Settlement(SettleKind.NACK, "m1", 1, 1, delay_ns=300_000_000, reason="busy")
    assert await db.state.settle("g", [nack], max_deliveries=3) == [True]
    assert await claim(("m1", 5)) == []
    await asyncio.sleep(0.35)
    assert await claim(("m2", 5)) == [("m2", 1, 2)]
    (stats,) = await db.state.stats()
    assert stats.group.redelivered == 1


async def test_timeout_redelivers_then_parks_after_max_deliveries(db: Db) -> None:
    await _group_with(db, ["user_a"])
    claim = _claimer(db, max_deliveries=2)
    assert await claim(("m1", 1)) == [("m1", 1, 1)]
    assert await claim(("m2", 1)) == []  # still within ack_wait
    await asyncio.sleep(0.25)
    assert await claim(("m2", 1)) == [("m2", 1, 2)]
    await asyncio.sleep(0.25)
    claims, parked = await db.state.claim(
        "g", [("m3", 1)], per_entity=False, ack_wait_ns=ACK_WAIT_NS, max_deliveries=2
    )
    assert (claims, parked) == ([], 1)
    (row,) = await db.state.parked("g", 0, 10)
    assert (row.sequence, row.attempts) == (1, 2)
    assert row.reason == "not settled within ack_wait after 2 deliveries"
    assert row.data is not None
    (stats,) = await db.state.stats()
    assert (stats.position, stats.pending, stats.in_flight, stats.parked) == (1, 0, 0, 1)


async def test_term_parks_at_once_and_replay_brings_it_back(db: Db) -> None:
    await _group_with(db, ["user_a", "user_b"])
    claim = _claimer(db)
    assert await claim(("m1", 2)) == [("m1", 1, 1), ("m1", 2, 1)]
    term = Settlement(SettleKind.TERM, "m1", 1, 1, reason="bad payload")
    late_ack = Settlement(SettleKind.ACK, "m1", 1, 1)
    assert await db.state.settle("g", [term, late_ack], max_deliveries=3) == [True, False]
    assert [(r.sequence, r.reason) for r in await db.state.parked("g", 0, 10)] == [
        (1, "bad payload")
    ]
    assert await db.state.replay_parked("g", [99]) == 0
    assert await db.state.replay_parked("g", []) == 1
    assert await claim(("m2", 5)) == [("m2", 1, 1)]
    assert await db.state.parked("g", 0, 10) == []


async def test_nack_at_the_last_attempt_parks_with_its_reason(db: Db) -> None:
    await _group_with(db, ["user_a"])
    claim = _claimer(db, max_deliveries=1)
    assert await claim(("m1", 1)) == [("m1", 1, 1)]
    nack = Settlement(SettleKind.NACK, "m1", 1, 1, reason="smtp down")
    assert await db.state.settle("g", [nack], max_deliveries=1) == [True]
    assert [(r.sequence, r.attempts, r.reason) for r in await db.state.parked("g", 0, 10)] == [
        (1, 1, "smtp down")
    ]
    assert await db.state.discard_parked("g", []) == 1
    assert await db.state.parked("g", 0, 10) == []


async def test_per_entity_hands_out_one_event_per_entity_in_order(db: Db) -> None:
    await _group_with(db, ["user_a", "user_b", "user_a", "user_c", "user_b"])
    claim = _claimer(db, per_entity=True)
    assert await claim(("m1", 10), ("m2", 10)) == [("m1", 1, 1), ("m2", 2, 1), ("m1", 4, 1)]
    assert await claim(("m2", 10)) == []
    await db.state.settle("g", [Settlement(SettleKind.ACK, "m1", 1, 1)], max_deliveries=3)
    assert await claim(("m2", 10)) == [("m2", 3, 1)]
    # A nack with a delay keeps the entity's later event back until it is redelivered and acked.
    nack = Settlement(SettleKind.NACK, "m2", 2, 1, delay_ns=10**12)
    await db.state.settle("g", [nack], max_deliveries=3)
    assert await claim(("m2", 10)) == []


async def test_per_entity_a_replayed_event_waits_for_the_later_one_in_flight(db: Db) -> None:
    await _group_with(db, ["user_a", "user_a", "user_b"])
    claim = _claimer(db, per_entity=True)
    assert await claim(("m1", 10)) == [("m1", 1, 1), ("m1", 3, 1)]
    term = Settlement(SettleKind.TERM, "m1", 1, 1, reason="bad payload")
    assert await db.state.settle("g", [term], max_deliveries=3) == [True]
    assert await claim(("m2", 10)) == [("m2", 2, 1)]  # user_a's next event goes on
    assert await db.state.replay_parked("g", [1]) == 1
    # Event 1 is back, earlier than event 2, which is in flight: it waits for it.
    assert await claim(("m1", 10)) == []
    await db.state.settle("g", [Settlement(SettleKind.ACK, "m2", 2, 1)], max_deliveries=3)
    assert await claim(("m1", 10)) == [("m1", 1, 1)]


async def test_one_round_fills_settles_and_claims_in_one_transaction(db: Db) -> None:
    await _group_with(db, ["user_a"])
    assert await _claimer(db)(("m1", 5)) == [("m1", 1, 1)]
    await db.store.append(event("user.updated", "user_b", webhook_id="late"))

    async def round_acking(sequence: int) -> tuple[list[bool], list[Claim], int, bool]:
        """m1 acks `sequence` and wants 5 more, in a round that adds event 2 after cursor 1."""
        return await db.state.settle_and_claim(
            "g",
            [Settlement(SettleKind.ACK, "m1", sequence, 1)],
            [("m1", 5)],
            per_entity=False,
            ack_wait_ns=ACK_WAIT_NS,
            max_deliveries=3,
            fill=Fill(1, 2, [(2, "user_b")]),
        )

    applied, claims, parked, filled = await round_acking(1)
    assert (applied, [(c.member, c.sequence) for c in claims], parked, filled) == (
        [True],
        [("m1", 2)],
        0,
        True,
    )
    # A stale fill (the cursor is 2 now) adds nothing; the round's settlement still applies.
    applied, claims, _, filled = await round_acking(2)
    assert (applied, claims, filled) == ([True], [], False)
    assert await db.state.pending_summary("g") == (0, None)


async def test_release_makes_a_members_events_deliverable_at_once(db: Db) -> None:
    await _group_with(db, ["user_a", "user_b"])
    claim = _claimer(db, per_entity=True)
    assert await claim(("m1", 10)) == [("m1", 1, 1), ("m1", 2, 1)]
    assert await db.state.release("g", "m1") == 2
    assert await claim(("m2", 10)) == [("m2", 1, 2), ("m2", 2, 2)]


async def test_state_survives_reopening(db: Db) -> None:
    await _group_with(db, ["user_a", "user_b", "user_c"])
    claim = _claimer(db)
    assert await claim(("m1", 2)) == [("m1", 1, 1), ("m1", 2, 1)]
    await db.state.settle("g", [Settlement(SettleKind.ACK, "m1", 1, 1)], max_deliveries=3)
    await db.reopen()
    (stats,) = await db.state.stats()
    assert (stats.position, stats.pending, stats.in_flight, stats.group.acked) == (1, 1, 1, 1)
    claim = _claimer(db)
    assert await claim(("m2", 5)) == [("m2", 3, 1)]  # 2 is still m1's, until ack_wait
    await db.state.settle("g", [Settlement(SettleKind.ACK, "m1", 2, 1)], max_deliveries=3)
    (stats,) = await db.state.stats()
    assert stats.position == 2


async def test_trimmed_events_are_parked_not_delivered(db: Db) -> None:
    await db.state.create_group(GroupRow("g", b"s", 1, 0))
    assert await db.state.fill("g", 0, 3, [(3, None)])  # sequence 3 was never stored
    claims, parked = await db.state.claim(
        "g", [("m1", 1)], per_entity=False, ack_wait_ns=ACK_WAIT_NS, max_deliveries=3
    )
    assert (claims, parked) == ([], 1)
    (row,) = await db.state.parked("g", 0, 10)
    assert (row.reason, row.data) == ("trimmed from the log before it could be delivered", None)


async def test_a_caller_cancelled_mid_transaction_leaves_nothing_open(db: Db) -> None:
    await db.state.create_group(GroupRow("g", b"s", 1, 0))
    for yields in range(40):
        task = asyncio.create_task(db.state.stats())
        await asyncio.sleep(yields * 0.0001)  # lands in BEGIN, a statement, COMMIT, …
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert await db.state.update_settings("g", f"s{yields}".encode(), per_entity=False)
    assert (await db.state.get_group("g")) == GroupRow("g", b"s39", 1, 0)


async def test_a_statement_that_fails_after_others_rolls_the_whole_transaction_back(
    db: Db,
) -> None:
    # PostgreSQL sends a transaction's statements in one pipeline, so an error
    # surfaces at a later statement or at the commit: it must still undo them all.
    database = db.state._db  # the backend's transactions, which ConsumerState wraps

    async def work(tx: Tx) -> None:
        await tx.executemany("UPDATE consumer_groups SET cursor = ? WHERE name = ?", [(7, "g")])
        await tx.executemany("INSERT INTO consumer_groups (name) VALUES (?)", [("bad",)])
        await tx.announce("g")

    await db.state.create_group(GroupRow("g", b"s", 1, 0))
    with pytest.raises(StoreUnavailable, match=r"^consumer groups .*settings"):  # NOT NULL
        await database.run(work, lock_group="g")
    assert (await db.state.get_group("g")) == GroupRow("g", b"s", 1, 0)  # and usable again
    assert [group.group.name for group in await db.state.stats()] == ["g"]


async def test_two_processes_creating_one_group_at_once(db: Db) -> None:
    other = open_consumer_state(db.url)  # another process's connection
    try:
        outcomes = await asyncio.gather(
            db.state.create_group(GroupRow("g", b"first", 1, 0)),
            other.create_group(GroupRow("g", b"second", 2, 0)),
            return_exceptions=True,
        )
    finally:
        await other.close()
    assert sorted(type(o).__name__ for o in outcomes) == ["GroupExists", "NoneType"]
    row = await db.state.get_group("g")
    assert row is not None and row.settings in (b"first", b"second")


async def test_a_group_updated_to_per_entity_ordering_hands_each_entity_out_in_turn(
    db: Db,
) -> None:
    await _group_with(db, ["user_a", "user_a", "user_b"], per_entity=False)
    assert await db.state.update_settings("g", b"ordered", per_entity=True)
    claim = _claimer(db, per_entity=True)
    assert await claim(("m1", 10)) == [("m1", 1, 1), ("m1", 3, 1)]
    ack = Settlement(SettleKind.ACK, "m1", 1, 1)
    assert await db.state.settle("g", [ack], max_deliveries=3) == [True]
    assert await claim(("m1", 10)) == [("m1", 2, 1)]


async def test_renewed_turns_count_what_was_handed_out_under_other_settings(db: Db) -> None:
    # A process that read the group before its update to per-entity ordering
    # filled and handed out events without keeping turns, then renews them.
    await _group_with(db, ["user_a", "user_a", "user_b"], per_entity=False)
    assert await _claimer(db)(("m1", 1)) == [("m1", 1, 1)]
    await db.state.renew_turns("g")
    claim = _claimer(db, per_entity=True)
    assert await claim(("m2", 10)) == [("m2", 3, 1)]  # user_a's first is still in flight
    ack = Settlement(SettleKind.ACK, "m1", 1, 1)
    assert await db.state.settle("g", [ack], max_deliveries=3) == [True]
    assert await claim(("m2", 10)) == [("m2", 2, 1)]


async def test_per_entity_claims_go_on_past_a_deep_backlog_of_few_entities(db: Db) -> None:
    # 200 events of two entities, then one of a third: each round hands out
    # each entity's next event, whatever waits behind them.
    await _group_with(db, ["user_a", "user_b"] * 100 + ["user_c"])
    claim = _claimer(db, per_entity=True)
    held = [1, 2, 201]
    assert await claim(("m1", 100)) == [("m1", s, 1) for s in held]
    for sequence in range(3, 201, 2):
        acks = [Settlement(SettleKind.ACK, "m1", s, 1) for s in held]
        assert await db.state.settle("g", acks, max_deliveries=3) == [True] * len(held)
        held = [sequence, sequence + 1]
        assert await claim(("m1", 100)) == [("m1", s, 1) for s in held]
