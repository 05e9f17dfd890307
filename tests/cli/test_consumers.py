"""`clerk-relay consumers …` against a live `clerk-relay serve`."""

from __future__ import annotations

import asyncio
import json

from clerkrelay import RelayClient
from clerkrelay.cli.consumers import rate_lines
from clerkrelay.v1.consumer_service_pb2 import ConsumerGroup
from tests.cli.conftest import clerk_relay
from tests.processes import RelayProcess
from tests.service.consumers.members import until


def _trigger(relay: RelayProcess, env: dict[str, str], count: int) -> None:
    result = clerk_relay(
        "trigger", "user.created", "--count", str(count), "--concurrency", "1",
        "--url", relay.http_url, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result


async def _term_first(target: str, group: str, reason: str) -> int:
    """Joins the group, terms its first delivery; returns its sequence."""
    async with RelayClient(target) as client, client.consume(group, create=False) as stream:
        async with asyncio.timeout(10):
            msg = await anext(stream)
        await msg.term(reason)
        await until(lambda: client.parked_events(group), bool)
        return msg.event.sequence


def test_info_rates_come_from_two_readings() -> None:
    before = ConsumerGroup(acked_count=10, delivered_count=12, redelivered_count=1)
    after = ConsumerGroup(acked_count=40, delivered_count=50, redelivered_count=6)
    assert rate_lines(before, after, 2.0) == [
        "ack rate: 15.0/s over 2.0 s",
        "delivery rate: 19.0/s (2.5/s redeliveries)",
    ]


def test_consumers_commands(relay: RelayProcess, env: dict[str, str]) -> None:
    _trigger(relay, env, 3)
    created = clerk_relay(
        "consumers", "create", "emails", "--event-types", "user.created", "--from-beginning",
        "--ordering", "per_entity", "--ack-wait", "5", env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "ordering: per_entity" in created.stdout
    assert "ack wait: 5 s" in created.stdout
    assert "position: 0 of 3 (lag 3)" in created.stdout

    again = clerk_relay("consumers", "create", "emails", env=env)
    assert again.returncode == 1
    assert again.stderr == "clerk-relay: consumer group 'emails' already exists\n"

    bad = clerk_relay("consumers", "create", "Bad Name", env=env)
    assert bad.returncode == 2
    assert "invalid consumer group name" in bad.stderr

    listed = clerk_relay("consumers", "list", env=env)
    assert listed.stdout == ("emails: position 0 of 3 (lag 3), 0 in flight, 0 parked, 0 acked\n")

    sequence = asyncio.run(_term_first(relay.grpc_target, "emails", "bounced"))
    parked = clerk_relay("consumers", "parked", "emails", env=env)
    (line,) = parked.stdout.splitlines()
    record = json.loads(line)
    assert (record["sequence"], record["type"], record["attempts"], record["reason"]) == (
        sequence, "user.created", 1, "bounced",
    )  # fmt: skip

    info = clerk_relay("consumers", "info", "emails", "--rate-window", "0.2", env=env)
    assert "parked: 1" in info.stdout
    rates = info.stdout.splitlines()[-2:]
    assert rates[0].startswith("ack rate: 0.0/s over ")  # nothing acked meanwhile
    assert rates[1] == "delivery rate: 0.0/s (0.0/s redeliveries)"
    replayed = clerk_relay("consumers", "replay-parked", "emails", "--sequences", "999", env=env)
    assert replayed.stdout == "replayed 0 parked events\n"
    discarded = clerk_relay("consumers", "discard-parked", "emails", env=env)
    assert discarded.stdout == "discarded 1 parked events\n"

    deleted = clerk_relay("consumers", "delete", "emails", env=env)
    assert deleted.stdout == "deleted emails\n"
    missing = clerk_relay("consumers", "info", "emails", env=env)
    assert (missing.returncode, missing.stderr) == (
        1, "clerk-relay: consumer group 'emails' does not exist\n",
    )  # fmt: skip
    assert clerk_relay("consumers", "list", env=env).stdout == ""
