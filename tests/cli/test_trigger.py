"""`clerk-relay trigger` against a live relay: signed, fresh, stored; the bar only on a terminal."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys

import orjson

from clerkrelay.cli.samples import sample_types
from tests.cli.conftest import clerk_relay
from tests.processes import RelayProcess

LINE = re.compile(
    r"^HTTP 200  (?P<type>\S+)  data\.id=(?P<data_id>\S+)  svix-id=(?P<svix_id>msg_\w{27})  "
    r"(?P<body>\{.*\})$"
)


def test_trigger_posts_a_signed_fresh_webhook(relay: RelayProcess, env: dict[str, str]) -> None:
    first = clerk_relay("trigger", "user.created", "--url", relay.http_url, env=env)
    assert (first.returncode, first.stderr) == (0, "")
    matched = LINE.match(first.stdout.strip())
    assert matched is not None, first.stdout
    assert matched["type"] == "user.created"
    assert re.fullmatch(r"user_\w{27}", matched["data_id"])
    assert orjson.loads(matched["body"]) == {"sequence": 1}

    again = clerk_relay("trigger", "user.created", "--url", relay.webhook_url, env=env)
    second = LINE.match(again.stdout.strip())
    assert again.returncode == 0 and second is not None
    assert second["data_id"] != matched["data_id"]  # fresh ids every time
    assert second["svix_id"] != matched["svix_id"]
    assert orjson.loads(second["body"]) == {"sequence": 2}

    got = clerk_relay("get", "user", matched["data_id"], env=env)
    assert got.returncode == 0, got.stderr
    record = orjson.loads(got.stdout)
    assert record["user"]["id"] == matched["data_id"]
    assert (record["deleted"], record["event_sequence"]) == (False, 1)

    tailed = clerk_relay("tail", "--from-beginning", "--json", "--count", "1", env=env)
    assert tailed.returncode == 0, tailed.stderr
    event = orjson.loads(tailed.stdout)
    assert (event["sequence"], event["id"], event["type"]) == (
        1,
        matched["svix_id"],
        "user.created",
    )
    assert event["raw_body"]["data"]["id"] == matched["data_id"]
    assert event["timestamp"] == event["raw_body"]["timestamp"]


def test_count_sends_many_and_summarises(relay: RelayProcess, env: dict[str, str]) -> None:
    result = clerk_relay(
        "trigger", "session.created", "--count", "12", "--url", relay.http_url, env=env
    )
    assert (result.returncode, result.stderr) == (0, "")
    *lines, summary = result.stdout.splitlines()
    matches = [LINE.match(line) for line in lines]
    bodies = [orjson.loads(m["body"]) for m in matches if m is not None]
    assert len(bodies) == 12
    sequences = sorted(body["sequence"] for body in bodies)
    assert sequences == list(range(1, 13))
    assert summary.startswith(f"sent 12 session.created webhooks to {relay.webhook_url} in ")
    assert summary.endswith(": HTTP 200 ×12")


def test_list_prints_every_type_with_an_example() -> None:
    result = clerk_relay("trigger", "--list")
    assert result.returncode == 0
    assert result.stdout.splitlines() == sample_types()
    assert len(sample_types()) == 46


def _read_all(fd: int) -> bytes:
    chunks = b""
    while select.select([fd], [], [], 5)[0]:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the other end closed (EIO on Linux)
            break
        if not data:
            break
        chunks += data
    return chunks


def test_progress_bar_only_when_stderr_is_a_terminal(
    relay: RelayProcess, env: dict[str, str]
) -> None:
    args = [sys.executable, "-m", "clerkrelay.cli", "trigger", "user.updated", "--count", "40"]
    args += ["--url", relay.http_url]
    terminal_env = dict(env, TERM="xterm", COLUMNS="120")
    controller, terminal = os.openpty()
    try:
        process = subprocess.Popen(
            args, env=terminal_env, stdout=subprocess.PIPE, stderr=terminal, text=True
        )
        os.close(terminal)
        drawn = _read_all(controller).decode(errors="replace")
        stdout, _ = process.communicate(timeout=30)
    finally:
        os.close(controller)
    assert process.returncode == 0
    assert "40/40" in drawn and "100%" in drawn  # rich drew the bar on the terminal
    # With a bar, stdout gets only the summary.
    assert stdout.splitlines()[-1].endswith(": HTTP 200 ×40") and len(stdout.splitlines()) == 1

    piped = clerk_relay(*args[3:], env=terminal_env)
    assert piped.returncode == 0
    assert piped.stderr == ""  # no bar when stderr is not a terminal
    assert len(piped.stdout.splitlines()) == 41
