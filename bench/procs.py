"""The processes a benchmark runs: pinning, CPU, memory and disk readings, JSON-line workers.

Servers under test are pinned to `SERVER_CPU`, workers (load generators,
subscribers) pin themselves to `LOAD_CPU` (see `bench.cpus`). Every process a
benchmark starts is stopped by its own id when the benchmark ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from bench.cpus import SERVER_CPU, cpu_set, pin_self
from tests.processes import ROOT, SOURCE_PATH, RelayProcess, serve

__all__ = [
    "CpuMeter",
    "Worker",
    "WorkerError",
    "cpu_seconds",
    "pin_process",
    "pinned",
    "rss_kib",
    "started_relay",
    "wait_idle",
    "written_bytes",
]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def pinned(cpu: int) -> Iterator[None]:
    """Runs a block of this process on `cpu`, then restores the previous affinity."""
    before = os.sched_getaffinity(0)
    pin_self(cpu)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pin_process(pid: int, cpu: int) -> None:
    """Pins every thread a running process has now (and so those they start) to `cpu`."""
    cpus = cpu_set(cpu)
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads included."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def written_bytes(pid: int) -> int:
    """Bytes a process has sent to storage so far, all its threads included.

    `write_bytes` of `/proc/PID/io`: counted when a page is dirtied (so what
    the process writes into the page cache counts even if the kernel writes it
    back later, and `sync` by another process is not charged to it).
    """
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError(f"no write_bytes for process {pid}")


def rss_kib(pid: int) -> int:
    """Resident set size of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


class CpuMeter:
    """CPU utilization of a process over a window: `start()`, then `stop()` → cores used."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._cpu = 0.0
        self._wall = 0.0

    def start(self) -> None:
        """Begins the window."""
        self._cpu = cpu_seconds(self._pid)
        self._wall = time.monotonic()

    def stop(self) -> float:
        """Ends the window; returns the average number of cores the process used."""
        wall = time.monotonic() - self._wall
        return (cpu_seconds(self._pid) - self._cpu) / wall if wall > 0 else 0.0


def wait_idle(pid: int, timeout_s: float = 15.0, below: float = 0.05) -> None:
    """Waits (at most `timeout_s`) until a process uses less than `below` of a core.

    Between two timed windows a server may still be sending what the last one
    queued; the next window must not pay for it.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        meter = CpuMeter(pid)
        meter.start()
        time.sleep(0.2)
        if meter.stop() < below:
            return


class WorkerError(RuntimeError):
    """A worker process failed or did not answer in time."""


class Worker:
    """A child process of this package that speaks JSON lines: commands in, events out.

    Args:
        module: The `bench` module to run (`python -m module`).
        config: Its configuration, passed as one JSON argument.
        log: Where its standard error goes.
    """

    def __init__(self, module: str, config: dict[str, Any], log: Path) -> None:
        self.name = module.rsplit(".", 1)[-1]
        self._log_path = log
        env = dict(os.environ)
        env["PYTHONPATH"] = SOURCE_PATH
        with log.open("ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", module, json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                cwd=ROOT,
            )
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None
        self._reader = threading.Thread(
            target=self._read, args=(self.process.stdout,), daemon=True, name=f"{self.name}-out"
        )
        self._reader.start()

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            self._lines.put(line.decode())
        self._lines.put(None)

    def send(self, command: dict[str, Any]) -> None:
        """Writes one command."""
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(command).encode() + b"\n")
            stdin.flush()
        except BrokenPipeError as error:
            raise WorkerError(f"{self.name} has exited:\n{self._tail()}") from error

    def expect(self, event: str, timeout_s: float) -> dict[str, Any]:
        """Waits for the next output line that is the event `event`; returns it.

        Raises:
            WorkerError: The worker exited, reported an error, or was silent too long.
        """
        while True:
            try:
                line = self._lines.get(timeout=timeout_s)
            except queue.Empty:
                raise WorkerError(
                    f"{self.name}: no {event!r} within {timeout_s:g} s\n{self._tail()}"
                ) from None
            if line is None:
                self.process.wait(5)
                raise WorkerError(
                    f"{self.name} exited ({self.process.returncode}) before {event!r}:\n"
                    f"{self._tail()}"
                )
            message: dict[str, Any] = json.loads(line)
            if message.get("event") == "error":
                raise WorkerError(f"{self.name}: {message.get('error')}\n{self._tail()}")
            if message.get("event") == event:
                return message

    def request(self, command: dict[str, Any], event: str, timeout_s: float) -> dict[str, Any]:
        """Sends a command and waits for the event that answers it."""
        self.send(command)
        return self.expect(event, timeout_s)

    def stop(self) -> None:
        """Asks the worker to quit; kills it (by its id) if it does not."""
        if self.process.poll() is None:
            with contextlib.suppress(WorkerError, OSError, ValueError):
                self.send({"cmd": "quit"})
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def _tail(self) -> str:
        try:
            return "\n".join(self._log_path.read_text().splitlines()[-20:])
        except OSError:
            return ""

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def started_relay(
    workdir: Path, database_url: str | None = None, *extra: str, source: Path | None = None
) -> Iterator[RelayProcess]:
    """A running `clerk-relay serve` over SQLite in `workdir` (or `database_url`).

    `extra` are more command-line arguments; `source` is another checkout of
    the project to run the relay from (this one by default). Every thread is
    pinned to the server CPU; the process is stopped after.
    """
    process = serve(workdir, database_url, *extra)
    if source is not None:  # ahead of the editable install, whose finder Python asks last
        process.env["PYTHONPATH"] = os.pathsep.join([str(source), str(source / "clients/python")])
    try:
        process.start(timeout_s=60)
        assert process.process is not None
        pin_process(process.process.pid, SERVER_CPU)
        yield process
    finally:
        process.stop()
        process.kill()
