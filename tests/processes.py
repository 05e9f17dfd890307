"""Real `clerk-relay` processes for end-to-end tests: start, wait until ready, kill.

Every process listens on loopback ports picked free for it, and is stopped
(SIGKILL if it does not end on SIGTERM) when the test ends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

# The Svix test secret: fine for tests, never for a real endpoint.
TEST_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

ROOT = Path(__file__).resolve().parent.parent
"""The repository's root."""

SOURCE_PATH = os.pathsep.join([str(ROOT), str(ROOT / "clients" / "python")])
"""The `PYTHONPATH` a child process needs to import the project and its client package."""


HANDED_OUT_PORTS = range(20000, 32000)
"""The ports `free_port` hands out: below the kernel's ephemeral range (32768 up here)."""


def _port_range() -> range:
    """This test process's share of `HANDED_OUT_PORTS`: one block per pytest-xdist worker.

    The kernel's own picks for port 0 (servers in the test process) and for
    outgoing connections come from its ephemeral range, so they never take a
    port handed out here, and no two workers share one.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    size = len(HANDED_OUT_PORTS) // workers
    return HANDED_OUT_PORTS[worker * size : (worker + 1) * size]


_ports = iter(_port_range())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now and no earlier call returned.

    Ports are handed out in turn from this process's own range (a relay once
    got the same kernel-picked port for its HTTP and its gRPC listener), and
    one that something holds is passed over.
    """
    for port in _ports:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("this test process has handed out every port of its range")


@dataclass
class RelayProcess:
    """One `clerk-relay` subprocess and where it listens."""

    command: str
    args: list[str]
    env: dict[str, str]
    log: Path
    http_port: int | None = None
    grpc_port: int | None = None
    ops_port: int | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP side."""
        assert self.http_port is not None
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def webhook_url(self) -> str:
        """Where Clerk would post webhooks."""
        return f"{self.http_url}/webhooks/clerk"

    @property
    def ops_url(self) -> str:
        """Base URL of the operations listener (`/metrics`, `/readyz`, the console)."""
        assert self.ops_port is not None
        return f"http://127.0.0.1:{self.ops_port}"

    @property
    def grpc_target(self) -> str:
        """`host:port` of the gRPC side."""
        assert self.grpc_port is not None
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, timeout_s: float = 20.0) -> RelayProcess:
        """Starts the process and waits until it answers."""
        return self.launch().wait_ready(timeout_s)

    def launch(self) -> RelayProcess:
        """Starts the process, without waiting for anything."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "clerkrelay.cli", self.command, *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout_s: float = 20.0) -> RelayProcess:
        """Waits until the launched process is ready (its ops `/readyz`, or gRPC health)."""
        assert self.process is not None, "launch it first"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command} exited early:\n{self.log.read_text()}")
            if self._ready():
                return self
            time.sleep(0.05)
        raise TimeoutError(f"{self.command} not ready in {timeout_s}s:\n{self.log.read_text()}")

    def _ready(self) -> bool:
        if self.ops_port is not None:
            try:
                return httpx.get(f"{self.ops_url}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        with grpc.insecure_channel(self.grpc_target) as channel:
            try:
                response = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
            except grpc.RpcError:
                return False
            return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it has not ended in time; returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)


def relay_env(**overrides: str) -> dict[str, str]:
    """The environment of a test relay: this interpreter's, with the test secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_")}
    env["PYTHONPATH"] = SOURCE_PATH
    env["CLERK_WEBHOOK_SIGNING_SECRET"] = TEST_SECRET
    env["CLERK_RELAY_LOG_LEVEL"] = "warning"
    env.update(overrides)
    return env


@contextmanager
def running(*processes: RelayProcess) -> Iterator[Sequence[RelayProcess]]:
    """Starts processes in order; stops them all (in reverse) afterwards."""
    started: list[RelayProcess] = []
    try:
        for process in processes:
            started.append(process.start())
        yield started
    finally:
        for process in reversed(started):
            process.stop()
        for process in processes:
            process.kill()


def serve(tmp_path: Path, database_url: str | None = None, *extra: str) -> RelayProcess:
    """A `clerk-relay serve` on free ports over a SQLite file in `tmp_path` (by default)."""
    http_port, grpc_port, ops_port = free_port(), free_port(), free_port()
    url = database_url or f"sqlite:///{tmp_path / 'relay.db'}"
    return RelayProcess(
        "serve",
        [
            "--http-addr",
            f"127.0.0.1:{http_port}",
            "--ops-addr",
            f"127.0.0.1:{ops_port}",
            "--grpc-addr",
            f"127.0.0.1:{grpc_port}",
            "--database-url",
            url,
            *extra,
        ],
        relay_env(),
        tmp_path / f"serve-{http_port}.log",
        http_port=http_port,
        grpc_port=grpc_port,
        ops_port=ops_port,
    )


def grpc_service(
    tmp_path: Path, database_url: str, *extra: str, grpc_port: int | None = None
) -> RelayProcess:
    """A `clerk-relay grpc` on `grpc_port` (a free one by default)."""
    grpc_port = grpc_port or free_port()
    ops_port = free_port()
    return RelayProcess(
        "grpc",
        [
            "--grpc-addr",
            f"127.0.0.1:{grpc_port}",
            "--ops-addr",
            f"127.0.0.1:{ops_port}",
            "--database-url",
            database_url,
            *extra,
        ],
        relay_env(),
        tmp_path / f"grpc-{grpc_port}.log",
        grpc_port=grpc_port,
        ops_port=ops_port,
    )


def gateway(tmp_path: Path, grpc_target: str, *extra: str) -> RelayProcess:
    """A `clerk-relay gateway` on a free port, publishing to `grpc_target`."""
    http_port, ops_port = free_port(), free_port()
    return RelayProcess(
        "gateway",
        [
            "--http-addr",
            f"127.0.0.1:{http_port}",
            "--ops-addr",
            f"127.0.0.1:{ops_port}",
            "--grpc-target",
            grpc_target,
            *extra,
        ],
        relay_env(),
        tmp_path / f"gateway-{http_port}.log",
        http_port=http_port,
        ops_port=ops_port,
    )
