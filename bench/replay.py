"""Replay: one new subscriber from sequence 0, over 100,000 and 1,000,000 stored events.

The log is filled directly through the store API (`bench.fill`, a realistic mix
of Clerk's event types, about 2.1 KB per stored event); it is the file the
store benchmark reads too, extended. Then `clerk-relay serve` opens it on the
server CPU, and a subscriber on the load CPU calls `Subscribe(after_sequence=0)`
and counts events (without parsing them) until `caught_up`: the rate is
events ÷ the time from the call to `caught_up`.
"""

from __future__ import annotations

import time

import uvloop

from bench.context import Context
from bench.figures import Row, Section, Target
from bench.fill import fill_sqlite
from bench.procs import CpuMeter, started_relay, wait_idle
from bench.stats import Figure
from bench.store import shared_log
from bench.workers import subscribers

__all__ = ["SIZES", "run"]

SIZES = (100_000, 1_000_000)


def run(ctx: Context) -> Section:
    """Measures the replay rate for each log size."""
    section = Section("replay", "Replay: a new subscriber from sequence 0")
    sizes = SIZES if not ctx.quick else (2_000, 5_000)
    path = shared_log(ctx)
    section.notes.append(
        "method: the log is filled through the store API with Clerk's example of every event "
        "type in turn (about 2.1 KB stored per event); a new stream from sequence 0 counts events "
        "without parsing until `caught_up`"
    )
    for size in sizes:
        started = time.monotonic()
        appended = uvloop.run(fill_sqlite(path, size))
        ctx.log(
            f"replay: log filled to {size:,} (+{appended:,} in {time.monotonic() - started:.0f} s)"
        )
        rates: list[float] = []
        server_cpu: list[float] = []
        client_cpu: list[float] = []
        first: list[float] = []
        with started_relay(ctx.scratch("replay"), f"sqlite:///{path}") as relay:
            assert relay.process is not None
            pid = relay.process.pid
            with subscribers(ctx, relay.grpc_target) as subs:
                for run_ in range(ctx.runs):
                    wait_idle(pid)
                    meter = CpuMeter(pid)
                    meter.start()
                    result = subs.request({"cmd": "replay"}, "replayed", 600)
                    server_cpu.append(meter.stop())
                    if result["events"] != size:
                        raise RuntimeError(f"replay delivered {result['events']} of {size} events")
                    rates.append(result["events"] / result["seconds"])
                    client_cpu.append(result["cpu"])
                    first.append(result["first_s"] * 1000)
                    ctx.log(f"replay {size:,} run {run_ + 1}: {rates[-1]:,.0f} events/s")
        section.rows.append(
            Row(
                f"replay from sequence 0 over {size:,} events",
                "events/s",
                Figure.of(rates),
                target=Target("value", ">=", 100_000, "≥ 100,000/s") if size == sizes[0] else None,
            )
        )
        section.notes.append(
            f"{size:,} events: relay CPU {Figure.of(server_cpu).fmt(2)}, subscriber CPU "
            f"{Figure.of(client_cpu).fmt(2)}, first events after {Figure.of(first).fmt(1)} ms"
        )
    return section
