"""Ingest: webhooks/s through the full path of a real `clerk-relay serve`, beside three baselines.

Five servers run at once, each pinned to the server CPU. The baselines
(`bench.bare_servers`): the bare Starlette 204 endpoint, and two hand-written
handlers with the relay's durability on SQLite (`bench.handlers`: svix verify,
`json.loads`, the webhook row committed per request in a WAL file with
`synchronous=FULL`; "handler + upsert" also upserts the user row in the same
transaction). Then `clerk-relay serve` on SQLite, and on PostgreSQL (a fresh
schema). One load generator on the load CPU drives them in turn, round after
round (interleaved, so host drift hits all alike): 50 keep-alive connections,
closed loop, a warm-up, then a timed window. The full path is verify (svix) →
convert → durable append (group commit) → 200; every request is a new webhook
id, signed before the phase. Each relay's rate is divided by each baseline's,
run by run.

Cost per webhook, for every server in the closed-loop windows: the bytes its
process sent to storage (`/proc/PID/io`) and its CPU time, each ÷ the requests
answered. For the relay on PostgreSQL that is the relay's process only, not
the database server's.

Then latency at half the full-path rate: the same generator paced (open loop)
at half each relay's median rate; p50/p99 count from when each request was due.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

from bench.context import Context
from bench.disk_probe import describe_stalls
from bench.figures import Row, Section, Target
from bench.loadgen import PhaseSpec
from bench.procs import started_relay
from bench.stats import Figure, decimals_for
from bench.workers import PhaseResult, bare_http, handler, load_generator, run_phase

__all__ = ["CONNECTIONS", "closed_loop_count", "run"]

CONNECTIONS = 50
_RATE_GUESS = 8000.0  # webhooks/s, to size the first batch of signed requests

_BARE = "bare Starlette 204"
_HANDLER = "handler"
_HANDLER_UPSERT = "handler + upsert"
_AT_INFO = "SQLite, log level info"

_BASELINES = {
    _BARE: ("ingest, bare Starlette 204 endpoint", "bare"),
    _HANDLER: (
        "ingest, hand-written handler, SQLite commit per webhook",
        "handler",
    ),
    _HANDLER_UPSERT: (
        "ingest, hand-written handler + user upsert, SQLite commit per webhook",
        "handler + upsert",
    ),
}
"""Each baseline: the figure of its own rate row, and its name beside a relay's rate."""

_TARGETS = {
    ("SQLite", _BARE): Target("ratio", ">=", 0.20, "≥ 0.20× bare"),
    ("SQLite", _HANDLER_UPSERT): Target("ratio", ">=", 3.0, "≥ 3× handler + upsert"),
}
"""Targets of issue #17 on relay ÷ baseline."""


@dataclass
class _Server:
    """One server under test and what was measured on it.

    Attributes:
        kind: `bare` (any request will do: the prepared ones are reused),
            `handler` (a baseline that keeps webhooks), `relay`, or `logging`
            (the relay at log level info, beside the one at warning).
    """

    name: str
    port: int
    pid: int
    kind: str
    results: list[PhaseResult] = field(default_factory=list)
    paced: list[PhaseResult] = field(default_factory=list)

    def count_for(self, seconds: float) -> int:
        """How many unique requests to sign for a closed-loop phase of `seconds`."""
        if self.kind == "bare":
            return 5000
        return closed_loop_count(self.results, seconds)


def closed_loop_count(earlier: Sequence[PhaseResult], seconds: float) -> int:
    """Unique requests to sign for a closed-loop phase of `seconds` against a relay.

    Half as many again as the fastest of its `earlier` phases answered (a guess
    before the first), so that the window never runs out of fresh webhooks.
    """
    rates = [r.rate for r in earlier] or [_RATE_GUESS]
    return int(max(rates) * 1.5 * seconds) + 1000


