"""`Deadlines`: one timeout for many concurrent awaits, as `asyncio.timeout` would give each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from gateway.deadlines import Deadlines


async def never(cancelled: list[str], name: str) -> None:
    """Waits forever; records its cancellation."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        cancelled.append(name)
        raise


async def after(seconds: float, value: str) -> str:
    await asyncio.sleep(seconds)
    return value


async def test_an_await_that_ends_in_time_returns_its_result() -> None:
    deadlines = Deadlines(1.0)
    assert await deadlines.run(after(0.01, "done")) == "done"
    assert deadlines.waiting == 0


async def test_an_await_past_its_deadline_is_cancelled_and_raises_timeout_error() -> None:
    deadlines = Deadlines(0.05)
    cancelled: list[str] = []
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await deadlines.run(never(cancelled, "slow"))
    assert 0.045 <= time.monotonic() - started < 0.5
    assert cancelled == ["slow"]
    assert deadlines.waiting == 0
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_concurrent_awaits_each_get_their_own_deadline() -> None:
    deadlines = Deadlines(0.2)
    cancelled: list[str] = []
    ended: dict[str, float] = {}
    started = time.monotonic()

    async def call(name: str, delay: float, work: Callable[[], Awaitable[str]]) -> str:
        await asyncio.sleep(delay)
        try:
            return await deadlines.run(work())
        except TimeoutError:
            return "timed out"
        finally:
            ended[name] = time.monotonic() - started

    async def forever(name: str) -> str:
        await never(cancelled, name)
        return "never"

    results = await asyncio.gather(
        call("first", 0.0, lambda: forever("first")),
        call("quick", 0.1, lambda: after(0.15, "quick done")),  # ends at 0.25, past 0.2
        call("late", 0.15, lambda: forever("late")),
    )
    assert list(results) == ["timed out", "quick done", "timed out"]
    assert cancelled == ["first", "late"]
    assert 0.19 <= ended["first"] < ended["quick"] < ended["late"]
    assert 0.34 <= ended["late"] < 0.8  # its own 0.2 s from 0.15, not the first's
    assert deadlines.waiting == 0


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadlines = Deadlines(10.0)
    cancelled: list[str] = []
    task = asyncio.create_task(deadlines.run(never(cancelled, "waiting")))
    await asyncio.sleep(0.01)
    assert deadlines.waiting == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == ["waiting"]
    assert deadlines.waiting == 0


async def test_a_deadline_is_counted_from_when_its_await_began() -> None:
    # A timer set for an earlier await fires first and must not expire a later one.
    deadlines = Deadlines(0.1)
    cancelled: list[str] = []
    early = asyncio.create_task(deadlines.run(after(0.01, "early")))
    await asyncio.sleep(0.06)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await deadlines.run(never(cancelled, "later"))
    assert 0.095 <= time.monotonic() - started < 0.5
    assert await early == "early"


def test_a_new_event_loop_gets_working_deadlines() -> None:
    # The first loop ends with its timer still set; the second must set its own.
    deadlines = Deadlines(0.05)

    async def left_waiting() -> None:
        asyncio.get_running_loop().create_task(deadlines.run(asyncio.Event().wait()))
        await asyncio.sleep(0)

    async def outcome() -> BaseException | None:
        task = asyncio.create_task(deadlines.run(asyncio.Event().wait()))
        done, _ = await asyncio.wait({task}, timeout=2)
        assert done == {task}, "no deadline fired in the second loop"
        return task.exception()

    asyncio.run(left_waiting())
    assert isinstance(asyncio.run(outcome()), TimeoutError)
    assert deadlines.waiting == 0
