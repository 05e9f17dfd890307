"""End-to-end latency: webhook POST → receipt by each of 10 subscribers, at 100 and 500 webhooks/s.

Then, with a consumer group of 3 members (acking each delivery at once)
joined beside the 10 streams, the same at 500 webhooks/s: the members'
p99 against the streams' p99 of the same phase.

`clerk-relay serve` (SQLite) on the server CPU; on the load CPU the load
generator, paced (open loop), records when it wrote each request, and a
subscriber process with 10 live streams records when each event arrived
(parsing every message to read the event's webhook id). Both use
CLOCK_MONOTONIC, which is system-wide. Each delivery (event × subscriber) of
the timed window is one sample; the rates alternate within each run.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

from bench.context import Context
from bench.disk_probe import describe_stalls, longest_stall
from bench.figures import Row, Section, Target
from bench.loadgen import PhaseSpec
from bench.procs import Worker, started_relay, wait_idle
from bench.stats import Figure, percentile
from bench.workers import PhaseResult, load_generator, run_phase, subscribers

__all__ = ["GROUP_MEMBERS", "RATES", "SUBSCRIBERS", "run"]

RATES = (100, 500)
SUBSCRIBERS = 10
GROUP_MEMBERS = 3
GROUP_RATE = 500
_QUANTILES = (("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999))


def run(ctx: Context) -> Section:
    """Measures end-to-end latency at each rate."""
    section = Section("latency", "End-to-end latency: webhook POST → subscriber receipt")
    warmup, seconds = ctx.pick(1.0, 0.3), ctx.pick(5.0, 1.0)
    figures: dict[int, dict[str, list[float]]] = {rate: {} for rate in RATES}
    missing: dict[int, int] = dict.fromkeys(RATES, 0)
    stalls: dict[int, list[list[float]]] = {rate: [] for rate in RATES}
    with ExitStack() as stack:
        relay = stack.enter_context(started_relay(ctx.scratch("latency")))
        assert relay.process is not None and relay.http_port is not None
        pid = relay.process.pid
        generator = stack.enter_context(load_generator(ctx))
        subs = stack.enter_context(subscribers(ctx, relay.grpc_target))
        subs.request({"cmd": "open", "streams": SUBSCRIBERS, "mode": "ids"}, "opened", 60)
        for run_ in range(ctx.runs):
            for rate in RATES:
                spec = _paced(relay.http_port, rate, warmup, seconds)
                phase, collected = _phase_and_receipts(generator, subs, spec, pid)
                first = int(rate * warmup)  # requests due during the warm-up are not counted
                sent_in_window = sum(1 for ns in phase.result["sends"][first:] if ns)
                samples = _samples(collected["receipts"], phase.result, first)
                missing[rate] += max(sent_in_window * SUBSCRIBERS - len(samples), 0)
                values = figures[rate]
                for name, fraction in _QUANTILES:
                    values.setdefault(name, []).append(percentile(samples or [0.0], fraction))
                values.setdefault("http_p50", []).append(phase.result["latency_ms"]["p50"])
                values.setdefault("http_p99", []).append(phase.result["latency_ms"]["p99"])
                values.setdefault("server_cpu", []).append(phase.server_cpu)
                values.setdefault("cpu_us", []).append(phase.cpu_us_per_request)
                values.setdefault("bytes", []).append(phase.bytes_per_request)
                stalls[rate].append(phase.disk_stalls_ms)
                ctx.log(
                    f"latency run {run_ + 1} at {rate}/s: p50 {values['p50'][-1]:.2f} ms, "
                    f"p99 {values['p99'][-1]:.2f} ms over {len(samples):,} deliveries"
                )
        group_p99: list[float] = []
        streams_p99: list[float] = []
        subs.request(
            {"cmd": "consume", "members": GROUP_MEMBERS, "group": "bench"}, "consuming", 90
        )
        for _ in range(ctx.runs):
            spec = _paced(relay.http_port, GROUP_RATE, warmup, seconds)
            phase, collected = _phase_and_receipts(generator, subs, spec, pid)
            first = int(GROUP_RATE * warmup)
            for key, into in (("receipts", streams_p99), ("member_receipts", group_p99)):
                samples = _samples(collected[key], phase.result, first)
                into.append(percentile(samples or [0.0], 0.99))
            ctx.log(
                f"latency with a group at {GROUP_RATE}/s: streams p99 {streams_p99[-1]:.2f} ms, "
                f"group members p99 {group_p99[-1]:.2f} ms"
            )
    difference = [g - s for g, s in zip(group_p99, streams_p99, strict=True)]
    section.rows.append(
        Row(
            f"end-to-end latency p99 at {GROUP_RATE} webhooks/s, consumer group of "
            f"{GROUP_MEMBERS} members",
            "ms",
            Figure.of(group_p99),
        )
    )
    section.rows.append(
        Row(
            f"consumer group p99 minus Subscribe p99, same phase ({GROUP_RATE} webhooks/s)",
            "ms",
            Figure.of(difference),
            target=Target("value", "<=", 2.0, "≤ 2 ms"),
        )
    )
    section.notes.append(
        f"with a consumer group of {GROUP_MEMBERS} members (each acks every delivery at once) "
        f"beside the {SUBSCRIBERS} streams, at {GROUP_RATE}/s: the streams' p99 "
        f"{Figure.of(streams_p99).fmt(2)} ms, the members' {Figure.of(group_p99).fmt(2)} ms; "
        "each member receipt is one sample (each event goes to one member)"
    )
    section.notes.append(
        f"method: paced (open loop) webhooks, {warmup:g} s warm-up then a {seconds:g} s window; "
        f"{SUBSCRIBERS} live streams, each on its own connection, parse every message and record "
        "arrival times; one sample per delivery (event × subscriber)"
    )
    for rate, values in figures.items():
        for name, _ in _QUANTILES:
            target = (
                Target("value", "<=", 10.0, "≤ 10 ms") if rate == 500 and name == "p99" else None
            )
            section.rows.append(
                Row(
                    f"end-to-end latency {name} at {rate} webhooks/s, {SUBSCRIBERS} subscribers",
                    "ms",
                    Figure.of(values[name]),
                    target=target,
                )
            )
        section.rows.append(
            Row(
                f"relay CPU at {rate} webhooks/s, {SUBSCRIBERS} subscribers",
                "cores",
                Figure.of(values["server_cpu"]),
                target=Target("value", "<=", 0.45, "≤ 0.45 cores") if rate == 500 else None,
            )
        )
        section.notes.append(
            f"{rate}/s: HTTP answer p50 {Figure.of(values['http_p50']).fmt(2)} ms, p99 "
            f"{Figure.of(values['http_p99']).fmt(2)} ms; relay CPU "
            f"{Figure.of(values['server_cpu']).fmt(2)} cores, "
            f"{Figure.of(values['cpu_us']).fmt(0)} µs and "
            f"{Figure.of(values['bytes']).fmt(0)} bytes written per webhook; "
            f"deliveries missing: {missing[rate]}; "
            f"disk: {describe_stalls(stalls[rate])}"
        )
        by_run = ", ".join(
            f"{p99:.1f} ms ({longest_stall(window)})"
            for p99, window in zip(values["p99"], stalls[rate], strict=True)
        )
        section.notes.append(
            f"{rate}/s, each run's end-to-end p99 beside the longest fsync stall of its window: "
            f"{by_run}"
        )
    section.extra["disk_stalls_ms"] = {str(rate): windows for rate, windows in stalls.items()}
    return section


def _paced(port: int, rate: int, warmup_s: float, seconds: float) -> PhaseSpec:
    """An open-loop phase at `rate` that records when each request was written."""
    return PhaseSpec(
        port=port,
        connections=50,
        mode="paced",
        rate=rate,
        warmup_s=warmup_s,
        duration_s=seconds,
        count=int(rate * (warmup_s + seconds)) + 10,
        record_sends=True,
    )


def _phase_and_receipts(
    generator: Worker, subs: Worker, spec: PhaseSpec, pid: int
) -> tuple[PhaseResult, dict[str, Any]]:
    """Runs a phase from an idle relay; the subscriber process's receipts of it."""
    wait_idle(pid)
    subs.request({"cmd": "collect"}, "receipts", 30)  # forget what came before
    phase = run_phase(generator, spec, pid)
    time.sleep(0.5)  # the last deliveries land
    return phase, subs.request({"cmd": "collect"}, "receipts", 60)


def _samples(receipts: list[list[Any]], result: dict[str, Any], first: int) -> list[float]:
    """Milliseconds from each request's send to its receipt, past the warm-up."""
    prefix: str = result["prefix"]
    sends: list[int] = result["sends"]
    return [
        (ns - sends[index]) / 1e6
        for webhook_id, ns in receipts
        if (index := int(webhook_id[len(prefix) :])) >= first and sends[index]
    ]