def run(ctx: Context) -> Section:
    """Measures the ingest figures."""
    section = Section("ingest", "Ingest: webhooks through the full path, beside three baselines")
    warmup, duration = ctx.pick(1.0, 0.3), ctx.pick(5.0, 0.7)
    with ExitStack() as stack:
        bare = stack.enter_context(bare_http(ctx))
        plain = stack.enter_context(handler(ctx, upsert=False))
        upsert = stack.enter_context(handler(ctx, upsert=True))
        servers = [
            _Server(_BARE, bare.port, bare.pid, "bare"),
            _Server(_HANDLER, plain.port, plain.pid, "handler"),
            _Server(_HANDLER_UPSERT, upsert.port, upsert.pid, "handler"),
        ]
        sqlite = stack.enter_context(started_relay(ctx.scratch("ingest-sqlite")))
        assert sqlite.http_port is not None and sqlite.process is not None
        servers.append(_Server("SQLite", sqlite.http_port, sqlite.process.pid, "relay"))
        at_info = stack.enter_context(
            started_relay(ctx.scratch("ingest-info"), None, "--log-level", "info")
        )
        assert at_info.http_port is not None and at_info.process is not None
        servers.append(_Server(_AT_INFO, at_info.http_port, at_info.process.pid, "logging"))
        if ctx.postgres_url is not None:
            url = stack.enter_context(ctx.postgres_schema())
            pg = stack.enter_context(started_relay(ctx.scratch("ingest-pg"), url))
            assert pg.http_port is not None and pg.process is not None
            servers.append(_Server("PostgreSQL", pg.http_port, pg.process.pid, "relay"))
        else:
            section.skipped.append(f"PostgreSQL ingest: {ctx.postgres_missing}")
        generator = stack.enter_context(load_generator(ctx))

        for round_ in range(ctx.runs):
            for server in servers:
                spec = PhaseSpec(
                    port=server.port,
                    connections=CONNECTIONS,
                    warmup_s=warmup,
                    duration_s=duration,
                    count=server.count_for(warmup + duration),
                    reuse=server.kind == "bare",
                )
                result = run_phase(generator, spec, server.pid)
                server.results.append(result)
                ctx.log(
                    f"ingest round {round_ + 1} {server.name}: {result.rate:,.0f}/s "
                    f"(server CPU {result.server_cpu:.2f}, generator {result.result['cpu']:.2f}; "
                    f"{result.bytes_per_request:,.0f} B, {result.cpu_us_per_request:,.0f} µs "
                    "per webhook)"
                )
        relays = [server for server in servers if server.kind == "relay"]
        for round_ in range(ctx.runs):
            for server in relays:
                rate = statistics.median(r.rate for r in server.results) / 2
                spec = PhaseSpec(
                    port=server.port,
                    connections=CONNECTIONS,
                    mode="paced",
                    rate=rate,
                    warmup_s=warmup,
                    duration_s=duration,
                    count=int(rate * (warmup + duration)) + 100,
                )
                server.paced.append(run_phase(generator, spec, server.pid))
                ctx.log(f"ingest half-rate round {round_ + 1} {server.name}: {rate:,.0f}/s paced")
    section.notes.append(
        f"method: {CONNECTIONS} keep-alive connections, closed loop, {warmup:g} s warm-up then a "
        f"{duration:g} s window, {ctx.runs} rounds interleaved across the servers; every request "
        "is a new 3.4 KB `user.created` with its own svix-id, signed before the phase; the relay "
        "runs at log level warning (no per-webhook info line), except in the row at the "
        "default level, info, whose line per webhook goes to a file as stderr; latency at half "
        "rate is paced (open loop) and counts from when each request was due"
    )
    section.notes.append(
        "baselines: the bare Starlette route answers 204 after reading the body; the "
        "hand-written handlers (`bench/handlers.py`, served by uvicorn as the bare route is) "
        "verify with `svix`, `json.loads` the body, insert the webhook row (svix-id PRIMARY KEY, "
        "the body) into a SQLite file in WAL mode with `synchronous=FULL` on a single-thread "
        "executor and commit before answering 200, one transaction (one fsync) per webhook; "
        '"handler + upsert" also upserts the user row (newest `updated_at` wins) in the same '
        "transaction. Per webhook: bytes the server process sent to storage in the window "
        "(`write_bytes` of `/proc/PID/io`, every thread) and its CPU (cores × window ÷ "
        "requests), each ÷ the requests answered in the window"
    )
    for server in servers:
        failures = sum(r.failures for r in server.results + server.paced)
        if failures:  # e.g. 503s while the database was away: the figures would be wrong
            raise RuntimeError(f"{server.name}: {failures} requests got no fresh 2xx answer")
    _report(section, servers)
    return section


