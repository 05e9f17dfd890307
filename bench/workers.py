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
from bench.procs import CpuMeter, Worker, written_bytes
from tests.processes import TEST_SECRET, free_port

__all__ = [
    "BareServer",
    "PhaseResult",
    "bare_grpc",
    "bare_http",
    "handler",
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
def _bare(ctx: Context, kind: str, **config: Any) -> Iterator[BareServer]:
    port = free_port()
    log = ctx.workdir / f"bare-{kind}-{port}.log"
    config |= {"kind": kind, "port": port, "cpu": SERVER_CPU}
    with Worker("bench.bare_servers", config, log) as w:
        w.expect("ready", 60)
        yield BareServer(w, port)


def bare_http(ctx: Context) -> AbstractContextManager[BareServer]:
    """The bare Starlette 204 endpoint, running on the server CPU."""
    return _bare(ctx, "http")


def handler(ctx: Context, *, upsert: bool) -> AbstractContextManager[BareServer]:
    """The hand-written webhook handler (`bench.handlers`), running on the server CPU.

    Its SQLite file is in a new scratch directory; it verifies with the load
    generator's secret.
    """
    name = "handler-upsert" if upsert else "handler"
    db = ctx.scratch(f"ingest-{name}") / f"{name}.db"
    return _bare(ctx, "handler", db=str(db), upsert=upsert, secret=TEST_SECRET)


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
    """A load phase's figures (see `bench.loadgen`), and the server's CPU and writes meanwhile.

    Attributes:
        result: The load generator's figures.
        server_cpu: The cores the server process used in the timed window.
        disk_stalls_ms: The fsyncs of an independent probe that stalled during
            the timed window (see `bench.disk_probe`).
        write_bytes: What the server process sent to storage in the timed
            window (`write_bytes` of `/proc/PID/io`, every thread included).
    """

    result: dict[str, Any]
    server_cpu: float
    disk_stalls_ms: list[float]
    write_bytes: int

    @property
    def rate(self) -> float:
        """Requests answered per second in the timed window."""
        return float(self.result["rate"])

    @property
    def requests(self) -> int:
        """Requests answered in the timed window."""
        return int(self.result["requests"])

    @property
    def bytes_per_request(self) -> float:
        """Bytes the server wrote per request answered in the window."""
        return self.write_bytes / self.requests if self.requests else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU per request answered in the window, in µs (cores × seconds ÷ requests)."""
        if not self.requests:
            return 0.0
        return self.server_cpu * float(self.result["seconds"]) / self.requests * 1e6

    @property
    def failures(self) -> int:
        """Requests that got no 2xx, got a duplicate answer, or no answer at all."""
        result = self.result
        bad = sum(n for code, n in result["status"].items() if not code.startswith("2"))
        return int(bad + result["duplicates"] + result["errors"])


def run_phase(
    generator: Worker, spec: PhaseSpec, server_pid: int, *, on_measuring: Any = None
) -> PhaseResult:
    """Runs one load phase and measures the server's CPU and writes over its timed window.

    Args:
        generator: The load generator.
        spec: The phase.
        server_pid: The server under test (for its CPU use and writes).
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
        written = written_bytes(server_pid)
        if on_measuring is not None:
            on_measuring(True)
        generator.expect("measured", spec.duration_s + 60)
        server_cpu = meter.stop()
        written = written_bytes(server_pid) - written
    if on_measuring is not None:
        on_measuring(False)
    result = generator.expect("result", 60)
    return PhaseResult(result, server_cpu, probe.stalls_ms, written)
