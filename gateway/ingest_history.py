"""The last hour of ingest, per minute and outcome, in memory: what the ingest chart draws.

Every webhook the process receives is counted in the bucket of the minute it
was answered in (by the wall clock, `time.time`), under its `Outcome`. Sixty
buckets make a ring: a bucket is reused once its minute is an hour old, so
counting is a few integer operations and the memory is fixed. The history is
the process's own: it starts empty and ends with the process (the Prometheus
counters, `clerk_relay_webhooks_received`, are the durable view).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.outcome import Outcome

__all__ = ["MINUTES", "IngestHistory", "Minute"]

MINUTES = 60
"""How many minutes the history keeps (the current one included)."""

_OUTCOMES = tuple(Outcome)
_INDEX = {outcome: i for i, outcome in enumerate(_OUTCOMES)}


@dataclass(frozen=True, slots=True)
class Minute:
    """One minute of ingest.

    Attributes:
        start: The minute's start, in seconds since the epoch (a multiple of 60).
        counts: Webhooks answered in it, by outcome; every outcome is present.
    """

    start: int
    counts: dict[Outcome, int]

    @property
    def rejected(self) -> int:
        """Webhooks neither accepted nor duplicates."""
        return sum(
            n for o, n in self.counts.items() if o not in (Outcome.ACCEPTED, Outcome.DUPLICATE)
        )

    @property
    def total(self) -> int:
        """Every webhook answered in the minute."""
        return sum(self.counts.values())


class IngestHistory:
    """Per-minute counts of webhook outcomes over the last `MINUTES` minutes.

    Args:
        clock: Seconds since the epoch (`time.time`; tests pass their own).
    """

    __slots__ = ("_clock", "_counts", "_minutes")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._minutes = [-1] * MINUTES  # the minute (since the epoch) each bucket holds
        self._counts = [[0] * len(_OUTCOMES) for _ in range(MINUTES)]

    def record(self, outcome: Outcome) -> None:
        """Counts one webhook in the current minute."""
        minute = int(self._clock() // 60)
        slot = minute % MINUTES
        counts = self._counts[slot]
        if self._minutes[slot] != minute:
            self._minutes[slot] = minute
            counts[:] = [0] * len(_OUTCOMES)
        counts[_INDEX[outcome]] += 1

    def minutes(self) -> list[Minute]:
        """The last `MINUTES` minutes, oldest first, ending with the current one."""
        now = int(self._clock() // 60)
        out = []
        for minute in range(now - MINUTES + 1, now + 1):
            slot = minute % MINUTES
            held = self._counts[slot] if self._minutes[slot] == minute else None
            counts = {o: (held[i] if held else 0) for i, o in enumerate(_OUTCOMES)}
            out.append(Minute(minute * 60, counts))
        return out
