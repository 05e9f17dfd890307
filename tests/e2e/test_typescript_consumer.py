"""The TypeScript client's `consume`, as a user runs it: `examples/consume.ts` against `serve`."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from clerkrelay import RelayClient
from tests.e2e.typescript import (
    STEP_TIMEOUT_S,
    TS_DIR,
    TSX,
    node_env,
    node_modules,
    post_webhook,
)
from tests.processes import RelayProcess, running, serve
from tests.service.consumers.members import until

__all__ = ["node_modules"]  # the fixture that checks the npm dependencies


async def _consume(relay: RelayProcess, *args: str) -> tuple[int, list[dict[str, object]], str]:
    process = await asyncio.create_subprocess_exec(
        str(TSX), "examples/consume.ts", *args,
        cwd=TS_DIR, env=node_env(relay), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), STEP_TIMEOUT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines = [json.loads(line) for line in stdout.decode().splitlines()]
    return process.returncode or 0, lines, stderr.decode()


async def test_consume_acks_and_nacks(tmp_path: Path) -> None:
    relay = serve(tmp_path)
    with running(relay):
        for i, event_type in enumerate(["user.created", "session.created", "user.created"]):
            await post_webhook(relay, event_type, f"msg_ts_consume_{i}")
        code, lines, stderr = await _consume(
            relay, "--group", "ts", "--types", "user.created", "--from-beginning",
            "--count", "4", "--nack-first",
        )  # fmt: skip
        assert code == 0, stderr
        assert sorted((line["sequence"], line["attempt"]) for line in lines) == [
            (1, 1), (1, 2), (3, 1), (3, 2),
        ]  # fmt: skip
        assert {line["type"] for line in lines} == {"user.created"}
        async with RelayClient(relay.grpc_target) as client:
            group = await until(lambda: client.consumer_group("ts"), lambda g: g.acked_count == 2)
        assert (group.position, group.redelivered_count, group.in_flight_count) == (3, 2, 0)

        # Joining again with other settings is refused, and says why.
        code, lines, stderr = await _consume(relay, "--group", "ts", "--types", "session.*")
        assert (code, lines) == (1, [])
        assert stderr.startswith("consume: FailedPrecondition: consumer group 'ts' exists")
