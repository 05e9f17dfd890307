"""The share of the instance's Backend API rate limit that the relay may spend.

Clerk limits each instance to a number of requests per 10 s window: 1,000 in
production, 100 in development (its system-limits doc). The application that
uses Clerk spends the same budget, so the relay takes only a share of it. A
secret key tells the two apart: `sk_live_…` is production, anything else is
treated as development (the smaller budget, the safe guess).

`RequestBudget` spaces requests evenly: with a share of 20% in production,
one request every 50 ms (200 per 10 s), never a burst. A 429 from Clerk
pauses the whole budget for its `Retry-After`, so that every task sharing the
budget waits, not only the one that was refused.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

__all__ = [
    "DEFAULT_SHARE",
    "DEVELOPMENT_LIMIT",
    "PRODUCTION_LIMIT",
    "WINDOW_S",
    "InstanceLimit",
    "RequestBudget",
    "instance_limit",
]

WINDOW_S = 10.0
"""The length of Clerk's rate-limit window, in seconds."""

DEFAULT_SHARE = 0.2
"""The share of the instance's budget the relay spends unless told otherwise."""


@dataclass(frozen=True, slots=True)
class InstanceLimit:
    """An instance's rate limit: `requests` per `window_s` seconds."""

    requests: int
    window_s: float = WINDOW_S


PRODUCTION_LIMIT = InstanceLimit(1000)
DEVELOPMENT_LIMIT = InstanceLimit(100)


def instance_limit(secret_key: str) -> InstanceLimit:
    """The rate limit of the instance a secret key belongs to."""
    return PRODUCTION_LIMIT if secret_key.startswith("sk_live_") else DEVELOPMENT_LIMIT


class RequestBudget:
    """Spaces requests so that they spend at most `share` of `limit`.

    Args:
        limit: The instance's rate limit.
        share: The fraction of it to spend, in (0, 1]; None spends without
            limit (for a local double, not for Clerk).

    Raises:
        ValueError: `share` is not in (0, 1].
    """

    __slots__ = ("_interval_s", "_lock", "_next_at", "limit", "share", "waited_s")

    def __init__(self, limit: InstanceLimit, share: float | None = DEFAULT_SHARE) -> None:
        if share is not None and not 0 < share <= 1:
            raise ValueError(f"a budget share is in (0, 1], not {share}")
        self.limit = limit
        self.share = share
        self._interval_s = 0.0
        if share is not None:
            per_window = max(1, math.floor(limit.requests * share))
            self._interval_s = limit.window_s / per_window
        self._next_at = -math.inf
        self._lock = asyncio.Lock()
        self.waited_s = 0.0
        """Seconds spent waiting for the budget (spacing and pauses)."""

    @property
    def interval_s(self) -> float:
        """The least time between two requests (0 without a limit)."""
        return self._interval_s

    async def acquire(self) -> None:
        """Returns when the next request may be sent, and books its slot."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            delay = self._next_at - loop.time()
            if delay > 0:
                self.waited_s += delay
                await asyncio.sleep(delay)
            self._next_at = max(self._next_at, loop.time()) + self._interval_s

    def pause(self, seconds: float) -> None:
        """Books no request for `seconds` from now (Clerk answered 429)."""
        resume_at = asyncio.get_running_loop().time() + seconds
        self._next_at = max(self._next_at, resume_at)
