"""Store: appends/s per backend (one caller, many callers) and catch-up read rate.

Runs in this process, pinned to the server CPU (the stores' writer and reader
threads start there too; PostgreSQL's own processes are not ours to pin).
Each append is a typical `user.created` (3.4 KB body, 4.8 KB stored) for a new
user with a new webhook id, built before the timed block. Backends and
caller counts are interleaved within each run.

Catch-up read: a reader going from sequence 0 to the head the way a filtered
stream does, `Store.read` 500 events at a time through a filter (here `*`, so
every row is decoded and checked), over the mixed-event log that `bench.fill`
builds (shared with `bench.replay`). A stream that matches everything reads
only the serialized events instead (`Store.read_serialized`); `bench.replay`
measures that path, end to end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import uvloop

from bench.context import Context
from bench.cpus import SERVER_CPU
from bench.figures import Row, Section, Target
from bench.fill import fill_postgres, fill_sqlite
from bench.payloads import typical_user_created
from bench.procs import pinned
from bench.stats import Figure
from clerkrelay.v1.event_pb2 import Event
from gateway.convert import convert
from service.filters import EventFilter
from service.storage import Store, open_store
from tests.gateway.signing import body_of

__all__ = ["CONCURRENT_CALLERS", "READ_BATCH", "catch_up", "run", "shared_log"]

CONCURRENT_CALLERS = 64
READ_BATCH = 500


def shared_log(ctx: Context) -> Path:
    """The SQLite file of mixed events that the store and replay benchmarks share."""
    return ctx.workdir / "log.db"


def _events(count: int, tag: str) -> Iterator[Event]:
    envelope = typical_user_created()
    template = convert(envelope, body_of(envelope), "msg_template").event
    for i in range(count):
        event = Event()
        event.CopyFrom(template)
        event.id = f"msg_{tag}_{i:08d}"
        event.user_created.id = f"user_{tag}_{i:08d}"
        yield event


async def _appends(store: Store, events: list[Event], callers: int, seconds: float) -> float:
    """Appends/s with `callers` concurrent callers for at most `seconds`."""
    queue = iter(events)
    deadline = time.monotonic() + seconds
    done = 0

    async def caller() -> None:
        nonlocal done
        for event in queue:
            await store.append(event)
            done += 1
            if time.monotonic() >= deadline:
                return

    started = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return done / (time.monotonic() - started)


async def catch_up(store: Store) -> tuple[int, float]:
    """Reads the whole log from sequence 0; returns (events, seconds)."""
    everything = EventFilter(["*"])
    position = events = 0
    started = time.monotonic()
    while True:
        result = await store.read(position, READ_BATCH, everything)
        if result.last_examined == position:
            return events, time.monotonic() - started
        events += len(result.events)
        position = result.last_examined


@asynccontextmanager
async def _opened(url: str) -> AsyncIterator[Store]:
    store = await open_store(url)
    try:
        yield store
    finally:
        await store.close()


async def _measure(ctx: Context, section: Section) -> None:
    seconds = ctx.pick(2.0, 0.3)
    log_size = int(ctx.pick(100_000, 2_000))
    async with AsyncExitStack() as stack:
        backends: dict[str, Store] = {}
        urls = {"SQLite": f"sqlite:///{ctx.scratch('store') / 'appends.db'}"}
        if ctx.postgres_url is not None:
            urls["PostgreSQL"] = stack.enter_context(ctx.postgres_schema())
        else:
            section.skipped.append(f"PostgreSQL store figures: {ctx.postgres_missing}")
        for name, url in urls.items():
            backends[name] = await stack.enter_async_context(_opened(url))

        rates: dict[tuple[str, int], list[float]] = {}
        batch = 0
        for run in range(ctx.runs):
            for callers in (1, CONCURRENT_CALLERS):
                for name, store in backends.items():
                    batch += 1
                    count = int(ctx.pick(40_000 if callers > 1 else 4_000, 2_000))
                    events = list(_events(count, f"{run}_{batch}"))
                    rate = await _appends(store, events, callers, seconds)
                    rates.setdefault((name, callers), []).append(rate)
                    ctx.log(f"store run {run + 1} {name}, {callers} callers: {rate:,.0f} appends/s")

        reads: dict[str, list[float]] = {}
        log_path = shared_log(ctx)
        ctx.log(f"store: filling the shared SQLite log to {log_size:,} events")
        await fill_sqlite(log_path, log_size)
        sources = {"SQLite": f"sqlite:///{log_path}"}
        if ctx.postgres_url is not None:
            pg_url = stack.enter_context(ctx.postgres_schema())
            ctx.log(f"store: filling a PostgreSQL log to {log_size:,} events")
            await fill_postgres(pg_url, log_size)
            sources["PostgreSQL"] = pg_url
        readers = {name: await stack.enter_async_context(_opened(u)) for name, u in sources.items()}
        counted: dict[str, int] = {}
        for run in range(ctx.runs):
            for name, store in readers.items():
                events_read, elapsed = await catch_up(store)
                counted[name] = events_read
                reads.setdefault(name, []).append(events_read / elapsed)
                ctx.log(f"store run {run + 1} {name} catch-up: {events_read / elapsed:,.0f}/s")

    for (name, callers), values in rates.items():
        target = (
            Target("value", ">=", 5000, "≥ 5,000/s") if name == "SQLite" and callers > 1 else None
        )
        who = "1 caller" if callers == 1 else f"{callers} concurrent callers"
        section.rows.append(
            Row(f"{name} appends, {who}", "appends/s", Figure.of(values), target=target)
        )
    for name, values in reads.items():
        section.rows.append(
            Row(
                f"{name} catch-up read from 0 over {counted[name]:,} events",
                "events/s",
                Figure.of(values),
                target=Target("value", ">=", 50_000, "≥ 50,000/s"),
            )
        )


def run(ctx: Context) -> Section:
    """Measures the store figures (in this process, on the server CPU)."""
    section = Section("store", "Store: appends and catch-up reads, per backend")
    with pinned(SERVER_CPU):
        uvloop.run(_measure(ctx, section))
    section.notes.append(
        "appends and reads run in the benchmark process on the server CPU; each append "
        "commits durably (SQLite WAL + synchronous=FULL, PostgreSQL commit); concurrent "
        "callers are group-committed by the store's single writer. PostgreSQL's server "
        "processes are not pinned and use the other CPU too."
    )
    return section
