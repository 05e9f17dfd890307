"""The broadcaster: hands every committed event to the live subscriptions it matches.

It listens to the store's commits and copies references to matching events
into each subscription's bounded live buffer. It never waits: a subscription
whose buffer overflows is marked as fallen behind and its buffer dropped; the
subscription then reads what it missed from the log. Ingest speed therefore
never depends on how fast subscribers read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from service.filters import EventFilter
from service.storage import Store, StoredEvent

__all__ = ["Broadcaster", "LiveBuffer"]


class LiveBuffer:
    """One subscription's live events, bounded in count.

    Attributes:
        wakeup: Set when there is something for the subscription to do
            (matching events, an overflow, or closing).
        overflowed: The buffer exceeded its capacity and was dropped.
        closed: The relay is shutting down: send what is buffered, then end.
        dropped: How many matching events were dropped by overflows (counter).
    """

    __slots__ = (
        "_events",
        "_filter",
        "_last_examined",
        "capacity",
        "closed",
        "dropped",
        "overflowed",
        "wakeup",
    )

    def __init__(self, event_filter: EventFilter, capacity: int) -> None:
        # None when every event matches: a `*` stream takes each batch without a filter call.
        self._filter = None if event_filter.matches_all else event_filter
        self._events: list[StoredEvent] = []
        self._last_examined = 0
        self.capacity = capacity
        self.wakeup = asyncio.Event()
        self.overflowed = False
        self.closed = False
        self.dropped = 0

    def offer(self, batch: Sequence[StoredEvent]) -> None:
        """Takes the matching events of a committed batch; never blocks."""
        matches = self._filter
        found = batch if matches is None else [e for e in batch if matches(e)]
        self._last_examined = batch[-1].sequence
        if not found or self.overflowed:
            self.dropped += len(found) if self.overflowed else 0
            return
        self._events.extend(found)
        if len(self._events) > self.capacity:
            self.dropped += len(self._events)
            self._events = []
            self.overflowed = True
        self.wakeup.set()

    def take(self) -> tuple[list[StoredEvent], int]:
        """Everything buffered, and the last sequence examined when it was taken."""
        events, self._events = self._events, []
        self.wakeup.clear()
        return events, self._last_examined

    def reset(self) -> None:
        """Forgets the buffer after an overflow (the subscription rereads the log)."""
        self._events = []
        self.overflowed = False
        self.wakeup.clear()

    def close(self) -> None:
        """Tells the subscription to finish what is buffered and end."""
        self.closed = True
        self.wakeup.set()


class Broadcaster:
    """Fans committed events out to live buffers."""

    def __init__(self, store: Store) -> None:
        self._buffers: set[LiveBuffer] = set()
        self._closed = False
        self._remove = store.add_listener(self._on_commit)

    @property
    def subscriber_count(self) -> int:
        """How many subscriptions are registered."""
        return len(self._buffers)

    def register(self, event_filter: EventFilter, capacity: int) -> LiveBuffer:
        """Starts buffering live events for a new subscription."""
        buffer = LiveBuffer(event_filter, capacity)
        if self._closed:
            buffer.close()
        self._buffers.add(buffer)
        return buffer

    def unregister(self, buffer: LiveBuffer) -> None:
        """Stops buffering for a subscription (it ended or was cancelled)."""
        self._buffers.discard(buffer)

    def _on_commit(self, batch: Sequence[StoredEvent]) -> None:
        if not batch:
            return
        for buffer in self._buffers:
            buffer.offer(batch)

    def close(self) -> None:
        """Stops listening and tells every subscription to end after its buffer."""
        self._closed = True
        self._remove()
        for buffer in self._buffers:
            buffer.close()
