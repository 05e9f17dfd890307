"""`clerk-relay event` and `clerk-relay history` against a live relay."""

from __future__ import annotations

import re

import orjson

from tests.cli.conftest import clerk_relay
from tests.processes import RelayProcess


def test_event_by_svix_id_and_by_sequence(relay: RelayProcess, env: dict[str, str]) -> None:
    triggered = clerk_relay(
        "trigger", "user.created", "--count", "2", "--url", relay.http_url, env=env
    )
    assert triggered.returncode == 0, triggered.stderr
    webhook_ids = re.findall(r"svix-id=(msg_\w+)", triggered.stdout)
    user_ids = re.findall(r"data\.id=(user_\w+)", triggered.stdout)
    assert len(webhook_ids) == len(user_ids) == 2

    by_id = clerk_relay("event", webhook_ids[1], env=env)
    assert by_id.returncode == 0, by_id.stderr
    document = orjson.loads(by_id.stdout)
    assert (document["id"], document["type"]) == (webhook_ids[1], "user.created")
    assert document["payload"]["id"] == user_ids[1]
    assert document["raw_body"]["data"]["id"] == user_ids[1]
    assert by_id.stdout.startswith('{\n  "sequence": ')  # indented for people

    by_sequence = clerk_relay("event", str(document["sequence"]), env=env)
    assert by_sequence.returncode == 0, by_sequence.stderr
    assert by_sequence.stdout == by_id.stdout
    shown = clerk_relay("show", webhook_ids[1], env=env)  # the same command's other name
    assert (shown.returncode, shown.stdout) == (0, by_id.stdout)


def test_event_not_in_the_log(relay: RelayProcess, env: dict[str, str]) -> None:
    missing = clerk_relay("event", "msg_never_sent", env=env)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == (
        "clerk-relay: no event with id 'msg_never_sent' in the log "
        "(never received, or trimmed by retention)\n"
    )
    zero = clerk_relay("event", "0", env=env)
    assert (zero.returncode, zero.stderr) == (2, "clerk-relay: a sequence is 1 or more\n")


def test_history_of_a_user(relay: RelayProcess, env: dict[str, str]) -> None:
    created = clerk_relay("trigger", "user.created", "--url", relay.http_url, env=env)
    assert created.returncode == 0, created.stderr
    (user_id,) = re.findall(r"data\.id=(user_\w+)", created.stdout)
    other = clerk_relay("trigger", "user.created", "--url", relay.http_url, env=env)
    assert other.returncode == 0, other.stderr

    history = clerk_relay("history", "user", user_id, env=env)
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert len(lines) == 1
    assert re.search(rf"#\d+\s+user\.created\s+{user_id}$", lines[0]), lines[0]
    assert re.fullmatch(rf"1 event about {user_id} as of sequence \d+\n", history.stderr)

    as_json = clerk_relay("history", "any", user_id, "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    (document,) = [orjson.loads(line) for line in as_json.stdout.splitlines()]
    assert (document["type"], document["payload"]["id"]) == ("user.created", user_id)

    nobody = clerk_relay("history", "users", "user_nobody", env=env)
    assert (nobody.returncode, nobody.stdout) == (0, "")
    assert re.fullmatch(r"0 events about user_nobody as of sequence \d+\n", nobody.stderr)
