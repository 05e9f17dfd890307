"""Running the TypeScript client's examples from tests: paths, the relay's environment, webhooks.

The examples run under `tsx` from `clients/typescript/node_modules`, which
`make test` installs from the lockfile (`npm ci`) before running the suite;
the autouse fixture `node_modules` fails a test clearly when it did not.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from clerkrelay.cli.samples import sample
from tests.gateway.signing import signed_headers
from tests.processes import TEST_SECRET, RelayProcess

__all__ = [
    "STEP_TIMEOUT_S",
    "TSX",
    "TS_DIR",
    "finish",
    "node_env",
    "node_modules",
    "post_webhook",
    "tail",
]

TS_DIR = Path(__file__).resolve().parents[2] / "clients" / "typescript"
TSX = TS_DIR / "node_modules" / ".bin" / "tsx"
# Generous bounds: tsx compiles the example on start (about a second here).
STEP_TIMEOUT_S = 30.0


@pytest.fixture(autouse=True)
def node_modules() -> None:
    """Fails clearly when the npm dependencies were never installed."""
    if not (TS_DIR / "node_modules" / ".installed").exists():
        pytest.fail("TypeScript dependencies missing: run `make test` (it runs `npm ci`)")


async def post_webhook(relay: RelayProcess, event_type: str, webhook_id: str) -> dict[str, Any]:
    """Posts Clerk's sample of `event_type`, signed, and returns the gateway's answer."""
    body = orjson.dumps(sample(event_type))
    headers = signed_headers(body, webhook_id=webhook_id, secrets=(TEST_SECRET,))
    async with httpx.AsyncClient(timeout=STEP_TIMEOUT_S) as client:
        response = await client.post(relay.webhook_url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def node_env(relay: RelayProcess, token: str | None = None) -> dict[str, str]:
    """This environment without any `CLERK_*` variable, pointed at the relay."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_")}
    env["CLERK_RELAY_TARGET"] = relay.grpc_target
    if token is not None:
        env["CLERK_RELAY_TOKEN"] = token
    return env


@asynccontextmanager
async def tail(*args: str, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """Runs `tsx examples/tail.ts ARGS`; kills it if it is still running afterwards."""
    process = await asyncio.create_subprocess_exec(
        str(TSX),
        "examples/tail.ts",
        *args,
        cwd=TS_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def finish(process: asyncio.subprocess.Process) -> tuple[list[str], str]:
    """Waits for the example to exit; returns its stdout lines and its stderr."""
    stdout, stderr = await asyncio.wait_for(process.communicate(), STEP_TIMEOUT_S)
    return stdout.decode().splitlines(), stderr.decode()
