"""How hard the chaos suite pushes: `quick` (the default, for CI) or `full` (`make chaos`).

`CHAOS_SCALE` picks the scale; `CHAOS_SEED` fixes the random choices (the
summary prints the seed of every run, so a failing run can be replayed).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

__all__ = ["FULL", "QUICK", "ChaosScale", "chaos_scale", "chaos_seed"]


@dataclass(frozen=True, slots=True)
class ChaosScale:
    """The size of every chaos scenario.

    Attributes:
        name: `quick` or `full`.
        events: Distinct webhooks the sender delivers per scenario.
        rate_per_s: First deliveries per second (retries and duplicates come on top).
        concurrency: Deliveries in flight at once.
        kills: SIGKILLs of the relay per kill scenario, spread over the sending window.
        outages: PostgreSQL outages per outage scenario, spread over the sending window.
        outage_s: How long PostgreSQL stays down in each outage.
        long_outage_s: When not 0, the last outage lasts this long instead (long
            enough for connection pools' reconnect back-off to grow).
        bad_per_kind: Bad requests of each kind mixed in (oversized ones excepted).
        oversized: Oversized (over 1 MiB) requests mixed in.
        duplicate_rate: Share of webhooks the sender delivers twice on purpose.
        reorder_window: The sender shuffles webhooks within windows of this size.
        subscribers: Subscribers that disconnect and resume at random (plus one slow one).
        deadline_s: Bound of one scenario's sending phase.
        timeout_s: The per-test timeout (pytest-timeout) of a scenario.
    """

    name: str
    events: int
    rate_per_s: float
    concurrency: int
    kills: int
    outages: int
    outage_s: float
    long_outage_s: float
    bad_per_kind: int
    oversized: int
    duplicate_rate: float
    reorder_window: int
    subscribers: int
    deadline_s: float
    timeout_s: float


QUICK = ChaosScale(
    name="quick",
    events=360,
    rate_per_s=60.0,
    concurrency=16,
    kills=3,
    outages=2,
    outage_s=1.5,
    long_outage_s=0.0,
    bad_per_kind=3,
    oversized=2,
    duplicate_rate=0.1,
    reorder_window=8,
    subscribers=2,
    deadline_s=60.0,
    timeout_s=120.0,
)

FULL = ChaosScale(
    name="full",
    events=3000,
    rate_per_s=150.0,
    concurrency=32,
    kills=10,
    outages=5,
    outage_s=3.0,
    long_outage_s=30.0,
    bad_per_kind=20,
    oversized=10,
    duplicate_rate=0.15,
    reorder_window=32,
    subscribers=4,
    deadline_s=240.0,
    timeout_s=600.0,
)

_SCALES = {scale.name: scale for scale in (QUICK, FULL)}


def chaos_scale() -> ChaosScale:
    """The scale `CHAOS_SCALE` names (`quick` when unset).

    Raises:
        ValueError: `CHAOS_SCALE` names no known scale.
    """
    name = os.environ.get("CHAOS_SCALE", "").strip() or QUICK.name
    try:
        return _SCALES[name]
    except KeyError:
        raise ValueError(f"CHAOS_SCALE must be one of {sorted(_SCALES)}, not {name!r}") from None


def chaos_seed() -> int:
    """`CHAOS_SEED` when set, else a fresh random seed."""
    text = os.environ.get("CHAOS_SEED", "").strip()
    return int(text) if text else random.SystemRandom().randrange(2**32)
