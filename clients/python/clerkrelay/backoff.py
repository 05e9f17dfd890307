"""How long a subscription waits before reconnecting: exponential, capped, jittered.

The n-th consecutive failed attempt (n = 0, 1, …) waits a random time in
`[d/2, d]`, where `d = min(max_delay_s, initial_delay_s * multiplier**n)`
("equal jitter"): clients that lost the same server do not all come back in
the same millisecond, and none waits longer than `max_delay_s`. A stream that
delivers anything resets the count.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """The reconnection policy of a subscription.

    Attributes:
        initial_delay_s: The longest wait after the first failure.
        max_delay_s: No wait is longer than this.
        multiplier: Growth of the wait per consecutive failure.
        max_attempts: Consecutive failed attempts before giving up with
            `UnavailableError`; None retries for ever (the default: a consumer
            usually wants to outlive a server outage).
    """

    initial_delay_s: float = 0.1
    max_delay_s: float = 10.0
    multiplier: float = 2.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.initial_delay_s <= 0 or self.max_delay_s < self.initial_delay_s:
            raise ValueError("need 0 < initial_delay_s <= max_delay_s")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1 (or None)")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait before retrying after the `attempt`-th consecutive failure (from 0).

        Args:
            attempt: How many failures came right before this one.
            rng: The random source (tests pass a seeded one).

        Returns:
            Seconds, in `[d/2, d]` with `d` capped at `max_delay_s`.
        """
        # Cap the exponent so a long outage cannot overflow the float.
        ceiling = min(self.max_delay_s, self.initial_delay_s * self.multiplier ** min(attempt, 64))
        return (rng or random).uniform(ceiling / 2, ceiling)

    def exhausted(self, failures: int) -> bool:
        """True when `failures` consecutive failed attempts mean giving up."""
        return self.max_attempts is not None and failures >= self.max_attempts
