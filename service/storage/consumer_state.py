"""`ConsumerState`: every read and write of consumer groups, one transaction each, on any backend.

The rules it keeps (see `service.storage.consumer_records` for the tables):

- `fill` adds the matching events after the group's cursor to its pending
  set and moves the cursor, only if the cursor is still where the caller
  read it (so two processes never add an event twice).
- `claim` hands waiting events (and in-flight ones past their ack deadline)
  to members, lowest sequence first, under the group's lock. With per-entity
  ordering an event is eligible only when no earlier pending event of its
  entity exists and no event of its entity is in flight: one at a time, in
  log order. A timed-out event that has had its `max_deliveries` is parked
  instead, as is one trimmed from the log before it could be delivered.
- Per-entity claims examine only the pending events whose `turn` is set, so
  a round costs what the entities and the events in flight cost, not the
  backlog: with 10,000 events pending over 15 entities, nearly every event
  waits behind an earlier one of its entity. `turn` is `TURN_NEXT` on every
  event that is the earliest pending of its entity (or has no entity) and
  `TURN_HANDED` on every event a member has held; it may be set on others
  too (a replayed event, a handed one that was nacked), which the claim's own
  conditions then hold back. `fill` sets it on an event whose entity has
  nothing pending, a claim on what it hands out, and removing an event (an
  ack, a park) on the next pending event of its entity. Turns are kept only
  for a group that orders per entity (its callers say so); a group updated to
  per-entity ordering has them set from scratch (`update_settings`, and
  `renew_turns` by a process that ran rounds under the settings before).
- A round may say which settings its caller read (`settings`): if they have
  changed since, it adds and hands out nothing, and its acks and terms set
  their entities' next turns, since the group may order per entity now.
  The checks are conditions inside the round's statements, which PostgreSQL
  runs in its pipeline: no extra round trip. (Acks in a group that does not
  order per entity run one statement more, which changes nothing while the
  settings are those read.)
- `settle` applies a batch of acks, nacks and terms in one transaction, under
  the group's lock (so no claim re-takes an event meanwhile); each applies
  only to the member and attempt that hold the event now, and only once.
- A transaction that makes events deliverable to members of other processes
  (a nack, an ack or a term that lets an entity's next event go, a release, a
  replay) announces the group to them (`Tx.announce`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from service.storage.consumer_records import (
    MEMBER_EXPIRY_NS,
    Claim,
    ConsumerDatabase,
    GroupExists,
    GroupRow,
    GroupStats,
    MemberRow,
    ParkedRow,
    SettleKind,
    Settlement,
    Tx,
)
from service.storage.consumer_sql import (
    GROUP_COLUMNS,
    MEMBERS,
    NEXT_TURN,
    PARK,
    RENEW_TURNS,
    TURN_HANDED,
    TURN_NEXT,
    claim_sql,
    next_turns_if_changed,
)
from service.storage.member_slots import MemberSlots

__all__ = ["ConsumerState", "Fill", "PendingEvent"]

PendingEvent = tuple[int, str | None]
"""A matching event for `fill`: its sequence and its entity key (None: not ordered)."""


@dataclass(frozen=True, slots=True)
class Fill:
    """Matching events to add to a group's pending set, moving its cursor.

    Attributes:
        expected_cursor: The cursor as the caller read it; nothing is added
            if it has moved since.
        new_cursor: The last sequence examined.
        events: The matching events examined.
    """

    expected_cursor: int
    new_cursor: int
    events: Sequence[PendingEvent]


_CHUNK = 500  # sequences (or entity keys) per `IN (…)` list
_T = TypeVar("_T")

BRIEF_ROWS = 512
"""A dispatch round that adds, settles and may claim at most this many events in all
is `brief` (`ConsumerDatabase.run`): a live round (an event or a few, one
member's room) is, a catch-up round that adds pages of the log is not."""


def _chunks(sequences: Sequence[_T]) -> list[Sequence[_T]]:
    """Sequences in lists of at most `_CHUNK`, for `IN (…)`: one statement each, not one a row."""
    return [sequences[start : start + _CHUNK] for start in range(0, len(sequences), _CHUNK)]


def _frees(settlements: Sequence[Settlement], applied: Sequence[bool], per_entity: bool) -> bool:
    """Whether applying these settlements lets another member take an event.

    A nack puts its event back; under per-entity ordering, an ack or a term
    also lets its entity's next event go.
    """
    return any(
        ok and (per_entity or s.kind is SettleKind.NACK)
        for s, ok in zip(settlements, applied, strict=True)
    )


async def _next_turns(
    tx: Tx, name: str, keys: Sequence[str | None], per_entity: bool, settings: bytes | None
) -> None:
    """Sets the turn of the earliest pending event of each entity an event of which has gone.

    Only in a group that orders per entity, or that may since the caller read
    its `settings` (they are no longer the same).
    """
    distinct = sorted({key for key in keys if key is not None})
    if per_entity:
        await tx.executemany(NEXT_TURN, [(name, name, key) for key in distinct])
    elif settings is not None:
        for chunk in _chunks(distinct):
            sql = next_turns_if_changed(len(chunk))
            await tx.executemany(sql, [(name, name, settings, name, *chunk)])


def _group(row: tuple[Any, ...]) -> GroupRow:
    name, settings, created, cursor, delivered, redelivered, acked = row
    return GroupRow(
        str(name),
        bytes(settings),  # bytes or memoryview, per backend
        int(created),
        int(cursor),
        int(delivered),
        int(redelivered),
        int(acked),
    )


class ConsumerState:
    """Consumer groups in a backend's database.

    Args:
        database: The backend's transactions; `close` closes it.
    """

    def __init__(self, database: ConsumerDatabase) -> None:
        self._db = database

    # -- groups ---------------------------------------------------------------

    async def create_group(self, group: GroupRow) -> None:
        """Stores a new group.

        Raises:
            GroupExists: A group of that name exists.
        """

        async def insert(tx: Tx) -> int:  # two processes creating it at once: one wins
            return await tx.execute(
                f"INSERT INTO consumer_groups ({GROUP_COLUMNS}) VALUES (?, ?, ?, ?, 0, 0, 0) "
                "ON CONFLICT DO NOTHING",
                (group.name, group.settings, group.create_time_ns, group.cursor),
            )

        if await self._db.run(insert) != 1:
            raise GroupExists(group.name)

    async def update_settings(self, name: str, settings: bytes, *, per_entity: bool) -> bool:
        """Replaces a group's settings; False when it does not exist.

        With `per_entity` (the new settings order per entity), the entities'
        turns are set again from the pending events (`renew_turns`).
        """

        async def update(tx: Tx) -> int:
            changed = await tx.execute(
                "UPDATE consumer_groups SET settings = ? WHERE name = ?", (settings, name)
            )
            if per_entity:
                await tx.executemany(RENEW_TURNS, [(name,)])
            return changed

        return await self._db.run(update, lock_group=name) == 1

    async def renew_turns(self, name: str) -> None:
        """Sets the entities' turns again from the group's pending events.

        Turns are kept only while a group orders per entity: a process that
        ran rounds under other settings (read before an update) renews them
        when it finds the group ordering per entity again.
        """
        await self._db.run(
            lambda tx: tx.executemany(RENEW_TURNS, [(name,)]), lock_group=name, durable=False
        )

    async def get_group(self, name: str) -> GroupRow | None:
        """A group's row, or None."""
        return await self._db.run(lambda tx: self._get(tx, name), read_only=True)

    async def _get(self, tx: Tx, name: str) -> GroupRow | None:
        sql = f"SELECT {GROUP_COLUMNS} FROM consumer_groups WHERE name = ?"
        rows = await tx.fetch(sql, (name,))
        return _group(rows[0]) if rows else None

    async def stats(self, names: Sequence[str] | None = None) -> list[GroupStats]:
        """Figures of the named groups (those that exist), or of every group, in name order."""
        return await self._db.run(lambda tx: self._stats_in(tx, names), read_only=True)

    async def _stats_in(self, tx: Tx, names: Sequence[str] | None) -> list[GroupStats]:
        rows = await tx.fetch(f"SELECT {GROUP_COLUMNS} FROM consumer_groups ORDER BY name")
        groups = [_group(row) for row in rows]
        if names is not None:
            groups = [group for group in groups if group.name in names]
        found = []
        for group in groups:
            ((lowest, waiting, held),) = await tx.fetch(
                "SELECT min(sequence), count(*) - count(member), count(member) "
                "FROM consumer_pending WHERE group_name = ?",
                (group.name,),
            )
            ((parked,),) = await tx.fetch(
                "SELECT count(*) FROM consumer_parked WHERE group_name = ?", (group.name,)
            )
            position = group.cursor if lowest is None else int(lowest) - 1
            members = await tx.fetch(MEMBERS, (group.name, time.time_ns() - MEMBER_EXPIRY_NS))
            found.append(
                GroupStats(
                    group,
                    position,
                    int(waiting),
                    int(held),
                    int(parked),
                    tuple(
                        MemberRow(str(i), str(n), str(a), int(t), int(f))
                        for i, n, a, t, f in members
                    ),
                )
            )
        return found

    async def delete_group(self, name: str) -> bool:
        """Deletes a group with its pending and parked events; False when it did not exist."""

        async def delete(tx: Tx) -> int:
            await tx.executemany("DELETE FROM consumer_pending WHERE group_name = ?", [(name,)])
            await tx.executemany("DELETE FROM consumer_parked WHERE group_name = ?", [(name,)])
            await tx.executemany("DELETE FROM consumer_members WHERE group_name = ?", [(name,)])
            return await tx.execute("DELETE FROM consumer_groups WHERE name = ?", (name,))

        return await self._db.run(delete) == 1

    # -- members --------------------------------------------------------------

    async def members_seen(self, name: str, members: Sequence[MemberRow]) -> None:
        """Records that `members` are connected to this process now; forgets expired ones.

        Nothing is recorded for a group that no longer exists (deleted meanwhile).
        """
        now = time.time_ns()

        async def record(tx: Tx) -> None:
            await tx.executemany(
                "INSERT INTO consumer_members (group_name, member_id, member_name, address, "
                "join_time_ns, seen_ns) SELECT ?, ?, ?, ?, ?, ? "
                "WHERE EXISTS (SELECT 1 FROM consumer_groups WHERE name = ?) "
                "ON CONFLICT (group_name, member_id) DO UPDATE SET seen_ns = excluded.seen_ns",
                [
                    (name, m.member_id, m.name, m.address, m.join_time_ns, now, name)
                    for m in members
                ],
            )
            await tx.executemany(
                "DELETE FROM consumer_members WHERE group_name = ? AND seen_ns < ?",
                [(name, now - MEMBER_EXPIRY_NS)],
            )

        await self._db.run(record, durable=False)

    def watch(self, wake: Callable[[str], None]) -> None:
        """Calls `wake(group)` when another process announces a group; see `ConsumerDatabase`."""
        self._db.watch(wake)

    # -- delivery -------------------------------------------------------------

    async def pending_summary(self, name: str) -> tuple[int, int | None]:
        """How many events the group has pending (waiting or in flight), and the lowest."""
        ((count, lowest),) = await self._db.run(
            lambda tx: tx.fetch(
                "SELECT count(*), min(sequence) FROM consumer_pending WHERE group_name = ?",
                (name,),
            ),
            read_only=True,
        )
        return int(count), None if lowest is None else int(lowest)

    async def fill(
        self,
        name: str,
        expected_cursor: int,
        new_cursor: int,
        events: Sequence[PendingEvent],
        *,
        per_entity: bool = True,
    ) -> bool:
        """Adds matching events and moves the cursor; False if the cursor moved (or no group).

        `per_entity`: the group orders per entity, so the events' turns are kept.
        """
        fill = Fill(expected_cursor, new_cursor, events)
        return await self._db.run(
            lambda tx: self._fill_in(tx, name, fill, per_entity), lock_group=name, durable=False
        )

    async def _fill_in(
        self, tx: Tx, name: str, fill: Fill, per_entity: bool, settings: bytes | None = None
    ) -> bool:
        where = "name = ? AND cursor = ?"
        params: tuple[object, ...] = (fill.new_cursor, name, fill.expected_cursor)
        if settings is not None:
            where += " AND settings = ?"
            params += (settings,)
        moved = await tx.execute(f"UPDATE consumer_groups SET cursor = ? WHERE {where}", params)
        if moved != 1:
            return False
        if not per_entity:
            await tx.executemany(
                "INSERT INTO consumer_pending (group_name, sequence, entity_key, member, attempt, "
                "due_ns, last_error) VALUES (?, ?, ?, NULL, 0, 0, '') ON CONFLICT DO NOTHING",
                [(name, sequence, key) for sequence, key in fill.events],
            )
            return True
        await tx.executemany(  # its turn when nothing of its entity is pending (all earlier)
            "INSERT INTO consumer_pending (group_name, sequence, entity_key, member, attempt, "
            "due_ns, last_error, turn) SELECT ?, ?, ?, NULL, 0, 0, '', CASE WHEN NOT EXISTS "
            "(SELECT 1 FROM consumer_pending q WHERE q.group_name = ? AND q.entity_key = ?) "
            f"THEN {TURN_NEXT} END WHERE true ON CONFLICT DO NOTHING",
            [(name, sequence, key, name, key) for sequence, key in fill.events],
        )
        return True

    async def claim(
        self,
        name: str,
        wants: Sequence[tuple[str, int]],
        *,
        per_entity: bool,
        ack_wait_ns: int,
        max_deliveries: int,
        settings: bytes | None = None,
    ) -> tuple[list[Claim], int]:
        """Hands eligible events to members, each up to the number it wants, round robin.

        `settings`: the group's as the caller read them (None: not checked);
        nothing is handed out (or parked) if they have changed since.

        Returns:
            The claims in sequence order, and how many events were parked on
            the way (timed out at their last attempt, or trimmed).
        """
        return await self._db.run(
            lambda tx: self._claim_in(
                tx, name, wants, per_entity, ack_wait_ns, max_deliveries, settings
            ),
            lock_group=name,
            durable=False,
        )

    async def settle_and_claim(
        self,
        name: str,
        settlements: Sequence[Settlement],
        wants: Sequence[tuple[str, int]],
        *,
        per_entity: bool,
        ack_wait_ns: int,
        max_deliveries: int,
        fill: Fill | None = None,
        settings: bytes | None = None,
    ) -> tuple[list[bool], list[Claim], int, bool]:
        """`fill` (when given), `settle`, then `claim`, in one transaction (a dispatch round).

        `settings`: the group's as the caller's round read them (None: not
        checked). If they have changed since, the round adds no event and
        hands none out, and the settlements it applies set their entities'
        next turns (the group may order per entity now): a process that has
        not read an update to per-entity ordering yet neither breaks the
        order nor leaves an entity without its turn.

        Returns:
            Whether each settlement applied, the claims, how many events were
            parked, and whether the fill applied (True when there was none).
        """

        async def round_(tx: Tx) -> tuple[list[bool], list[Claim], int, bool]:
            filled = fill is None or await self._fill_in(tx, name, fill, per_entity, settings)
            applied = await self._settle_in(
                tx, name, settlements, max_deliveries, per_entity, settings
            )
            claims, parked = await self._claim_in(
                tx, name, wants, per_entity, ack_wait_ns, max_deliveries, settings
            )
            if _frees(settlements, applied, per_entity):
                await tx.announce(name)
            return applied, claims, parked, filled

        rows = len(settlements) + sum(room for _, room in wants)
        brief = rows + (0 if fill is None else len(fill.events)) <= BRIEF_ROWS
        return await self._db.run(round_, lock_group=name, durable=False, brief=brief)

    async def _claim_in(
        self,
        tx: Tx,
        name: str,
        wants: Sequence[tuple[str, int]],
        per_entity: bool,
        ack_wait_ns: int,
        max_deliveries: int,
        settings: bytes | None = None,
    ) -> tuple[list[Claim], int]:
        total = sum(count for _, count in wants)
        if total <= 0:
            return [], 0
        now = time.time_ns()
        sql = claim_sql(per_entity, guarded=settings is not None)
        params: tuple[object, ...] = (
            (name, name, name, now, name, now) if per_entity else (name, now)
        )
        if settings is not None:
            params += (name, settings)
        params += (total,)
        claims: list[Claim] = []
        parked: list[str | None] = []  # the entity of each event parked
        rows = await tx.fetch(sql, params)
        slots = MemberSlots(wants)
        for sequence, attempt, member, last_error, data, key in rows:
            if data is None or (member is not None and attempt >= max_deliveries):
                reason = (
                    "trimmed from the log before it could be delivered"
                    if data is None
                    else last_error or f"not settled within ack_wait after {attempt} deliveries"
                )
                await self._park(tx, name, sequence, reason, now)
                parked.append(key)
                continue
            taker = next(slots, None)
            if taker is None:
                break
            claims.append(Claim(taker, sequence, attempt + 1, bytes(data), member))
        taken: dict[tuple[str, int], list[int]] = defaultdict(list)
        for c in claims:
            taken[(c.member, c.attempt)].append(c.sequence)
        handed = f", turn = {TURN_HANDED}" if per_entity else ""
        for (member, attempt), sequences in taken.items():
            for chunk in _chunks(sequences):
                await tx.executemany(
                    f"UPDATE consumer_pending SET member = ?, attempt = ?, due_ns = ?{handed} "
                    f"WHERE group_name = ? AND sequence IN ({','.join('?' * len(chunk))})",
                    [(member, attempt, now + ack_wait_ns, name, *chunk)],
                )
        if claims:
            again = sum(1 for c in claims if c.attempt > 1)
            await tx.executemany(
                "UPDATE consumer_groups SET delivered = delivered + ?, "
                "redelivered = redelivered + ? WHERE name = ?",
                [(len(claims), again, name)],
            )
        await _next_turns(tx, name, parked, per_entity, None)  # under changed settings, none
        return claims, len(parked)

    async def _park(self, tx: Tx, name: str, sequence: int, reason: str, now: int) -> None:
        """Moves a pending event to the parked set (the caller sets its entity's next turn)."""
        await tx.executemany(PARK, [(reason, now, name, sequence)])
        await tx.executemany(
            "DELETE FROM consumer_pending WHERE group_name = ? AND sequence = ?", [(name, sequence)]
        )

    async def settle(
        self,
        name: str,
        settlements: Sequence[Settlement],
        max_deliveries: int,
        *,
        per_entity: bool = True,
        settings: bytes | None = None,
    ) -> list[bool]:
        """Applies acks, nacks and terms in one transaction; whether each applied.

        A nack of an event at its `max_deliveries` parks it with the nack's
        reason. `per_entity`: the group orders per entity (turns are kept).
        `settings`: see `settle_and_claim`.
        """

        async def settle(tx: Tx) -> list[bool]:
            applied = await self._settle_in(
                tx, name, settlements, max_deliveries, per_entity, settings
            )
            if _frees(settlements, applied, per_entity):
                await tx.announce(name)
            return applied

        return await self._db.run(settle, lock_group=name, durable=False)

    async def _settle_in(
        self,
        tx: Tx,
        name: str,
        settlements: Sequence[Settlement],
        max_deliveries: int,
        per_entity: bool,
        settings: bytes | None,
    ) -> list[bool]:
        if not settlements:
            return []
        now = time.time_ns()
        held: dict[int, tuple[str, int]] = {}
        keys: dict[int, str | None] = {}
        sequences = sorted({s.sequence for s in settlements})
        for chunk in _chunks(sequences):
            rows = await tx.fetch(
                "SELECT sequence, member, attempt, entity_key FROM consumer_pending "
                "WHERE group_name = ? AND member IS NOT NULL "
                f"AND sequence IN ({','.join('?' * len(chunk))})",
                (name, *chunk),
            )
            for seq, member, attempt, key in rows:
                held[int(seq)] = (str(member), int(attempt))
                keys[int(seq)] = key
        applied = []
        for s in settlements:  # only the holder's current attempt, once
            ok = held.pop(s.sequence, None) == (s.member, s.attempt)
            applied.append(ok)
        done = [s for s, ok in zip(settlements, applied, strict=True) if ok]
        acks = [s.sequence for s in done if s.kind is SettleKind.ACK]
        for chunk in _chunks(acks):
            await tx.executemany(
                "DELETE FROM consumer_pending WHERE group_name = ? "
                f"AND sequence IN ({','.join('?' * len(chunk))})",
                [(name, *chunk)],
            )
        await tx.executemany(
            "UPDATE consumer_pending SET member = NULL, due_ns = ?, last_error = ? "
            "WHERE group_name = ? AND sequence = ?",
            [
                (now + s.delay_ns, s.reason, name, s.sequence)
                for s in done
                if s.kind is SettleKind.NACK and s.attempt < max_deliveries
            ],
        )
        gone = [keys[sequence] for sequence in acks]
        for s in done:
            if s.kind is SettleKind.TERM or (
                s.kind is SettleKind.NACK and s.attempt >= max_deliveries
            ):
                gone.append(keys[s.sequence])
                reason = s.reason or (
                    "terminated by the member"
                    if s.kind is SettleKind.TERM
                    else f"nacked at its last delivery ({s.attempt})"
                )
                await self._park(tx, name, s.sequence, reason, now)
        await _next_turns(tx, name, gone, per_entity, settings)
        if acks:
            await tx.executemany(
                "UPDATE consumer_groups SET acked = acked + ? WHERE name = ?", [(len(acks), name)]
            )
        return applied

    async def release(self, name: str, member: str) -> int:
        """Makes a departed member's in-flight events deliverable again at once; how many.

        The member is no longer listed.
        """

        async def release(tx: Tx) -> int:  # rows are locked in claims' order
            released = await tx.execute(
                "UPDATE consumer_pending SET member = NULL, due_ns = 0 "
                "WHERE group_name = ? AND member = ?",
                (name, member),
            )
            await tx.executemany(
                "DELETE FROM consumer_members WHERE group_name = ? AND member_id = ?",
                [(name, member)],
            )
            if released:
                await tx.announce(name)
            return released

        return await self._db.run(release, lock_group=name, durable=False)

    # -- parked ---------------------------------------------------------------

    async def parked(self, name: str, after_sequence: int, limit: int) -> list[ParkedRow]:
        """Parked events after a sequence, in order, at most `limit`."""
        rows = await self._db.run(
            lambda tx: tx.fetch(
                "SELECT k.sequence, k.attempts, k.reason, k.park_time_ns, e.data "
                "FROM consumer_parked k LEFT JOIN events e ON e.sequence = k.sequence "
                "WHERE k.group_name = ? AND k.sequence > ? ORDER BY k.sequence LIMIT ?",
                (name, after_sequence, limit),
            ),
            read_only=True,
        )
        return [
            ParkedRow(int(s), int(a), str(r), int(t), None if d is None else bytes(d))
            for s, a, r, t, d in rows
        ]

    async def replay_parked(self, name: str, sequences: Sequence[int]) -> int:
        """Moves parked events (all when `sequences` is empty) back to waiting, attempt 0."""
        return await self._take_parked(name, sequences, replay=True)

    async def discard_parked(self, name: str, sequences: Sequence[int]) -> int:
        """Removes parked events (all when `sequences` is empty); how many."""
        return await self._take_parked(name, sequences, replay=False)

    async def _take_parked(self, name: str, sequences: Sequence[int], *, replay: bool) -> int:

        async def take(tx: Tx) -> int:
            rows = await tx.fetch(
                "SELECT sequence FROM consumer_parked WHERE group_name = ?", (name,)
            )
            chosen = {int(s) for (s,) in rows}
            if sequences:
                chosen &= set(sequences)
            ordered = sorted(chosen)
            if replay:
                await tx.executemany(
                    "INSERT INTO consumer_pending (group_name, sequence, entity_key, member, "
                    "attempt, due_ns, last_error, turn) SELECT group_name, sequence, "
                    f"entity_key, NULL, 0, 0, reason, {TURN_NEXT} FROM consumer_parked "
                    "WHERE group_name = ? AND sequence = ? ON CONFLICT DO NOTHING",
                    [(name, s) for s in ordered],
                )
            await tx.executemany(
                "DELETE FROM consumer_parked WHERE group_name = ? AND sequence = ?",
                [(name, s) for s in ordered],
            )
            if replay and ordered:
                await tx.announce(name)
            return len(ordered)

        return await self._db.run(take, lock_group=name)

    async def close(self) -> None:
        """Releases the backend's connection."""
        await self._db.close()