def _report(section: Section, servers: list[_Server]) -> None:
    rates = {server.name: [r.rate for r in server.results] for server in servers}
    bare_rates = rates[_BARE]
    baselines = [server for server in servers if server.kind in ("bare", "handler")]
    for server in baselines:
        figure, _ = _BASELINES[server.name]
        baseline = None if server.kind == "bare" else Figure.of(bare_rates)
        section.rows.append(
            Row(
                figure,
                "webhooks/s",
                Figure.of(rates[server.name]),
                baseline,
                "" if baseline is None else "bare",
                None if baseline is None else _ratios(rates[server.name], bare_rates),
                note=_cost_note(server),
            )
        )
    for server in servers:
        if server.kind != "relay":
            continue
        for baseline_server in baselines:
            _, baseline_name = _BASELINES[baseline_server.name]
            first = baseline_server.name == _BARE
            suffix = "" if first else f", against the {baseline_name}"
            section.rows.append(
                Row(
                    f"ingest, full path, `serve` on {server.name}{suffix}",
                    "webhooks/s",
                    Figure.of(rates[server.name]),
                    Figure.of(rates[baseline_server.name]),
                    baseline_name,
                    _ratios(rates[server.name], rates[baseline_server.name]),
                    _TARGETS.get((server.name, baseline_server.name)),
                    note=_cost_note(server) if first else "",
                )
            )
    for server in servers:
        if server.kind == "logging":
            section.rows.append(
                Row(
                    "ingest, full path, `serve` on SQLite at the default log level (info: a "
                    "line per webhook, written to a file)",
                    "webhooks/s",
                    Figure.of(rates[server.name]),
                    Figure.of(rates["SQLite"]),
                    "at warning",
                    _ratios(rates[server.name], rates["SQLite"]),
                    note=_cost_note(server),
                )
            )
    for server in servers:
        if not server.paced:
            continue
        rate = statistics.median(r.result["rate"] for r in server.paced)
        for name, target in (
            ("p50", None),
            ("p99", Target("value", "<=", 25.0, "< 25 ms") if server.name == "SQLite" else None),
        ):
            section.rows.append(
                Row(
                    f"ingest latency {name} at half rate ({rate:,.0f}/s), {server.name}",
                    "ms",
                    Figure.of([r.result["latency_ms"][name] for r in server.paced]),
                    target=target,
                )
            )
    for server in servers:
        runs = server.results + server.paced
        failures = sum(r.failures for r in runs)
        written, cpu = _cost(server)
        on_postgres = server.name == "PostgreSQL"
        only = " (the relay's process only, not PostgreSQL's)" if on_postgres else ""
        section.notes.append(
            f"{server.name}: server CPU {_cores([r.server_cpu for r in server.results])} "
            f"cores at the closed-loop maximum; per webhook "
            f"{written.fmt(0)} bytes written and "
            f"{cpu.fmt(decimals_for(cpu.median))} µs of server CPU{only}; load generator CPU "
            f"{_cores([float(r.result['cpu']) for r in server.results])}; "
            f"requests without a fresh 2xx: {failures}; disk, closed loop: "
            f"{describe_stalls([r.disk_stalls_ms for r in server.results])}"
            + (
                f"; at half rate: {describe_stalls([r.disk_stalls_ms for r in server.paced])}"
                if server.paced
                else ""
            )
        )
    section.extra["phases"] = {
        server.name: {
            "closed": [_phase_json(r) for r in server.results],
            "paced": [_phase_json(r) for r in server.paced],
        }
        for server in servers
    }
    section.extra["per_webhook"] = {
        server.name: {
            "write_bytes": written.to_json(),
            "server_cpu_us": cpu.to_json(),
        }
        for server in servers
        for written, cpu in [_cost(server)]
    }


def _ratios(values: list[float], baselines: list[float]) -> Figure:
    return Figure.of([v / b for v, b in zip(values, baselines, strict=True)])


def _cost(server: _Server) -> tuple[Figure, Figure]:
    """Bytes written and server CPU µs per webhook over the closed-loop windows."""
    return (
        Figure.of([r.bytes_per_request for r in server.results]),
        Figure.of([r.cpu_us_per_request for r in server.results]),
    )


def _cost_note(server: _Server) -> str:
    written, cpu = _cost(server)
    return f"{written.median:,.0f} B written, {cpu.median:,.0f} µs server CPU per webhook"


def _phase_json(phase: PhaseResult) -> dict[str, object]:
    return phase.result | {
        "server_cpu": phase.server_cpu,
        "disk_stalls_ms": phase.disk_stalls_ms,
        "write_bytes": phase.write_bytes,
        "bytes_per_webhook": phase.bytes_per_request,
        "server_cpu_us_per_webhook": phase.cpu_us_per_request,
    }


def _cores(values: list[float]) -> str:
    return Figure.of(values).fmt(2)
