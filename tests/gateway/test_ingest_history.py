"""The last hour of ingest: per-minute counts by outcome, a ring that forgets after an hour."""

from __future__ import annotations

from gateway.ingest_history import MINUTES, IngestHistory
from gateway.outcome import Outcome


class Clock:
    """A wall clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


T0 = 1_800_000_000.0  # a multiple of 60: 2027-01-15 08:00:00 UTC


def test_an_empty_history_is_sixty_zero_minutes_ending_now() -> None:
    history = IngestHistory(Clock(T0 + 59.9))
    minutes = history.minutes()
    assert len(minutes) == MINUTES == 60
    assert [m.start for m in minutes] == [int(T0) - 60 * i for i in range(59, -1, -1)]
    assert all(m.total == 0 for m in minutes)
    assert set(minutes[-1].counts) == set(Outcome)


def test_counts_land_in_the_minute_they_happen() -> None:
    clock = Clock(T0)
    history = IngestHistory(clock)
    history.record(Outcome.ACCEPTED)
    history.record(Outcome.ACCEPTED)
    history.record(Outcome.DUPLICATE)
    clock.now = T0 + 59.999
    history.record(Outcome.BAD_SIGNATURE)
    clock.now = T0 + 60  # the next minute
    history.record(Outcome.ACCEPTED)
    history.record(Outcome.INVALID_JSON)
    clock.now = T0 + 150  # two minutes after T0: the chart ends here

    *_, first, second, third = history.minutes()
    assert (first.start, second.start, third.start) == (int(T0), int(T0) + 60, int(T0) + 120)
    assert {o: n for o, n in first.counts.items() if n} == {
        Outcome.ACCEPTED: 2,
        Outcome.DUPLICATE: 1,
        Outcome.BAD_SIGNATURE: 1,
    }
    assert (first.total, first.rejected) == (4, 1)
    assert {o: n for o, n in second.counts.items() if n} == {
        Outcome.ACCEPTED: 1,
        Outcome.INVALID_JSON: 1,
    }
    assert (second.total, second.rejected) == (2, 1)
    assert third.total == 0


def test_a_minute_older_than_an_hour_is_forgotten_and_its_slot_reused() -> None:
    clock = Clock(T0)
    history = IngestHistory(clock)
    history.record(Outcome.ACCEPTED)
    clock.now = T0 + 59 * 60  # T0's minute is the oldest shown
    assert history.minutes()[0].counts[Outcome.ACCEPTED] == 1
    clock.now = T0 + 60 * 60  # an hour on: same ring slot, a new minute
    assert sum(m.total for m in history.minutes()) == 0
    history.record(Outcome.TOO_LARGE)
    latest = history.minutes()[-1]
    assert {o: n for o, n in latest.counts.items() if n} == {Outcome.TOO_LARGE: 1}


def test_a_long_idle_gap_shows_nothing_stale() -> None:
    clock = Clock(T0)
    history = IngestHistory(clock)
    for _ in range(5):
        history.record(Outcome.DUPLICATE)
    clock.now = T0 + 3 * 3600 + 30
    assert sum(m.total for m in history.minutes()) == 0
