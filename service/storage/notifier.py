"""Commit notifications: tells listeners and waiters that the log head moved."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from service.storage.interface import CommitListener, StoredEvent

__all__ = ["Notifier"]

_log = logging.getLogger("clerk_relay.store")


class Notifier:
    """Fans committed batches out to listeners, and wakes `wait_for` callers.

    Used on the event loop only. Listeners must not block: the broadcaster's
    listener only copies references into bounded buffers.
    """

    def __init__(self, head: int) -> None:
        self.head = head
        self._listeners: list[CommitListener] = []
        self._advanced = asyncio.Condition()

    def add_listener(self, listener: CommitListener) -> Callable[[], None]:
        """Registers a listener; returns the function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    async def committed(self, events: Sequence[StoredEvent], head: int) -> None:
        """Reports newly committed events (in order) and the new head."""
        if head <= self.head:
            return
        self.head = head
        for listener in list(self._listeners):
            try:
                listener(events)
            except Exception:  # a broken listener must not break ingest
                _log.exception("commit listener failed")
        async with self._advanced:
            self._advanced.notify_all()

    async def wait_for(self, sequence: int) -> None:
        """Returns once the head has reached `sequence`."""
        async with self._advanced:
            await self._advanced.wait_for(lambda: self.head >= sequence)
