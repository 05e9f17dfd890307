"""`clerk-relay tail` against a live relay: lines, JSON, start points, live events, checkpoints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson

from tests.cli.conftest import clerk_relay
from tests.processes import RelayProcess

DATA_ID = re.compile(r"data\.id=(\S+)")
EVENT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z  "
    r"#(?P<sequence>\d+)\s+(?P<type>\S+)\s+(?P<subject>\S+)$"
)


def _trigger(relay: RelayProcess, env: dict[str, str], event_type: str, count: int) -> list[str]:
    """Triggers `count` events; returns their data ids in sequence order."""
    result = clerk_relay(
        "trigger", event_type, "--count", str(count), "--concurrency", "1",
        "--url", relay.http_url, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result
    return DATA_ID.findall(result.stdout)


def test_human_lines_after_a_sequence(relay: RelayProcess, env: dict[str, str]) -> None:
    users = _trigger(relay, env, "user.created", 2)
    members = _trigger(relay, env, "organizationMembership.created", 2)
    result = clerk_relay("tail", "--after", "1", "--count", "3", env=env)
    assert (result.returncode, result.stderr) == (0, "")
    lines = [EVENT_LINE.match(line) for line in result.stdout.splitlines()]
    assert [(m["sequence"], m["type"], m["subject"]) for m in lines if m] == [
        ("2", "user.created", users[1]),
        ("3", "organizationMembership.created", members[0]),
        ("4", "organizationMembership.created", members[1]),
    ]

    only_users = clerk_relay(
        "tail", "--from-beginning", "--until-caught-up", "--types", "user.*", "--json", env=env
    )
    assert only_users.returncode == 0, only_users.stderr
    events = [orjson.loads(line) for line in only_users.stdout.splitlines()]
    assert [(e["sequence"], e["payload"]["id"]) for e in events] == [(1, users[0]), (2, users[1])]
    assert all(e["raw_body"]["type"] == "user.created" and not e["stale"] for e in events)


def test_follows_live_events(relay: RelayProcess, env: dict[str, str]) -> None:
    (first,) = _trigger(relay, env, "user.created", 1)
    tail = subprocess.Popen(
        [sys.executable, "-m", "clerkrelay.cli", "tail", "--after", "0", "--count", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert tail.stdout is not None
        history = tail.stdout.readline()  # printed: the stream is open, live next
        assert history.rstrip().endswith(first)
        (second,) = _trigger(relay, env, "user.updated", 1)
        live = tail.stdout.readline()
        assert tail.wait(timeout=20) == 0
    finally:
        tail.kill()
        tail.communicate()
    matched = EVENT_LINE.match(live.rstrip())
    assert matched is not None and (matched["sequence"], matched["type"]) == ("2", "user.updated")
    assert matched["subject"] == second


def test_checkpoint_file_resumes(relay: RelayProcess, env: dict[str, str], tmp_path: Path) -> None:
    _trigger(relay, env, "role.created", 3)
    position = tmp_path / "tail.position"
    args = ("tail", "--until-caught-up", "--checkpoint", str(position))
    first = clerk_relay(*args, "--from-beginning", env=env)
    assert (first.returncode, len(first.stdout.splitlines())) == (0, 3), first
    assert position.read_text() == "3\n"
    _trigger(relay, env, "role.updated", 1)
    second = clerk_relay(*args, "--from-beginning", env=env)
    assert second.returncode == 0, second
    assert [line.split()[1] for line in second.stdout.splitlines()] == ["#4"]
    assert position.read_text() == "4\n"


def test_ends_quietly_when_the_reader_goes_away(relay: RelayProcess, env: dict[str, str]) -> None:
    _trigger(relay, env, "user.created", 2)
    tail = subprocess.Popen(
        [sys.executable, "-m", "clerkrelay.cli", "tail", "--from-beginning"],  # follows for ever
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert tail.stdout is not None and tail.stderr is not None
        assert b"#1 " in tail.stdout.readline()
        tail.stdout.close()  # as `| head -1` does when it has its line
        assert tail.wait(timeout=20) == 0
        assert tail.stderr.read() == b""
    finally:
        tail.kill()
        tail.wait()
        if tail.stderr is not None:
            tail.stderr.close()
