"""`subscribeEvents` itself, driven by `clients/typescript/test/probe.ts` against a live relay.

The probe reports every event, control message, reconnection and the final
outcome as JSON lines, so each test asserts exactly what the subscription did:
which events it delivered, what it saved to the checkpoint file, when it gave
up and what it threw.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.typescript import STEP_TIMEOUT_S, TS_DIR, TSX, post_webhook
from tests.e2e.typescript import node_modules as node_modules  # autouse fixture
from tests.processes import RelayProcess, free_port, running, serve


async def probe(**scenario: Any) -> list[dict[str, Any]]:
    """Runs one scenario; returns the probe's report, one dict per line."""
    process = await asyncio.create_subprocess_exec(
        str(TSX),
        "test/probe.ts",
        json.dumps(scenario),
        cwd=TS_DIR,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), STEP_TIMEOUT_S)
    assert process.returncode == 0, stderr.decode()
    assert stderr == b""
    return [json.loads(line) for line in stdout.decode().splitlines()]


def events_of(report: list[dict[str, Any]]) -> list[str]:
    """The sequences the probe received, in order."""
    return [line["event"] for line in report if "event" in line]


async def post_users(relay: RelayProcess, count: int) -> None:
    """Posts `count` `user.updated` webhooks (sequences 1..count on a fresh relay)."""
    for sequence in range(1, count + 1):
        answer = await post_webhook(relay, "user.updated", f"msg_ts_probe_{sequence}")
        assert answer == {"sequence": sequence}


async def test_the_event_being_handled_at_a_break_is_delivered_again(tmp_path: Path) -> None:
    position = tmp_path / "position"
    relay = serve(tmp_path)
    with running(relay):
        await post_users(relay, 3)
        target = relay.grpc_target
        first = await probe(target=target, afterSequence="0", checkpoint=str(position), stopAfter=2)
        saved_first = position.read_text()
        second = await probe(target=target, checkpoint=str(position), stopAfter=2)
        saved_second = position.read_text()
        third = await probe(target=target, checkpoint=str(position), stopAfter=1, acknowledge=True)
    # Event 2 was being handled when the loop broke: not acknowledged, so again.
    assert (events_of(first), saved_first) == (["1", "2"], "1\n")
    assert (events_of(second), saved_second) == (["2", "3"], "2\n")
    # Acknowledged before the break: saved, not delivered again.
    assert events_of(third) == ["3"]
    assert position.read_text() == "3\n"
    assert first[-1] == second[-1] == third[-1] == {"end": "done"}


async def test_a_sparse_filter_still_saves_the_examined_position(tmp_path: Path) -> None:
    position = tmp_path / "position"
    relay = serve(tmp_path)
    with running(relay):
        await post_users(relay, 3)
        report = await probe(
            target=relay.grpc_target,
            eventTypes=["session.*"],
            afterSequence="0",
            checkpoint=str(position),
            untilCaughtUp=True,
        )
    assert report == [{"control": "caughtUp", "sequence": "3"}, {"end": "done"}]
    assert position.read_text() == "3\n"


async def test_gives_up_after_max_attempts_without_saving(tmp_path: Path) -> None:
    position = tmp_path / "position"
    report = await probe(
        target=f"127.0.0.1:{free_port()}",  # nothing listens there
        checkpoint=str(position),
        backoff={"initialDelayMs": 10, "maxDelayMs": 20, "maxAttempts": 3},
    )
    reconnects = [line["reconnect"] for line in report if "reconnect" in line]
    assert [(r["failures"], r["position"]) for r in reconnects] == [(1, None), (2, None)]
    assert all(r["reason"].startswith("Unavailable: ") for r in reconnects)
    assert len(report) == 3
    error = report[-1]["error"]
    assert (error["connect"], error["code"]) == (True, "Unavailable")
    assert error["message"].startswith("gave up after 3 failed attempts (last: Unavailable: ")
    assert not position.exists()


async def test_a_status_retrying_cannot_fix_is_thrown_at_once(tmp_path: Path) -> None:
    position = tmp_path / "position"
    position.write_text("2\n")
    relay = serve(tmp_path)
    relay.env["CLERK_RELAY_TOKENS"] = "a-token-the-probe-does-not-send"
    with running(relay):
        report = await probe(target=relay.grpc_target, checkpoint=str(position))
    assert len(report) == 1
    assert report[0]["error"]["connect"] is True
    assert report[0]["error"]["code"] == "Unauthenticated"
    assert position.read_text() == "2\n"
