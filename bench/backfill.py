"""Backfill: a reconciliation pass of 100,000 users from the Backend API double into SQLite.

The double (`bench.backfill_double`) runs in a process of its own on the
load CPU, holding the users; `clerk-relay serve` runs on the server CPU over
a fresh SQLite file with one webhook already stored (so it starts no
backfill of its own), its Backend API pointed at the double with a
production-shaped key and its whole budget (100 requests/s: a 500-user page
every 10 ms, five times what the target needs). The benchmark calls
`Reconcile(kinds=[user])` and times it from the call to the summary: users
created ÷ seconds. Beside it: the double's CPU per user (its serving cost),
the relay's, and the relay's RSS, sampled every 50 ms during the pass (the
peak, its first and last samples, and the peak of its anonymous part: the
readers map the SQLite file into memory, so the pages of the mirror they
read count in RSS too, file-backed and reclaimable).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import uvloop

from bench.backfill_double import BENCH_KEY
from bench.context import Context
from bench.cpus import LOAD_CPU, SERVER_CPU, cpu_set
from bench.figures import Row, Section, Target
from bench.procs import cpu_seconds, pin_process, rss_kib
from bench.stats import Figure
from clerkrelay.v1.reconcile_service_pb2 import ReconcileRequest, ReconcileSummary
from clerkrelay.v1.reconcile_service_pb2_grpc import ReconcileServiceStub
from service.storage import open_store
from tests.history import event
from tests.processes import ROOT, SOURCE_PATH, serve

__all__ = ["USERS", "run"]

USERS = 100_000
_SAMPLE_S = 0.05


@contextmanager
def _double(users: int, log: Path) -> Iterator[tuple[str, int]]:
    """The double's process, serving `users` users: its base URL and pid."""
    with log.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.backfill_double", str(users)],
            cwd=ROOT,
            env={"PYTHONPATH": SOURCE_PATH, "PATH": "/usr/bin:/bin"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
    try:
        assert process.stdout is not None and process.stdin is not None
        pin_process(process.pid, min(cpu_set(LOAD_CPU)))
        line = process.stdout.readline().decode()
        if not line.startswith("ready "):
            raise RuntimeError(f"the double did not start: {log.read_text()[-2000:]}")
        yield line.split()[1], process.pid
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


async def _seed(database: Path) -> None:
    store = await open_store(f"sqlite:///{database}")
    try:
        await store.append(event("user.created", "user_seed", webhook_id="msg_seed"))
    finally:
        await store.close()


def _anon_kib(pid: int) -> int:
    """The anonymous part of a process's RSS (its heap; not mapped file pages), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise RuntimeError(f"no RssAnon for process {pid}")


class _RssSampler(threading.Thread):
    """Samples a process's RSS and its anonymous part (KiB) every `_SAMPLE_S` until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self._pid = pid
        self._done = threading.Event()
        self.samples: list[tuple[int, int]] = []

    def run(self) -> None:
        while not self._done.is_set():
            self.samples.append((rss_kib(self._pid), _anon_kib(self._pid)))
            self._done.wait(_SAMPLE_S)

    def finish(self) -> list[tuple[int, int]]:
        self._done.set()
        self.join()
        return self.samples


def _backfill(target: str) -> tuple[ReconcileSummary, float]:
    """One Reconcile call: its summary and the seconds it took."""
    with grpc.insecure_channel(target) as channel:
        started = time.monotonic()
        call = ReconcileServiceStub(channel).Reconcile(ReconcileRequest(kinds=["user"]))
        responses = list(call)
        return responses[-1].summary, time.monotonic() - started


def run(ctx: Context) -> Section:
    """Measures the backfill rate, the double's and the relay's CPU, the relay's RSS."""
    section = Section("backfill", "Backfill: users from the Backend API double into SQLite")
    users = USERS if not ctx.quick else 2_000
    rates: list[float] = []
    double_us: list[float] = []
    relay_us: list[float] = []
    peaks: list[float] = []
    anon_peaks: list[float] = []
    firsts: list[float] = []
    lasts: list[float] = []
    scratch = ctx.scratch("backfill")
    with _double(users, scratch / "double.log") as (api_url, double_pid):
        ctx.log(f"backfill: the double serves {users:,} users at {api_url}")
        for run_ in range(ctx.runs):
            workdir = ctx.scratch("backfill-relay")
            database = workdir / "relay.db"
            uvloop.run(_seed(database))
            relay = serve(workdir, f"sqlite:///{database}", "--reconcile-interval", "0")
            relay.env.update(
                CLERK_SECRET_KEY=BENCH_KEY,
                CLERK_API_URL=api_url,
                CLERK_RELAY_RECONCILE_BUDGET_SHARE="1",
            )
            try:
                relay.start(timeout_s=60)
                assert relay.process is not None
                pin_process(relay.process.pid, SERVER_CPU)
                relay_pid = relay.process.pid
                sampler = _RssSampler(relay_pid)
                relay_cpu0, double_cpu0 = cpu_seconds(relay_pid), cpu_seconds(double_pid)
                sampler.start()
                summary, seconds = _backfill(relay.grpc_target)
                samples = sampler.finish()
                relay_cpu = cpu_seconds(relay_pid) - relay_cpu0
                double_cpu = cpu_seconds(double_pid) - double_cpu0
            finally:
                relay.stop()
            created = summary.kinds[0].created if summary.kinds else 0
            if not summary.completed or created != users:
                raise RuntimeError(f"the backfill created {created} of {users}: {summary}")
            rates.append(users / seconds)
            double_us.append(double_cpu / users * 1e6)
            relay_us.append(relay_cpu / users * 1e6)
            peaks.append(max(rss for rss, _ in samples) / 1024)
            anon_peaks.append(max(anon for _, anon in samples) / 1024)
            firsts.append(samples[0][0] / 1024)
            lasts.append(samples[-1][0] / 1024)
            ctx.log(
                f"backfill run {run_ + 1}: {rates[-1]:,.0f} users/s, relay "
                f"{relay_us[-1]:.0f} µs/user, double {double_us[-1]:.0f} µs/user, "
                f"RSS {firsts[-1]:.0f} → peak {peaks[-1]:.0f} MiB "
                f"(anonymous peak {anon_peaks[-1]:.0f} MiB)"
            )
    section.rows.append(
        Row(
            f"backfill of {users:,} users into SQLite (Reconcile, no rate limit)",
            "users/s",
            Figure.of(rates),
            target=Target("value", ">=", 10_000, "≥ 10,000/s"),
            note=(
                f"relay CPU {Figure.of(relay_us).fmt(0)} µs/user, the double's serving cost "
                f"{Figure.of(double_us).fmt(0)} µs/user"
            ),
        )
    )
    section.rows.append(
        Row(
            f"serve peak RSS during the backfill of {users:,} users",
            "MiB",
            Figure.of(peaks),
            note=f"anonymous {Figure.of(anon_peaks).fmt(0)} MiB",
        )
    )
    section.notes.append(
        f"relay RSS when the pass began {Figure.of(firsts).fmt(1)} MiB, when it ended "
        f"{Figure.of(lasts).fmt(1)} MiB, peak {Figure.of(peaks).fmt(1)} MiB, of which "
        f"anonymous memory (the heap) {Figure.of(anon_peaks).fmt(1)} MiB at its peak; the rest "
        f"is pages of the SQLite file that the readers map into memory (sampled every "
        f"{_SAMPLE_S * 1000:.0f} ms)"
    )
    section.extra["per_user_us"] = {
        "relay": Figure.of(relay_us).to_json(),
        "double": Figure.of(double_us).to_json(),
    }
    return section
