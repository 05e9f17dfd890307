"""Stops and starts the local PostgreSQL cluster, and makes sure it is left running.

Uses Debian's `pg_ctlcluster` (as root, `--skip-systemctl-redirect` so it
works without systemd). `outage()` always starts the server again, and
`ensure_running()` is what a fixture calls after every chaos test, so a failed
test never leaves the machine without its database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg

from tests.contract.conftest import POSTGRES_URL

__all__ = ["cluster_control_missing", "ensure_running", "is_running", "outage"]

_CLUSTERS = Path("/etc/postgresql")
_READY_TIMEOUT_S = 30.0


def cluster_control_missing() -> str | None:
    """None when this process can stop and start the local cluster, else why not."""
    if shutil.which("pg_ctlcluster") is None:
        return "pg_ctlcluster is not installed"
    if not _CLUSTERS.is_dir() or len(os.listdir(_CLUSTERS)) != 1:
        return f"{_CLUSTERS} does not hold exactly one PostgreSQL version"
    if os.geteuid() != 0:
        return "stopping the PostgreSQL cluster needs root"
    return None


def _pg_ctlcluster(action: str) -> subprocess.CompletedProcess[str]:
    (version,) = os.listdir(_CLUSTERS)
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def is_running() -> bool:
    """The server accepts connections now."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def _start_and_wait() -> None:
    done = _pg_ctlcluster("start")  # exit code 2: already running
    if done.returncode not in (0, 2):
        raise RuntimeError(f"pg_ctlcluster start failed: {done.stdout}{done.stderr}")
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while not is_running():
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"PostgreSQL did not accept connections {_READY_TIMEOUT_S:g}s after start"
            )
        time.sleep(0.1)


def ensure_running() -> None:
    """Starts the server if it is not running, and waits until it accepts connections."""
    if not is_running():
        _start_and_wait()


def _stop() -> None:
    done = _pg_ctlcluster("stop")  # fast mode: active transactions are rolled back
    if done.returncode != 0:
        raise RuntimeError(f"pg_ctlcluster stop failed: {done.stdout}{done.stderr}")


@asynccontextmanager
async def outage() -> AsyncIterator[None]:
    """PostgreSQL is down inside the block, and running again after it, whatever happens."""
    try:
        await asyncio.to_thread(_stop)
        yield
    finally:
        await asyncio.to_thread(_start_and_wait)
