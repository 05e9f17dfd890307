"""Ingest: webhooks/s through the full path of a real `clerk-relay serve`, beside a bare endpoint.

Three servers run at once, each pinned to the server CPU: the bare Starlette
204 endpoint (`bench.bare_servers`), `clerk-relay serve` on SQLite, and
`clerk-relay serve` on PostgreSQL (a fresh schema). One load generator on the
load CPU drives them in turn, round after round (interleaved, so host drift
hits all alike): 50 keep-alive connections, closed loop, a warm-up, then a
timed window. The full path is verify (svix) → convert → durable append (group
commit) → 200; every request is a new webhook id, signed before the phase.

Then latency at half the full-path rate: the same generator paced (open loop)
at half each relay's median rate; p50/p99 count from when each request was due.
"""

from __future__ import annotations

import statistics
from contextlib import ExitStack
from dataclasses import dataclass

from bench.context import Context
from bench.disk_probe import describe_stalls
from bench.figures import Row, Section, Target
from bench.loadgen import PhaseSpec
from bench.procs import started_relay
from bench.stats import Figure
from bench.workers import PhaseResult, bare_http, load_generator, run_phase

__all__ = ["CONNECTIONS", "run"]

CONNECTIONS = 50
_RATE_GUESS = 8000.0  # webhooks/s, to size the first batch of signed requests


@dataclass
class _Server:
    """One server under test and what was measured on it."""

    name: str
    port: int
    pid: int
    bare: bool
    results: list[PhaseResult]
    paced: list[PhaseResult]

    def count_for(self, seconds: float) -> int:
        """How many unique requests to sign for a closed-loop phase of `seconds`."""
        rates = [r.rate for r in self.results] or [_RATE_GUESS]
        return int(max(rates) * 1.5 * seconds) + 1000


def run(ctx: Context) -> Section:
    """Measures the ingest figures."""
    section = Section("ingest", "Ingest: webhooks through the full path, beside a bare endpoint")
    warmup, duration = ctx.pick(1.0, 0.3), ctx.pick(5.0, 0.7)
    with ExitStack() as stack:
        bare = stack.enter_context(bare_http(ctx))
        servers = [_Server("bare Starlette 204", bare.port, bare.pid, True, [], [])]
        sqlite = stack.enter_context(started_relay(ctx.scratch("ingest-sqlite")))
        assert sqlite.http_port is not None and sqlite.process is not None
        servers.append(_Server("SQLite", sqlite.http_port, sqlite.process.pid, False, [], []))
        if ctx.postgres_url is not None:
            url = stack.enter_context(ctx.postgres_schema())
            pg = stack.enter_context(started_relay(ctx.scratch("ingest-pg"), url))
            assert pg.http_port is not None and pg.process is not None
            servers.append(_Server("PostgreSQL", pg.http_port, pg.process.pid, False, [], []))
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
                    count=5000 if server.bare else server.count_for(warmup + duration),
                    reuse=server.bare,
                )
                result = run_phase(generator, spec, server.pid)
                server.results.append(result)
                ctx.log(
                    f"ingest round {round_ + 1} {server.name}: {result.rate:,.0f}/s "
                    f"(server CPU {result.server_cpu:.2f}, generator {result.result['cpu']:.2f})"
                )
        for round_ in range(ctx.runs):
            for server in servers[1:]:
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
        "runs at log level warning (no per-webhook info line); latency at half rate is paced "
        "(open loop) and counts from when each request was due"
    )
    for server in servers:
        failures = sum(r.failures for r in server.results + server.paced)
        if failures:  # e.g. 503s while the database was away: the figures would be wrong
            raise RuntimeError(f"{server.name}: {failures} requests got no fresh 2xx answer")
    _report(section, servers)
    return section


def _report(section: Section, servers: list[_Server]) -> None:
    bare = servers[0]
    bare_rates = [r.rate for r in bare.results]
    section.rows.append(
        Row("ingest, bare Starlette 204 endpoint", "webhooks/s", Figure.of(bare_rates))
    )
    for server in servers[1:]:
        rates = [r.rate for r in server.results]
        ratios = [r / b for r, b in zip(rates, bare_rates, strict=True)]
        target = Target("ratio", ">=", 0.30, "≥ 0.30× bare") if server.name == "SQLite" else None
        section.rows.append(
            Row(
                f"ingest, full path, `serve` on {server.name}",
                "webhooks/s",
                Figure.of(rates),
                Figure.of(bare_rates),
                "bare",
                Figure.of(ratios),
                target,
            )
        )
    for server in servers[1:]:
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
        section.notes.append(
            f"{server.name}: server CPU {_cores([r.server_cpu for r in server.results])} "
            f"cores at the closed-loop maximum; load generator CPU "
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


def _phase_json(phase: PhaseResult) -> dict[str, object]:
    return phase.result | {"server_cpu": phase.server_cpu, "disk_stalls_ms": phase.disk_stalls_ms}


def _cores(values: list[float]) -> str:
    return Figure.of(values).fmt(2)
