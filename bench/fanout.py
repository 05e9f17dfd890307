"""Fan-out: events/s delivered in total to K subscribers, beside a bare grpc.aio server.

Both servers run for the whole benchmark, pinned to the server CPU:

- the relay (`clerk-relay serve`, SQLite) while the load generator posts
  webhooks as fast as the gateway takes them (closed loop, 50 connections);
  its streams send whatever is waiting in one `EventBatch` message;
- the bare grpc.aio server of `bench.bare_servers`: pre-built messages, one
  event per stream message, from per-subscriber queues, no ingest at all.

For each K (1, 10, 100, 1,000), one subscriber process per server holds K live
streams, each on its own connection, counting events without parsing them
(`bench.subscribers`). Within each run the relay window and the bare window
alternate; before each, the servers are let go idle (what a previous window
queued is not charged to the next). The load generator and the subscribers
share the load CPU.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from bench.context import Context
from bench.figures import Row, Section, Target
from bench.loadgen import PhaseSpec
from bench.procs import CpuMeter, Worker, started_relay, wait_idle
from bench.stats import Figure
from bench.workers import bare_grpc, load_generator, run_phase, subscribers

__all__ = ["SUBSCRIBER_COUNTS", "run"]

SUBSCRIBER_COUNTS = (1, 10, 100, 1000)
_RATE_GUESS = 5000.0


@dataclass
class _Window:
    """One timed window: deliveries counted by the subscriber process."""

    events_per_s: float
    events_per_message: float
    subscriber_cpu: float
    server_cpu: float
    fell_behind: int
    webhooks_per_s: float = 0.0
    generator_cpu: float = 0.0


@dataclass
class _Case:
    """Every window measured for one K."""

    relay: list[_Window] = field(default_factory=list)
    bare: list[_Window] = field(default_factory=list)


def _window(first: dict[str, Any], last: dict[str, Any], server_cpu: float) -> _Window:
    if last["ended"] != first["ended"]:  # its deliveries would be missing from the figure
        raise RuntimeError(f"{last['ended'] - first['ended']} streams ended during the window")
    seconds = last["t"] - first["t"]
    events = last["events"] - first["events"]
    messages = last["messages"] - first["messages"]
    return _Window(
        events_per_s=events / seconds,
        events_per_message=events / messages if messages else 0.0,
        subscriber_cpu=(last["cpu"] - first["cpu"]) / seconds,
        server_cpu=server_cpu,
        fell_behind=last["fell_behind"] - first["fell_behind"],
    )


def _relay_window(generator: Worker, subs: Worker, pid: int, spec: PhaseSpec) -> _Window:
    marks: list[dict[str, Any]] = []

    def mark(_: bool) -> None:
        marks.append(subs.request({"cmd": "mark"}, "mark", 30))

    phase = run_phase(generator, spec, pid, on_measuring=mark)
    window = _window(marks[0], marks[1], phase.server_cpu)
    window.webhooks_per_s = phase.rate
    window.generator_cpu = float(phase.result["cpu"])
    return window


def _bare_window(bare: Worker, subs: Worker, pid: int, warmup: float, seconds: float) -> _Window:
    bare.request({"cmd": "resume"}, "resumed", 30)
    time.sleep(warmup)
    meter = CpuMeter(pid)
    first = subs.request({"cmd": "mark"}, "mark", 30)
    meter.start()
    time.sleep(seconds)
    server_cpu = meter.stop()
    last = subs.request({"cmd": "mark"}, "mark", 30)
    bare.request({"cmd": "pause"}, "paused", 30)
    return _window(first, last, server_cpu)


def run(ctx: Context) -> Section:
    """Measures fan-out for every K."""
    section = Section("fanout", "Fan-out: events delivered per second to K subscribers")
    counts = SUBSCRIBER_COUNTS if not ctx.quick else (1, 10)
    warmup, seconds = ctx.pick(0.75, 0.3), ctx.pick(2.5, 0.5)
    cases: dict[int, _Case] = {}
    with ExitStack() as stack:
        relay = stack.enter_context(started_relay(ctx.scratch("fanout")))
        assert relay.process is not None and relay.http_port is not None
        relay_pid = relay.process.pid
        bare = stack.enter_context(bare_grpc(ctx))
        generator = stack.enter_context(load_generator(ctx))
        rate = _RATE_GUESS
        for k in counts:
            case = cases[k] = _Case()
            with (
                subscribers(ctx, relay.grpc_target) as relay_subs,
                subscribers(ctx, bare.target) as bare_subs,
            ):
                opened = relay_subs.request(
                    {"cmd": "open", "streams": k, "start": "live", "timeout_s": 120},
                    "opened",
                    180,
                )
                bare_subs.request(
                    {"cmd": "open", "streams": k, "ready_on": "metadata", "timeout_s": 120},
                    "opened",
                    180,
                )
                ctx.log(f"fanout K={k}: streams open ({opened['seconds']:.1f} s)")
                for run_ in range(ctx.runs):
                    wait_idle(relay_pid)
                    wait_idle(bare.pid)
                    spec = PhaseSpec(
                        port=relay.http_port,
                        connections=50,
                        warmup_s=warmup,
                        duration_s=seconds,
                        count=int(rate * 1.5 * (warmup + seconds)) + 1000,
                    )
                    window = _relay_window(generator, relay_subs, relay_pid, spec)
                    rate = max(window.webhooks_per_s, 500.0)
                    case.relay.append(window)
                    wait_idle(relay_pid)
                    wait_idle(bare.pid)
                    case.bare.append(
                        _bare_window(bare.worker, bare_subs, bare.pid, warmup, seconds)
                    )
                    ctx.log(
                        f"fanout K={k} run {run_ + 1}: relay {window.events_per_s:,.0f} events/s "
                        f"({window.webhooks_per_s:,.0f} webhooks/s, "
                        f"{window.events_per_message:.1f} events/message), "
                        f"bare {case.bare[-1].events_per_s:,.0f} events/s"
                    )
    section.notes.append(
        f"method: each subscriber is a live stream on its own connection, all in one process per "
        f"server on the load CPU, counting events by walking the protobuf wire format (no "
        f"parsing); relay windows post webhooks as fast as the gateway takes them (closed loop, "
        f"50 connections); {warmup:g} s warm-up, {seconds:g} s window, relay and bare windows "
        "alternating in each run; the bare server sends one event per stream message"
    )
    _report(section, cases)
    return section


def _report(section: Section, cases: dict[int, _Case]) -> None:
    for k, case in cases.items():
        relay = [w.events_per_s for w in case.relay]
        bare = [w.events_per_s for w in case.bare]
        # A bare window can deliver nothing when its streams stall (see `bench.__main__`
        # on stalls after many busy streams); such runs have no ratio.
        ratios = [r / b for r, b in zip(relay, bare, strict=True) if b > 0]
        target = Target("ratio", ">=", 2.0, "≥ 2× bare") if k == 100 else None
        section.rows.append(
            Row(
                f"fan-out to {k:,} subscriber{'s' if k > 1 else ''}, relay (batched)",
                "events/s",
                Figure.of(relay),
                Figure.of(bare),
                "bare grpc.aio",
                Figure.of(ratios) if ratios else None,
                target,
                note=f"while ingesting {Figure.of([w.webhooks_per_s for w in case.relay]).fmt(0)}"
                " webhooks/s",
            )
        )
        section.notes.append(
            f"K={k}: relay server CPU {_f(case.relay, 'server_cpu')}, subscriber process CPU "
            f"{_f(case.relay, 'subscriber_cpu')}, load generator CPU "
            f"{_f(case.relay, 'generator_cpu')}, events per stream message "
            f"{_f(case.relay, 'events_per_message')}, fell_behind "
            f"{sum(w.fell_behind for w in case.relay)}; bare server CPU "
            f"{_f(case.bare, 'server_cpu')}, its subscriber process CPU "
            f"{_f(case.bare, 'subscriber_cpu')}"
            + (
                f"; the bare server delivered nothing in {len(bare) - len(ratios)} of "
                f"{len(bare)} windows (no ratio for those runs)"
                if len(ratios) < len(bare)
                else ""
            )
        )
    section.extra["windows"] = {
        str(k): {"relay": [vars(w) for w in c.relay], "bare": [vars(w) for w in c.bare]}
        for k, c in cases.items()
    }


def _f(windows: list[_Window], name: str) -> str:
    return Figure.of([float(getattr(w, name)) for w in windows]).fmt(2)
