"""`GroupDispatcher`: one group's deliveries to the members connected to this process.

One task per group and process does everything, in rounds, so a round's
work is batched and never races with itself:

1. when a member has left: apply its queued settlements, then release its
   events (they can be delivered again at once);
2. examine the log after the group's cursor for matching events (while
   it is more than a page behind, examining pauses once `MAX_PENDING` are
   pending). Live, the events committed since the cursor are those the
   store reported to the dispatcher's listener, so nothing is read;
3. in one transaction (one commit per round, which does not wait for the
   disk: see `ConsumerDatabase.run`): add the matching events to
   the pending set, apply every settlement (ack, nack, term) queued since
   the last round, then claim eligible events for every member with room
   (`max_in_flight` minus what it holds, counting what the settlements
   free); send each member its batch, and tell members about the
   settlements that changed nothing.

The group's row (settings, cursor) is read again at most every
`poll_interval_s`; sooner when another process moved the cursor, and before
the next round when this process updated the settings or a member joined
with settings newer than those read (`reread`). The
members are recorded in the store when they join and every
`MEMBER_REFRESH_S` after, so that every process lists them.

A group that orders per entity has its turns set again from its pending
events (`ConsumerState.renew_turns`) by a dispatcher that finds it so
without having kept them: on its first read of the group, and on the
first read after an update to per-entity ordering. Until it reads an
update (at most `poll_interval_s` later), a process runs its rounds under
the settings it read before, and each round says so
(`ConsumerState.settle_and_claim`'s `settings`): such a round adds no event
and hands none out, and the acks it applies set their entities' next turns.
So it never hands out an entity's event while another is in flight, and
had it been killed right after an ack, the entity's next event would not
wait for a turn that no process sets (other processes find it at their
next round; the ack announces nothing, for want of knowing that it freed
an entity).

A round runs when woken (a commit to the log, in any process; a settlement;
a member joining or leaving; another process announcing events it made
deliverable again) and at least every `poll_interval_s`, which is when
deliveries past their ack deadline and delayed nacks become visible. A
member that is slow holds its own deliveries only: the others keep
receiving what it does not take.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Sequence

from service.consumers.member import Member
from service.consumers.metrics import ConsumerMetrics
from service.consumers.settings import MAX_DELAY_NS, GroupConfig
from service.consumers.wire import delivery_batch, parse_delivery_id, rejected
from service.errors import NotFound
from service.lazy_timer import LazyTimer
from service.storage import (
    MEMBER_REFRESH_S,
    BeforeRetention,
    Claim,
    ConsumerState,
    Fill,
    PendingEvent,
    SettleKind,
    Settlement,
    Store,
    StoredEvent,
    StoreError,
)

__all__ = ["MAX_PENDING", "GroupDispatcher"]

_log = logging.getLogger("clerk_relay.consumers")

MAX_PENDING = 10_000
"""Examining the log pauses while a group has this many events pending."""
_PAGE = 512
_RETRY_S = 0.1  # after a failed round with settlements to apply
_Queued = tuple[Member, str, Settlement]
"""A settlement waiting for the next round: its member, its delivery id, and itself."""
_PAGES_PER_ROUND = 8


class GroupDispatcher:
    """Dispatches one group's events to this process's members of it.

    Args:
        config: The group's settings.
        store: The log.
        state: The groups' stored state.
        poll_interval_s: The longest wait between two rounds.
        metrics: Where its deliveries, settlements and gauges are counted.
    """

    def __init__(
        self,
        config: GroupConfig,
        store: Store,
        state: ConsumerState,
        poll_interval_s: float,
        metrics: ConsumerMetrics,
    ) -> None:
        self.config = config
        self._metrics = metrics
        self.members: dict[str, Member] = {}
        self._store = store
        self._state = state
        self._poll_s = poll_interval_s
        self._settlements: list[_Queued] = []
        self._cursor: int | None = None  # the group's cursor as last read or moved here
        self._turns_kept = False  # whether this dispatcher's rounds have kept turns so far
        self._next_reload = 0.0
        self._next_seen = 0.0  # when to record the members again
        self._wake = asyncio.Event()
        # A round at least every poll interval, from one timer that is set
        # again only when it fires early, not a timeout around every wait.
        self._loop = asyncio.get_running_loop()
        self._waiting_since: float | None = None  # None during a round
        self._poll_timer = LazyTimer(self._loop, self._poll_due)
        self._closed = False
        self._committed: list[StoredEvent] = []  # reported by the store, newest last
        self._head: int | None = None  # the log's head as reported to `_on_commit`: see `_examine`
        self._unlisten = store.add_listener(self._on_commit)
        self._task = asyncio.create_task(self._run(), name=f"consumer-group-{config.name}")

    # -- members --------------------------------------------------------------

    def add(self, member: Member) -> None:
        """A member joins (recorded in the store by the caller)."""
        self.members[member.id] = member
        self._wake.set()

    def wake(self) -> None:
        """Runs a round soon (parked events were replayed, say)."""
        self._wake.set()

    def reread(self) -> None:
        """Runs a round soon that first reads the group again (its settings were updated)."""
        self._next_reload = 0.0
        self._wake.set()

    async def leave(self, member: Member) -> None:
        """A member's stream ended: its queued settlements apply, then its events are released."""
        if member.id not in self.members or self._closed:
            self.members.pop(member.id, None)
            return
        member.leaving = asyncio.get_running_loop().create_future()
        self._wake.set()
        await asyncio.shield(member.leaving)

    def settle(
        self, member: Member, kind: SettleKind, delivery: str, delay_ns: int = 0, reason: str = ""
    ) -> None:
        """Queues a member's settlement for the next round, or rejects it at once."""
        parsed = parse_delivery_id(delivery)
        refused = self._metrics.settlements.labels(self.config.name, "rejected")
        if parsed is None:
            refused.inc()
            member.send(rejected(delivery, "not a delivery id"))
            return
        sequence, attempt = parsed
        if not member.holds(sequence, attempt):
            refused.inc()
            member.send(
                rejected(
                    delivery,
                    f"delivery {delivery} is not in flight for this member (unknown, already "
                    "settled, another member's, or delivered again after ack_wait)",
                )
            )
            return
        if not 0 <= delay_ns <= MAX_DELAY_NS:
            refused.inc()
            member.send(rejected(delivery, "a nack's delay must be from 0 to 24 h"))
            return
        settlement = Settlement(kind, member.id, sequence, attempt, delay_ns, reason)
        self._settlements.append((member, delivery, settlement))
        self._wake.set()

    def _on_commit(self, events: Sequence[StoredEvent]) -> None:
        """The store committed `events`: kept (a page at most) for `_examine`, and a round soon."""
        if self._head is not None and events:
            self._head = max(self._head, events[-1].sequence)
        if len(self._committed) + len(events) <= _PAGE:
            self._committed += events
        else:  # far behind: the next rounds read the log
            self._committed.clear()
        self._wake.set()

    # -- rounds ---------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closed:
            self._waiting_since = self._loop.time()
            self._poll_timer.arm(self._waiting_since + self._poll_s)
            await self._wake.wait()
            self._waiting_since = None
            self._wake.clear()
            try:
                await self._round()
            except StoreError as error:
                _log.warning("consumer group %s: %s", self.config.name, error)
                if self._settlements:  # kept from the failed round: try again soon
                    await asyncio.sleep(_RETRY_S)
                    self._wake.set()
            except Exception:
                _log.exception("consumer group %s: round failed", self.config.name)

    def _poll_due(self) -> float | None:
        """The poll timer fired: a round if the wait has lasted the interval, else when it will.

        During a round it does nothing: the next wait sets it again.
        """
        if self._waiting_since is None:
            return None
        due = self._waiting_since + self._poll_s
        if self._loop.time() < due:
            return due
        self._wake.set()
        return None

    async def _round(self) -> None:
        if any(m.leaving is not None for m in self.members.values()):
            await self._apply_settlements()  # a leaver's last acks first
            await self._release_leavers()
        due = self._cursor is None or time.monotonic() >= self._next_reload
        if due and not await self._reload():
            return
        if time.monotonic() >= self._next_seen:
            staying = [m.row() for m in self.members.values() if m.leaving is None]
            await self._state.members_seen(self.config.name, staying)
            self._next_seen = time.monotonic() + MEMBER_REFRESH_S
        await self._settle_and_claim(await self._examine())
        self._gauge()

    async def _reload(self) -> bool:
        """Reads the group again (settings, cursor, lag); False when it was deleted."""
        row = await self._state.get_group(self.config.name)
        if row is None:
            self._end_all(NotFound(f"consumer group {self.config.name!r} was deleted"))
            return False
        self.config = GroupConfig.parse(self.config.name, row.settings)
        if self.config.per_entity and not self._turns_kept:
            await self._state.renew_turns(self.config.name)
        self._turns_kept = self.config.per_entity
        self._cursor = row.cursor
        self._next_reload = time.monotonic() + self._poll_s
        head = await self._known_head()
        _, lowest = await self._state.pending_summary(self.config.name)
        position = row.cursor if lowest is None else lowest - 1
        self._metrics.lag.labels(self.config.name).set(max(0, head - position))
        return True

    def _gauge(self) -> None:
        name = self.config.name
        self._metrics.members.labels(name).set(len(self.members))
        self._metrics.in_flight.labels(name).set(
            sum(len(m.in_flight) for m in self.members.values())
        )

    async def _apply_settlements(self) -> None:
        queued, self._settlements = self._settlements, []
        if queued:
            settlements = [s for _, _, s in queued]
            try:
                applied = await self._state.settle(
                    self.config.name,
                    settlements,
                    self.config.max_deliveries,
                    per_entity=self.config.per_entity,
                    settings=self.config.stored,
                )
            except StoreError:
                self._settlements[:0] = queued  # kept for the next round
                raise
            self._settled(queued, applied)

    def _settled(self, queued: list[_Queued], applied: list[bool]) -> None:
        for (member, delivery, settlement), ok in zip(queued, applied, strict=True):
            if member.holds(settlement.sequence, settlement.attempt):
                del member.in_flight[settlement.sequence]
            outcome = settlement.kind.value if ok else "rejected"
            self._metrics.settlements.labels(self.config.name, outcome).inc()
            if not ok:
                member.send(
                    rejected(delivery, f"delivery {delivery} was delivered again after ack_wait")
                )

    async def _release_leavers(self) -> None:
        for member in [m for m in self.members.values() if m.leaving is not None]:
            del self.members[member.id]
            try:
                await self._state.release(self.config.name, member.id)
            finally:
                assert member.leaving is not None
                if not member.leaving.done():
                    member.leaving.set_result(None)

    async def _known_head(self) -> int:
        """The log's head: the store's, read once, then moved by its reports of commits."""
        if self._head is None:
            self._head = await self._store.head()
        return self._head

    async def _examine(self) -> Fill | None:
        """The matching events after the cursor, to add to the pending set in this round.

        The pending count is read only while catching up (more than a page
        behind the head): live, a round examines a few events.

        The head it examines up to is the store's, read once, then moved by
        the store's reports of commits (in any process), not read again: a
        commit the store has made but not reported yet (PostgreSQL answers
        its caller first) is examined from its report in the round that the
        report wakes, instead of read from the log by a round that ran in
        between.
        """
        cursor = self._cursor
        if cursor is None or not self.members:
            return None
        head = await self._known_head()
        committed = [e for e in self._committed if e.sequence > cursor]  # not examined yet
        if cursor >= head:
            self._committed = committed
            return None
        if committed and committed[0].sequence == cursor + 1 and len(committed) == head - cursor:
            self._committed = []  # every event after the cursor: nothing to read
            matches = self.config.matches
            examined = [_pending(e) for e in committed if matches(e)]
            return Fill(cursor, head, examined)
        start = cursor
        if head - cursor > _PAGE:
            pending, _ = await self._state.pending_summary(self.config.name)
            if pending >= MAX_PENDING:
                return None
        events: list[PendingEvent] = []
        for _ in range(_PAGES_PER_ROUND):
            if cursor >= head:
                break
            try:
                page = await self._store.read(cursor, _PAGE, self.config.matches, with_data=False)
            except BeforeRetention as error:
                _log.warning("consumer group %s: %s; skipping ahead", self.config.name, error)
                cursor = error.oldest_retained - 1
                continue
            events += [_pending(e) for e in page.events]
            cursor = page.last_examined
        if cursor < head:
            self._wake.set()
        self._committed = [e for e in self._committed if e.sequence > cursor]
        return Fill(start, cursor, events)

    async def _settle_and_claim(self, fill: Fill | None) -> None:
        """Fills, applies the queued settlements and claims for members with room: one commit."""
        queued, self._settlements = self._settlements, []
        config = self.config
        settling: dict[str, int] = defaultdict(int)  # what the settlements will free
        for member, _, settlement in queued:
            settling[member.id] += member.holds(settlement.sequence, settlement.attempt)
        now = time.time_ns()
        wants = [
            (m.id, room)
            for m in self.members.values()
            if m.leaving is None
            and (room := m.capacity(config.max_in_flight, now) + settling[m.id]) > 0
        ]
        if not queued and not wants and fill is None:
            return
        try:
            applied, claims, parked, filled = await self._state.settle_and_claim(
                config.name,
                [s for _, _, s in queued],
                wants,
                per_entity=config.per_entity,
                ack_wait_ns=config.ack_wait_ns,
                max_deliveries=config.max_deliveries,
                fill=fill,
                settings=config.stored,
            )
        except StoreError:
            self._settlements[:0] = queued  # kept for the next round
            raise
        if fill is not None:
            if filled:
                self._cursor = fill.new_cursor
            else:
                self._cursor = None  # another process moved it: read it again
                self._wake.set()
        self._settled(queued, applied)
        self._deliver(claims, parked)
        if parked or (wants and len(claims) == sum(room for _, room in wants)):
            self._wake.set()  # more may be waiting

    def _deliver(self, claims: list[Claim], parked: int) -> None:
        name = self.config.name
        deadline = time.time_ns() + self.config.ack_wait_ns
        batches: dict[str, list[tuple[int, int, bytes]]] = defaultdict(list)
        for claim in claims:
            previous = self.members.get(claim.previous_member or "")
            if previous is not None:
                previous.in_flight.pop(claim.sequence, None)
            member = self.members[claim.member]
            member.in_flight[claim.sequence] = (claim.attempt, deadline)
            batches[claim.member].append((claim.sequence, claim.attempt, claim.data))
        for member_id, deliveries in batches.items():
            self.members[member_id].send(delivery_batch(deliveries))
        again = sum(1 for claim in claims if claim.attempt > 1)
        self._metrics.deliveries.labels(name, "first").inc(len(claims) - again)
        self._metrics.deliveries.labels(name, "again").inc(again)
        self._metrics.parked_on_timeout.labels(name).inc(parked)

    # -- lifecycle ------------------------------------------------------------

    def _end_all(self, error: NotFound | None) -> None:
        for member in self.members.values():
            member.send(error)
            if member.leaving is not None and not member.leaving.done():
                member.leaving.set_result(None)
        self.members.clear()

    @property
    def idle(self) -> bool:
        """No member left."""
        return not self.members

    async def close(self, error: NotFound | None = None) -> None:
        """Ends every member's stream (with `error`, or OK), releasing their events."""
        members = list(self.members.values())
        self._closed = True
        self._unlisten()
        self._poll_timer.cancel()
        self._wake.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(StoreError):
            await self._apply_settlements()
        for member in members:
            with contextlib.suppress(StoreError):
                await self._state.release(self.config.name, member.id)
        self._end_all(error)
        self._gauge()


def _pending(event: StoredEvent) -> PendingEvent:
    """A matching event as `fill` takes it: its sequence, and its first subject.

    Per-entity ordering orders by the first subject (None: not ordered).
    """
    subjects = event.subject_ids
    return event.sequence, subjects[0] if subjects else None
