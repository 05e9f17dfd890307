"""The TypeScript client's resuming subscription and checkpoint file, through `tail --checkpoint`.

A real `clerk-relay serve` is stopped and started again on the same ports and
database under a running `tsx examples/tail.ts`; the checkpoint file is shared
with the Python client's `FileCheckpoint` in both directions.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from clerkrelay import FileCheckpoint
from tests.e2e.typescript import STEP_TIMEOUT_S, finish, node_env, post_webhook, tail
from tests.e2e.typescript import node_modules as node_modules  # autouse fixture
from tests.processes import RelayProcess, running, serve


async def read_sequences(process: asyncio.subprocess.Process, count: int) -> list[str]:
    """Reads `count` lines from the example's stdout; returns their sequences."""
    assert process.stdout is not None
    sequences = []
    for _ in range(count):
        line = await asyncio.wait_for(process.stdout.readline(), STEP_TIMEOUT_S)
        sequences.append(json.loads(line)["sequence"])
    return sequences


def holds(path: Path, content: str) -> bool:
    """True when `path` exists and holds exactly `content`."""
    return path.exists() and path.read_text() == content


async def wait_for_file(path: Path, content: str) -> None:
    """Waits until `path` holds exactly `content` (the example saves as it goes)."""
    async with asyncio.timeout(STEP_TIMEOUT_S):
        while True:
            if holds(path, content):
                return
            await asyncio.sleep(0.05)


async def post_users(relay: RelayProcess, first: int, last: int) -> None:
    """Posts `user.updated` webhooks, which get sequences `first`..`last` (nothing else posts)."""
    for sequence in range(first, last + 1):
        answer = await post_webhook(relay, "user.updated", f"msg_ts_resume_{sequence}")
        assert answer == {"sequence": sequence}


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
async def test_tail_with_a_checkpoint_survives_a_relay_restart(tmp_path: Path, how: str) -> None:
    position = tmp_path / "state" / "position"
    relay = serve(tmp_path)
    with running(relay):
        await post_users(relay, 1, 2)
        args = ("--from-beginning", "--checkpoint", str(position), "--count", "5")
        async with tail(*args, env=node_env(relay)) as process:
            assert await read_sequences(process, 2) == ["1", "2"]
            await wait_for_file(position, "2\n")  # saved while running, not only at exit
            if how == "SIGKILL":  # the connection drops mid-stream, with no goodbye
                relay.kill()
            else:
                assert relay.stop() == 0
            relay.launch().wait_ready()
            await post_users(relay, 3, 5)
            later = await read_sequences(process, 3)
            rest, stderr = await finish(process)
        assert process.returncode == 0, stderr
    assert later == ["3", "4", "5"]
    assert rest == []  # nothing printed twice after the reconnect
    assert "tail: interrupted (" in stderr
    assert "resuming after 2 in " in stderr
    assert position.read_text() == "5\n"
    assert sorted(os.listdir(position.parent)) == ["position"]  # no temporary left behind

    # A second run with the same file prints only newer events, even with
    # --from-beginning (the later of the two starts wins).
    with running(relay):  # the same relay again: same ports, same database
        await post_users(relay, 6, 6)
        assert await post_webhook(relay, "session.created", "msg_ts_resume_7") == {"sequence": 7}
        await post_users(relay, 8, 8)
        args = ("--from-beginning", "--checkpoint", str(position), "--count", "2")
        async with tail(*args, env=node_env(relay)) as process:
            lines, stderr = await finish(process)
        assert process.returncode == 0, stderr
    assert [json.loads(line)["sequence"] for line in lines] == ["6", "8"]
    assert position.read_text() == "8\n"


async def test_checkpoint_files_are_shared_with_the_python_client(tmp_path: Path) -> None:
    position = tmp_path / "position"
    FileCheckpoint(position).save(1)  # Python writes, TypeScript reads
    relay = serve(tmp_path)
    with running(relay):
        await post_users(relay, 1, 3)
        async with tail("--checkpoint", str(position), "--count", "2", env=node_env(relay)) as p:
            lines, stderr = await finish(p)
        assert p.returncode == 0, stderr
    assert [json.loads(line)["sequence"] for line in lines] == ["2", "3"]
    assert position.read_bytes() == b"3\n"  # TypeScript writes, Python reads
    assert FileCheckpoint(position).load() == 3
    assert [name for name in os.listdir(tmp_path) if name.startswith(".position")] == []


