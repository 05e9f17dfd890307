"""A timer for a due time that keeps moving, set again only when it must fire sooner.

An `asyncio.timeout` for every message or request (a timer armed, then
cancelled) costs about 5 µs on uvloop. Where the due time mostly moves later
(a stream's next heartbeat after each message, the oldest of many deadlines,
a connection's head or body deadline, a consumer group's next poll), one
timer is enough: it stays as it is while it fires no later than needed, and
when it fires, its callback says when it is due next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["LazyTimer"]


class LazyTimer:
    """Calls `on_due` at or after the earliest time it was armed for.

    Args:
        loop: The event loop whose clock (`loop.time()`) the times are on.
        on_due: Called when the timer fires; returns the loop time it is due
            next (the timer is set for it), or None.
    """

    __slots__ = ("_handle", "_loop", "_on_due")

    def __init__(self, loop: asyncio.AbstractEventLoop, on_due: Callable[[], float | None]) -> None:
        self._loop = loop
        self._on_due = on_due
        self._handle: asyncio.TimerHandle | None = None

    def arm(self, when: float) -> None:
        """Makes sure the timer fires by loop time `when`."""
        handle = self._handle
        if handle is not None:
            if handle.when() <= when:
                return  # it fires first, and its callback says when it is due next
            handle.cancel()  # the due time came nearer
        self._handle = self._loop.call_at(when, self._fire)

    def cancel(self) -> None:
        """Stops the timer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        when = self._on_due()
        if when is not None:
            self._handle = self._loop.call_at(when, self._fire)
