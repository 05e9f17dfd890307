"""Chaos for a PER_ENTITY consumer group: members SIGKILLed and restarted, the relay SIGKILLed too.

Three member processes (`tests.chaos.consumer_member`) share a PER_ENTITY
group on a `clerk-relay grpc` over SQLite while events about many users are
published. At random, a member is SIGKILLed and a new one started; once, the
relay is SIGKILLed and restarted on the same port. Then:

- the group's position reaches the head with nothing in flight or parked:
  every event was acked at least once, and the members' logs hold an `ack`
  of each;
- no event of a user was started while an earlier event of that user had no
  `ack` yet (a member's deliveries end when it is killed), and no two
  deliveries of one user overlapped;
- the redeliveries (from kills and the restart) are counted and reported.

`quick` scale (the default): 600 events over 60 users; `full` (`make
chaos`): 5,000 over 500 users, with more kills.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from clerkrelay import RelayClient
from clerkrelay.v1.consumer_service_pb2 import (
    ConsumerGroup,
    ConsumerGroupOrdering,
    ConsumerGroupSettings,
)
from clerkrelay.v1.ingest_service_pb2 import PublishRequest
from clerkrelay.v1.ingest_service_pb2_grpc import IngestServiceStub
from tests.chaos.scale import chaos_scale
from tests.history import event
from tests.processes import (
    ROOT,
    SOURCE_PATH,
    RelayProcess,
    free_port,
    grpc_service,
    relay_env,
    running,
)

if TYPE_CHECKING:
    from clerkrelay.v1.ingest_service_pb2_grpc import IngestServiceAsyncStub

SCALE = chaos_scale()
EVENTS, USERS, MEMBER_KILLS = (5000, 500, 12) if SCALE.name == "full" else (600, 60, 3)

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(SCALE.timeout_s + 60)]


class Members:
    """The member processes: started, SIGKILLed (the time noted before the signal), replaced."""

    def __init__(self, target: str, log: Path, seed: int) -> None:
        self._target, self._log, self._seed = target, log, seed
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.killed_at: dict[str, int] = {}
        self._count = 0

    def start(self) -> None:
        self._count += 1
        name = f"member-{self._count}"
        self.running[name] = subprocess.Popen(
            [sys.executable, "-m", "tests.chaos.consumer_member", self._target, "chaos",
             str(self._log), name, str(self._seed + self._count)],
            cwd=ROOT, env=relay_env(PYTHONPATH=SOURCE_PATH),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def kill(self, name: str) -> None:
        process = self.running.pop(name)
        self.killed_at[name] = time.monotonic_ns()
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.kill(name)


async def _publish(target: str, rng: random.Random) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub: IngestServiceAsyncStub = IngestServiceStub(channel)
        for start in range(0, EVENTS, 50):
            requests = [
                PublishRequest(event=event("user.updated", f"user_{i % USERS}"))
                for i in range(start, min(EVENTS, start + 50))
            ]
            await asyncio.gather(*(_publish_one(stub, request) for request in requests))
            await asyncio.sleep(rng.random() * 0.05)


async def _publish_one(stub: IngestServiceAsyncStub, request: PublishRequest) -> None:
    """Publishes until the relay answers.

    The relay's SIGKILL may cut a call; the event's webhook id makes a second
    publish of it a duplicate, stored once.
    """
    while True:
        try:
            await stub.Publish(request, wait_for_ready=True, timeout=30)
            return
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise


def _verify(log: Path, killed_at: dict[str, int]) -> list[str]:
    """The rule violations the members' log shows."""
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    lines = [x for x in lines if x["t"] < killed_at.get(x["m"], 1 << 62)]  # the dead wrote nothing
    lines.sort(key=lambda x: x["t"])
    problems = []
    acked_by_user: dict[str, set[int]] = defaultdict(set)
    holding: dict[str, tuple[str, int]] = {}  # user → (member, sequence) started, not acked
    sequences_of_user: dict[str, set[int]] = defaultdict(set)
    for x in lines:
        sequences_of_user[x["u"]].add(x["s"])
    for x in lines:
        user, member, sequence = x["u"], x["m"], x["s"]
        holder = holding.get(user)
        if holder is not None and holder[0] in killed_at and killed_at[holder[0]] <= x["t"]:
            holder = None  # its member died: the server released it
        if x["p"] == "start":
            if holder is not None:
                problems.append(f"{user}: {member} started {sequence} while {holder} held it")
            earlier = {s for s in sequences_of_user[user] if s < sequence}
            missing = earlier - acked_by_user[user]
            if missing:
                problems.append(f"{user}: {sequence} started before {sorted(missing)} were acked")
            holding[user] = (member, sequence)
        else:
            acked_by_user[user].add(sequence)
            if holder == (member, sequence):
                del holding[user]
    acked = set().union(*acked_by_user.values()) if acked_by_user else set()
    if acked != set(range(1, EVENTS + 1)):
        problems.append(f"{EVENTS - len(acked)} events never acked in the members' log")
    return problems


