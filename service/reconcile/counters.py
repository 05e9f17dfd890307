"""What a `ClerkApi` has done so far, for the metrics and the log to read.

Plain counters, owned by one client and only ever increased; whoever exports
them (Prometheus, a progress line) reads them when it wants.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["ApiCounters"]


@dataclass(slots=True)
class ApiCounters:
    """Counters of one Backend API client.

    Attributes:
        requests: Answers by HTTP status (every attempt, retries included).
        network_errors: Attempts that got no answer (refused, reset, timed out).
        rate_limited_waits: 429 answers honoured by waiting their `Retry-After`.
        rate_limited_wait_s: Seconds spent in those waits.
        retries: Attempts repeated after a 5xx or a network error.
        listed: Distinct objects yielded, by kind.
        duplicates: Objects dropped because their id had already been listed, by kind.
        totals: The last `total_count` Clerk reported, by kind (none for users:
            `/users` answers a bare array).
        rewinds: Offset pages asked again from further back, because objects
            deleted during the listing had shifted the next page past the last one.
    """

    requests: Counter[int] = field(default_factory=Counter)
    network_errors: int = 0
    rate_limited_waits: int = 0
    rate_limited_wait_s: float = 0.0
    retries: int = 0
    listed: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    totals: dict[str, int] = field(default_factory=dict)
    rewinds: int = 0
