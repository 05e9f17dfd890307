"""WorkerThread: calls run on its one thread, in order, and their outcome reaches the caller."""

from __future__ import annotations

import asyncio
import functools
import gc
import threading

import pytest

from service.storage.worker_thread import WorkerThread


async def test_calls_run_in_order_on_the_named_thread() -> None:
    worker = WorkerThread("test-worker")
    seen: list[tuple[int, str]] = []

    def call(number: int) -> int:
        seen.append((number, threading.current_thread().name))
        return number * 10

    results = await asyncio.gather(*(worker.run(functools.partial(call, n)) for n in range(5)))
    await worker.close()
    assert results == [0, 10, 20, 30, 40]
    assert seen == [(n, "test-worker") for n in range(5)]


async def test_an_error_reaches_its_caller_and_the_thread_goes_on() -> None:
    worker = WorkerThread("test-worker")

    def fail() -> None:
        raise ValueError("no such thing")

    with pytest.raises(ValueError, match="no such thing"):
        await worker.run(fail)
    assert await worker.run(lambda: "still here") == "still here"
    await worker.close()


async def test_a_call_whose_caller_was_cancelled_before_it_ran_is_skipped() -> None:
    worker = WorkerThread("test-worker")
    release = threading.Event()
    ran: list[str] = []
    blocking = asyncio.create_task(worker.run(lambda: release.wait(10)))
    await asyncio.sleep(0.05)  # the thread is inside the first call
    skipped = asyncio.create_task(worker.run(lambda: ran.append("skipped")))
    await asyncio.sleep(0)
    skipped.cancel()
    release.set()
    assert await blocking is True
    await worker.run(lambda: ran.append("after"))
    await worker.close()
    assert skipped.cancelled()
    assert ran == ["after"]


async def test_close_runs_what_was_queued_then_refuses_more() -> None:
    worker = WorkerThread("test-worker")
    release = threading.Event()
    done: list[int] = []
    first = asyncio.create_task(worker.run(lambda: release.wait(10)))
    queued = asyncio.create_task(worker.run(lambda: done.append(1)))
    await asyncio.sleep(0.05)
    closing = asyncio.create_task(worker.close())
    await asyncio.sleep(0.05)
    assert not closing.done()  # the first call still runs
    release.set()
    await closing
    await queued
    assert (await first, done) == (True, [1])
    assert not any(t.name == "test-worker" for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="closed"):
        async with asyncio.timeout(1):  # not a wait for a thread that is gone
            await worker.run(lambda: None)


async def test_no_thread_runs_before_the_first_call() -> None:
    worker = WorkerThread("test-worker-idle")
    assert not any(t.name == "test-worker-idle" for t in threading.enumerate())
    await worker.close()


async def test_a_worker_dropped_unclosed_ends_its_thread() -> None:
    class Owner:  # its calls refer to it, and so to the worker, as the store's do
        def __init__(self) -> None:
            self.worker = WorkerThread("test-worker-dropped")

        def call(self) -> None:
            pass

    owner = Owner()
    await owner.worker.run(owner.call)
    (thread,) = [t for t in threading.enumerate() if t.name == "test-worker-dropped"]
    del owner
    gc.collect()
    await asyncio.to_thread(thread.join, 5)
    assert not thread.is_alive()
