"""CLI fixtures: a real `clerk-relay serve`, and a runner of `clerk-relay` commands against it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.processes import RelayProcess, relay_env


def clerk_relay(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 30
) -> subprocess.CompletedProcess[str]:
    """Runs `clerk-relay ARGS…` to completion; stdout and stderr are captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "clerkrelay.cli", *args],
        env=relay_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@pytest.fixture
def env(relay: RelayProcess) -> dict[str, str]:
    """The environment of a command aimed at `relay` (its gRPC target and its secret)."""
    return relay_env(CLERK_RELAY_GRPC_TARGET=relay.grpc_target)


@pytest.fixture
def started() -> Iterator[list[RelayProcess]]:
    """Processes to stop at the end of the test."""
    relays: list[RelayProcess] = []
    yield relays
    for relay in relays:
        relay.stop()
