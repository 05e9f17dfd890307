"""The TypeScript client as a user runs it: `examples/tail.ts` against a live `clerk-relay serve`.

The example runs under `tsx` from `clients/typescript/node_modules`, which
`make test` installs from the lockfile (`npm ci`) before running the suite
(`tests/e2e/typescript.py` has the helpers).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from clerkrelay.cli.samples import sample
from tests.e2e.typescript import STEP_TIMEOUT_S, TS_DIR, finish, node_env, post_webhook, tail
from tests.e2e.typescript import node_modules as node_modules  # autouse fixture
from tests.processes import running, serve


async def test_tail_prints_a_live_user_created(tmp_path: Path) -> None:
    relay = serve(tmp_path)
    with running(relay):
        async with tail("--count", "1", env=node_env(relay)) as process:
            assert process.stderr is not None
            # A live-only stream: post once the subscription is in place.
            first = await asyncio.wait_for(process.stderr.readline(), STEP_TIMEOUT_S)
            assert first.decode() == "tail: caught up at sequence 0\n"
            assert await post_webhook(relay, "user.created", "msg_ts_live_1") == {"sequence": 1}
            lines, stderr = await finish(process)
        assert process.returncode == 0, stderr
    assert len(lines) == 1
    printed = json.loads(lines[0])
    user = sample("user.created")["data"]
    assert (printed["sequence"], printed["id"], printed["type"]) == (
        "1",
        "msg_ts_live_1",
        "user.created",
    )
    assert printed["user_created"]["id"] == user["id"]
    assert printed["user_created"]["first_name"] == user["first_name"]
    assert "raw_body" not in printed


async def test_tail_replays_the_log_with_a_token(tmp_path: Path) -> None:
    relay = serve(tmp_path)
    relay.env["CLERK_RELAY_TOKENS"] = "ts-client-token"
    with running(relay):
        assert await post_webhook(relay, "user.created", "msg_ts_1") == {"sequence": 1}
        assert await post_webhook(relay, "session.created", "msg_ts_2") == {"sequence": 2}
        assert await post_webhook(relay, "user.updated", "msg_ts_3") == {"sequence": 3}
        env = node_env(relay, token="ts-client-token")
        async with tail("--from-beginning", "--count", "2", env=env) as process:
            lines, stderr = await finish(process)
        assert process.returncode == 0, stderr
    printed = [json.loads(line) for line in lines]
    assert [(p["sequence"], p["id"], p["type"]) for p in printed] == [
        ("1", "msg_ts_1", "user.created"),
        ("3", "msg_ts_3", "user.updated"),
    ]
    assert printed[0]["user_created"]["id"] == sample("user.created")["data"]["id"]
    assert printed[1]["user_updated"]["last_name"] == sample("user.updated")["data"]["last_name"]


async def test_tail_without_the_token_is_refused(tmp_path: Path) -> None:
    relay = serve(tmp_path)
    relay.env["CLERK_RELAY_TOKENS"] = "ts-client-token"
    with running(relay):
        async with tail("--from-beginning", "--count", "1", env=node_env(relay)) as process:
            lines, stderr = await finish(process)
    assert process.returncode == 1
    assert lines == []
    assert stderr.startswith("tail: Unauthenticated: ")


async def test_typescript_sources_typecheck() -> None:
    process = await asyncio.create_subprocess_exec(
        "npm",
        "run",
        "--silent",
        "typecheck",
        cwd=TS_DIR,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == 0, output.decode()
