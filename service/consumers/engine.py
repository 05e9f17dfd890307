"""`ConsumerEngine`: this process's consumer groups: creating them, members joining and leaving.

It owns one `GroupDispatcher` per group that has members connected here,
made when the first joins and closed when the last leaves, and answers the
management calls from the stored state (`service.storage.ConsumerState`),
which lists the members of every process.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC

from clerkrelay.v1.consumer_service_pb2 import ConsumerGroup, ConsumerGroupSettings
from service.consumers.dispatcher import GroupDispatcher
from service.consumers.info import group_message
from service.consumers.member import Member
from service.consumers.metrics import ConsumerMetrics
from service.consumers.settings import GroupConfig, check_name, normalized, same_settings
from service.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from service.storage import (
    MAX_SEQUENCE,
    BeforeRetention,
    ConsumerState,
    GroupExists,
    GroupRow,
    ParkedRow,
    Store,
)

__all__ = ["ConsumerEngine"]


class ConsumerEngine:
    """Consumer groups served by this process.

    Args:
        store: The log.
        state: The groups' stored state; `close` closes it.
        poll_interval_s: The longest a dispatcher waits between rounds.
        metrics: Where the groups' figures are counted; a private registry when None.
    """

    def __init__(
        self,
        store: Store,
        state: ConsumerState,
        poll_interval_s: float = 0.25,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self._metrics = metrics or ConsumerMetrics()
        self._store = store
        self._state = state
        self._poll_s = poll_interval_s
        self._dispatchers: dict[str, GroupDispatcher] = {}

    # -- groups ---------------------------------------------------------------

    async def create(self, name: str, settings: ConsumerGroupSettings) -> GroupRow:
        """Creates a group, its start resolved against the log now.

        Raises:
            InvalidArgument: A bad name or settings.
            AlreadyExists: The group exists.
            BeforeRetention: The start is before the oldest retained event.
        """
        check_name(name)
        stored = normalized(settings)
        start = await self._start(stored)
        stored.after_sequence = start
        row = GroupRow(name, stored.SerializeToString(deterministic=True), time.time_ns(), start)
        try:
            await self._state.create_group(row)
        except GroupExists:
            raise AlreadyExists(f"consumer group {name!r} already exists") from None
        return row

    async def _start(self, settings: ConsumerGroupSettings) -> int:
        start = settings.WhichOneof("start")
        if start == "after_sequence":
            if settings.after_sequence > MAX_SEQUENCE:
                raise InvalidArgument(f"after_sequence must be at most {MAX_SEQUENCE}")
            oldest = await self._store.oldest_retained()
            if settings.after_sequence == 0:
                return oldest - 1
            if settings.after_sequence + 1 < oldest:
                raise BeforeRetention(settings.after_sequence, oldest)
            return settings.after_sequence
        if start == "since":
            try:
                since = settings.since.ToDatetime(tzinfo=UTC)
            except ValueError as error:
                raise InvalidArgument(f"invalid since: {error}") from None
            return await self._store.sequence_before(since)
        return await self._store.head()

    async def update(self, name: str, settings: ConsumerGroupSettings) -> None:
        """Replaces a group's settings, keeping its start.

        Raises:
            NotFound: No such group.
        """
        row = await self._row(name)
        stored = normalized(settings)
        stored.after_sequence = ConsumerGroupSettings.FromString(row.settings).after_sequence
        serialized = stored.SerializeToString(deterministic=True)
        per_entity = GroupConfig.parse(name, serialized).per_entity
        if not await self._state.update_settings(name, serialized, per_entity=per_entity):
            raise _not_found(name)
        dispatcher = self._dispatchers.get(name)
        if dispatcher is not None:  # this process's members: under the new settings at once
            dispatcher.reread()

    async def delete(self, name: str) -> None:
        """Deletes a group; its members here are disconnected with NOT_FOUND."""
        check_name(name)
        if not await self._state.delete_group(name):
            raise _not_found(name)
        dispatcher = self._dispatchers.pop(name, None)
        if dispatcher is not None:
            await dispatcher.close(NotFound(f"consumer group {name!r} was deleted"))

    async def describe(self, names: Sequence[str] | None = None) -> list[ConsumerGroup]:
        """The named groups (every group when None), with their figures."""
        head = await self._store.head()
        return [group_message(s, head) for s in await self._state.stats(names)]

    async def describe_one(self, name: str) -> ConsumerGroup:
        """One group with its figures.

        Raises:
            NotFound: No such group.
        """
        check_name(name)
        found = await self.describe([name])
        if not found:
            raise _not_found(name)
        return found[0]

    async def _row(self, name: str) -> GroupRow:
        check_name(name)
        row = await self._state.get_group(name)
        if row is None:
            raise _not_found(name)
        return row

    # -- parked ---------------------------------------------------------------

    async def parked(self, name: str, after_sequence: int, limit: int) -> list[ParkedRow]:
        """A page of a group's parked events."""
        await self._row(name)
        return await self._state.parked(name, after_sequence, limit)

    async def replay_parked(self, name: str, sequences: Sequence[int]) -> int:
        """Puts parked events back; how many."""
        await self._row(name)
        count = await self._state.replay_parked(name, sequences)
        dispatcher = self._dispatchers.get(name)
        if dispatcher is not None:
            dispatcher.wake()
        return count

    async def discard_parked(self, name: str, sequences: Sequence[int]) -> int:
        """Removes parked events; how many."""
        await self._row(name)
        return await self._state.discard_parked(name, sequences)

    # -- members --------------------------------------------------------------

    async def join(
        self, name: str, settings: ConsumerGroupSettings | None, member: Member
    ) -> tuple[GroupDispatcher, ConsumerGroup]:
        """Adds a member to a group, creating the group from `settings` if it does not exist.

        Raises:
            InvalidArgument: A bad name or settings.
            NotFound: No such group, and no settings to create it.
            FailedPrecondition: The group exists with other settings.
        """
        check_name(name)
        row = await self._state.get_group(name)
        if row is None:
            if settings is None:
                raise NotFound(
                    f"consumer group {name!r} does not exist: create it, or join with settings"
                )
            try:
                row = await self.create(name, settings)
            except AlreadyExists:  # another member created it meanwhile
                row = await self._row(name)
        stored = ConsumerGroupSettings.FromString(row.settings)
        if settings is not None and not same_settings(normalized(settings), stored):
            raise FailedPrecondition(
                f"consumer group {name!r} exists with other settings; change them with "
                "UpdateConsumerGroup (`clerk-relay consumers update`), or join without settings"
            )
        await self._state.members_seen(name, [member.row()])  # listed from now on
        dispatcher = self._dispatchers.get(name)
        if dispatcher is None:
            self._state.watch(self._announced)
            config = GroupConfig.parse(name, row.settings)
            dispatcher = GroupDispatcher(
                config, self._store, self._state, self._poll_s, self._metrics
            )
            self._dispatchers[name] = dispatcher
        elif dispatcher.config.stored != row.settings:  # updated elsewhere since it read them
            dispatcher.reread()
        dispatcher.add(member)
        return dispatcher, await self.describe_one(name)

    def _announced(self, name: str) -> None:
        """Another process made events of group `name` deliverable again: a round now."""
        dispatcher = self._dispatchers.get(name)
        if dispatcher is not None:
            dispatcher.wake()

    async def leave(self, dispatcher: GroupDispatcher, member: Member) -> None:
        """Removes a member, releasing its events; the last one closes the dispatcher."""
        await dispatcher.leave(member)
        name = dispatcher.config.name
        if dispatcher.idle and self._dispatchers.get(name) is dispatcher:
            del self._dispatchers[name]
            await dispatcher.close()

    async def close(self) -> None:
        """Ends every member's stream with OK (their events released), then closes the state."""
        dispatchers, self._dispatchers = list(self._dispatchers.values()), {}
        for dispatcher in dispatchers:
            await dispatcher.close()
        await self._state.close()


def _not_found(name: str) -> NotFound:
    return NotFound(f"consumer group {name!r} does not exist")
