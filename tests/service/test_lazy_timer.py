"""`LazyTimer`: one timer for a due time that moves, set again only to fire sooner."""

from __future__ import annotations

import asyncio

from service.lazy_timer import LazyTimer


async def test_it_fires_once_for_the_earliest_time_armed_and_then_when_told() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    next_due: list[float | None] = []

    def on_due() -> float | None:
        fired.append(loop.time())
        return next_due.pop(0) if next_due else None

    timer = LazyTimer(loop, on_due)
    start = loop.time()
    timer.arm(start + 0.2)
    timer.arm(start + 0.05)  # nearer: the timer moves
    timer.arm(start + 0.1)  # later: the timer stays
    next_due.append(start + 0.15)  # the callback asks to be called again
    await asyncio.sleep(0.3)
    assert len(fired) == 2
    assert 0.04 <= fired[0] - start < 0.1
    assert 0.14 <= fired[1] - start < 0.25


async def test_a_cancelled_timer_does_not_fire() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []

    def on_due() -> None:
        fired.append(loop.time())

    timer = LazyTimer(loop, on_due)
    timer.arm(loop.time() + 0.02)
    timer.cancel()
    await asyncio.sleep(0.1)
    assert fired == []
