"""The orchestrator's side of the worker processes: start them, run load phases, read results."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from bench.context import Context
from bench.cpus import LOAD_CPU, SERVER_CPU
from bench.disk_probe import FsyncProbe
from bench.loadgen import PhaseSpec
from bench.procs import CpuMeter, Worker
from tests.processes import TEST_SECRET, free_port

__all__ = [
    "BareServer",
    "PhaseResult",
    "bare_grpc",
    "bare_http",
    "load_generator",
    "run_phase",
    "subscribers",
]


@dataclass(frozen=True)
class BareServer:
    """A baseline server process and its port."""

    worker: Worker
    port: int

    @property
    def pid(self) -> int:
        """Its process id."""
        return self.worker.pid

    @property
    def target(self) -> str:
        """`host:port`."""
        return f"127.0.0.1:{self.port}"


@contextmanager
def _bare(ctx: Context, kind: str) -> Iterator[BareServer]:
    port = free_port()
    log = ctx.workdir / f"bare-{kind}-{port}.log"
    with Worker("bench.bare_servers", {"kind": kind, "port": port, "cpu": SERVER_CPU}, log) as w:
        w.expect("ready", 60)
        yield BareServer(w, port)


def bare_http(ctx: Context) -> AbstractContextManager[BareServer]:
    """The bare Starlette 204 endpoint, running on the server CPU."""
    return _bare(ctx, "http")


def bare_grpc(ctx: Context) -> AbstractContextManager[BareServer]:
    """The bare grpc.aio fan-out server (paused), running on the server CPU."""
    return _bare(ctx, "grpc")


@contextmanager
def load_generator(ctx: Context) -> Iterator[Worker]:
    """A load generator on the load CPU, signing with the relay's test secret."""
    log = ctx.workdir / "loadgen.log"
    with Worker("bench.loadgen", {"secret": TEST_SECRET, "cpu": LOAD_CPU}, log) as worker:
        worker.expect("ready", 60)
        yield worker


@contextmanager
def subscribers(ctx: Context, target: str) -> Iterator[Worker]:
    """A subscriber process on the load CPU, for the server at `target`."""
    log = ctx.workdir / "subscribers.log"
    with Worker("bench.subscribers", {"target": target, "cpu": LOAD_CPU}, log) as worker:
        worker.expect("ready", 60)
        yield worker


@dataclass(frozen=True)
class PhaseResult:
    """A load phase's figures (see `bench.loadgen`), and the server's CPU use meanwhile.

    `disk_stalls_ms` are the fsyncs of an independent probe that stalled during
    the timed window (see `bench.disk_probe`).
    """

    result: dict[str, Any]
    server_cpu: float
    disk_stalls_ms: list[float]

    @property
    def rate(self) -> float:
        """Requests answered per second in the timed window."""
        return float(self.result["rate"])

    @property
    def failures(self) -> int:
        """Requests that got no 2xx, got a duplicate answer, or no answer at all."""
        result = self.result
        bad = sum(n for code, n in result["status"].items() if not code.startswith("2"))
        return int(bad + result["duplicates"] + result["errors"])


def run_phase(
    generator: Worker, spec: PhaseSpec, server_pid: int, *, on_measuring: Any = None
) -> PhaseResult:
    """Runs one load phase and measures the server's CPU over its timed window.

    Args:
        generator: The load generator.
        spec: The phase.
        server_pid: The server under test (for its CPU use).
        on_measuring: Called when the timed window opens, and again (with
            `False`) when it closes, e.g. to mark subscriber counters.
    """
    # Earlier phases leave hundreds of MB of dirty pages; written back during
    # this window, they would stall its fsyncs (ext4 commits them together).
    os.sync()
    generator.send({"cmd": "run", **dataclasses.asdict(spec)})
    generator.expect("signed", 120)
    generator.expect("measuring", spec.warmup_s + 60)
    meter = CpuMeter(server_pid)
    with FsyncProbe() as probe:
        meter.start()
        if on_measuring is not None:
            on_measuring(True)
        generator.expect("measured", spec.duration_s + 60)
        server_cpu = meter.stop()
    if on_measuring is not None:
        on_measuring(False)
    result = generator.expect("result", 60)
    return PhaseResult(result, server_cpu, probe.stalls_ms)
