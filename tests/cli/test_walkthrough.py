"""README's "Local development" walkthrough, run exactly as written against `serve --dev`.

The block's lines run one by one in bash from the repository root, as a reader
would paste them, against a `clerk-relay serve --dev` started the way
`make run` starts it. Only where things live differs: the relay's database is in
the test's directory (`CLERK_RELAY_DATABASE_URL`, which the commands read too)
and the ports are free ones (`CLERK_RELAY_HTTP_ADDR`, `CLERK_RELAY_GRPC_TARGET`).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import orjson

from tests.processes import ROOT, RelayProcess, free_port, relay_env

MARKER = "<!-- walkthrough: tests/cli/test_walkthrough.py runs this block as written -->"


def walkthrough() -> list[str]:
    """The commands of the README's walkthrough block."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split(MARKER, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return block.strip().splitlines()


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    commands = walkthrough()
    assert commands[0] == 'export PATH="$PWD/.venv/bin:$PATH"'
    http_port, grpc_port = free_port(), free_port()
    env = relay_env(
        CLERK_RELAY_DATABASE_URL=f"sqlite:///{tmp_path / 'clerk-relay.db'}",
        CLERK_RELAY_HTTP_ADDR=f"127.0.0.1:{http_port}",
        CLERK_RELAY_GRPC_ADDR=f"127.0.0.1:{grpc_port}",
        CLERK_RELAY_GRPC_TARGET=f"127.0.0.1:{grpc_port}",
    )
    del env["CLERK_WEBHOOK_SIGNING_SECRET"]  # `make run`: serve --dev makes and keeps its own
    relay = RelayProcess(
        "serve", ["--dev"], env, tmp_path / "serve.log", http_port=http_port, grpc_port=grpc_port
    )
    relay.start()
    try:
        outputs = _run(commands, env)
    finally:
        assert relay.stop() == 0

    created, first, updated, listed, tailed, deleted, last = outputs
    assert re.match(r"HTTP 200  user\.created  data\.id=user_ada  ", created)
    assert re.match(r"HTTP 200  user\.updated  data\.id=user_ada  ", updated)
    assert re.match(r"HTTP 200  user\.deleted  data\.id=user_ada  ", deleted)
    record = orjson.loads(first)
    assert (record["user"]["first_name"], record["deleted"], record["event_sequence"]) == (
        "Ada",
        False,
        1,
    )
    assert "user_ada" in listed
    assert [line.split()[1:3] for line in tailed.splitlines()] == [
        ["#1", "user.created"],
        ["#2", "user.updated"],
    ]
    gone = orjson.loads(last)
    assert (gone["user"]["id"], gone["deleted"], gone["event_sequence"]) == ("user_ada", True, 3)
    assert gone["user"]["last_name"] == "Lovelace"  # the tombstone keeps the last state


def _run(commands: list[str], env: dict[str, str]) -> list[str]:
    """Runs the commands in one bash, one by one; each one's stdout (all must succeed)."""
    outputs = []
    prefix = commands[0]
    for command in commands[1:]:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", f"{prefix}\n{command}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        outputs.append(result.stdout)
    return outputs