async def _run(
    relay: RelayProcess, members: Members, target: str, rng: random.Random
) -> ConsumerGroup:
    """Runs the scenario; the group once every event is acked."""
    settings = ConsumerGroupSettings(
        after_sequence=0,
        ack_wait=Duration(seconds=5),
        max_deliveries=1000,
        max_in_flight=20,
        ordering=ConsumerGroupOrdering.CONSUMER_GROUP_ORDERING_PER_ENTITY,
    )
    async with RelayClient(target) as client:
        await client.create_consumer_group("chaos", settings)
    for _ in range(3):
        members.start()
    publishing = asyncio.create_task(_publish(target, rng))
    kills = sorted(rng.uniform(0.5, 6.0) for _ in range(MEMBER_KILLS))
    relay_kill = rng.uniform(1.0, 5.0)
    started = time.monotonic()
    restarted = False
    for at in kills:
        await asyncio.sleep(max(0.0, at - (time.monotonic() - started)))
        if not restarted and time.monotonic() - started >= relay_kill:
            relay.kill()
            relay.start()
            restarted = True
        members.kill(rng.choice(sorted(members.running)))
        members.start()
    if not restarted:
        relay.kill()
        relay.start()
    await publishing
    deadline = time.monotonic() + SCALE.timeout_s
    async with RelayClient(target) as client:
        while True:
            group = await client.consumer_group("chaos")
            if group.position == EVENTS and group.in_flight_count == 0:
                return group
            assert time.monotonic() < deadline, f"stuck at {group}"
            await asyncio.sleep(0.2)


async def test_per_entity_group_survives_member_and_relay_kills(
    tmp_path: Path, seed: int, record_property: Callable[[str, object], None]
) -> None:
    rng = random.Random(seed)
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    port = free_port()
    relay = grpc_service(tmp_path, url, grpc_port=port)
    log = tmp_path / "members.jsonl"
    relay_target = f"127.0.0.1:{port}"
    members = Members(relay_target, log, seed)
    with running(relay):
        try:
            group = await _run(relay, members, relay_target, rng)
        finally:
            members.stop_all()
    assert group.parked_count == 0
    problems = _verify(log, members.killed_at)
    record_property("consumer_redeliveries", group.redelivered_count)
    print(
        f"consumer-group chaos ({SCALE.name}, seed {seed}): {EVENTS} events over {USERS} users, "
        f"{MEMBER_KILLS} member kills, 1 relay kill; {group.delivered_count} deliveries, "
        f"{group.redelivered_count} redeliveries"
    )
    assert problems == [], f"seed {seed}:\n" + "\n".join(problems[:20])


def test_the_check_finds_overlaps_order_breaks_and_missing_acks(tmp_path: Path) -> None:
    log = tmp_path / "members.jsonl"
    rows = [
        ("a", "start", 1, "u1", 10), ("b", "start", 2, "u1", 11),  # overlap, and 2 before 1's ack
        ("a", "ack", 1, "u1", 12), ("b", "ack", 2, "u1", 13),
        ("c", "start", 3, "u2", 20),  # c is killed at 21: its delivery ends there
        ("d", "start", 3, "u2", 22), ("d", "ack", 3, "u2", 23),
    ]  # fmt: skip
    log.write_text(
        "".join(
            json.dumps({"m": m, "p": p, "s": s, "u": u, "a": 1, "t": t}) + "\n"
            for m, p, s, u, t in rows
        )
    )
    problems = _verify(log, {"c": 21})
    assert problems[:2] == [
        "u1: b started 2 while ('a', 1) held it",
        "u1: 2 started before [1] were acked",
    ]
    assert problems[2] == f"{EVENTS - 3} events never acked in the members' log"
    assert len(problems) == 3