async def test_tail_refuses_a_corrupt_checkpoint_file(tmp_path: Path) -> None:
    position = tmp_path / "position"
    position.write_text("twelve\n")
    relay = serve(tmp_path)
    with running(relay):
        await post_users(relay, 1, 1)
        async with tail("--checkpoint", str(position), "--count", "1", env=node_env(relay)) as p:
            lines, stderr = await finish(p)
    assert p.returncode == 1
    assert lines == []
    assert stderr == f'tail: {position} does not hold a sequence number: "twelve"\n'
    assert position.read_text() == "twelve\n"


async def read_stderr_until(process: asyncio.subprocess.Process, wanted: str) -> list[str]:
    """Reads the example's stderr lines up to and including one containing `wanted`."""
    assert process.stderr is not None
    lines: list[str] = []
    async with asyncio.timeout(STEP_TIMEOUT_S):
        while not lines or wanted not in lines[-1]:
            line = await process.stderr.readline()
            assert line, f"stderr ended before {wanted!r}: {lines}"
            lines.append(line.decode())
    return lines


async def test_a_silent_stream_is_called_again_after_the_idle_timeout(tmp_path: Path) -> None:
    position = tmp_path / "position"
    relay = serve(tmp_path)
    with running(relay):
        await post_users(relay, 1, 1)
        # The relay's heartbeat comes every 5 s: half a second of silence is "stuck".
        args = ("--from-beginning", "--idle-timeout", "0.5", "--checkpoint", str(position))
        async with tail(*args, "--count", "3", env=node_env(relay)) as process:
            assert await read_sequences(process, 1) == ["1"]
            noted = await read_stderr_until(process, "no message for 500 ms")
            assert noted[0] == "tail: caught up at sequence 1\n"
            assert noted[-1].startswith(
                "tail: interrupted (no message for 500 ms); resuming after 1 in "
            )
            # Called again: the caught_up of the new call, then the next silence.
            await read_stderr_until(process, "caught up at sequence 1")
            await read_stderr_until(process, "no message for 500 ms")
            await post_users(relay, 2, 3)
            later = await read_sequences(process, 2)
            rest, stderr = await finish(process)
        assert process.returncode == 0, stderr
    assert later == ["2", "3"]
    assert rest == []
    assert position.read_text() == "3\n"


async def test_until_caught_up_prints_the_stored_events_and_exits(tmp_path: Path) -> None:
    relay = serve(tmp_path)
    with running(relay):
        await post_users(relay, 1, 1)
        assert await post_webhook(relay, "session.created", "msg_ts_resume_2") == {"sequence": 2}
        await post_users(relay, 3, 3)
        async with tail("--from-beginning", "--until-caught-up", env=node_env(relay)) as p:
            lines, stderr = await finish(p)
    assert p.returncode == 0, stderr
    assert [json.loads(line)["sequence"] for line in lines] == ["1", "3"]
    assert stderr == "tail: caught up at sequence 3\n"


async def test_sigterm_ends_tail_cleanly_with_the_position_saved(tmp_path: Path) -> None:
    position = tmp_path / "position"
    relay = serve(tmp_path)
    with running(relay):
        async with tail("--checkpoint", str(position), env=node_env(relay)) as process:
            # A live start: the first caught_up gives the position 0, saved at once.
            await read_stderr_until(process, "caught up at sequence 0")
            await wait_for_file(position, "0\n")
            await post_users(relay, 1, 1)
            assert await read_sequences(process, 1) == ["1"]
            process.terminate()
            rest, stderr = await finish(process)
        assert process.returncode == 0, stderr
    assert rest == []
    assert stderr == ""
    assert position.read_text() == "1\n"
