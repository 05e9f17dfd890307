"""Consumer groups: three members acking at once drain a group over a stored log (SQLite).

The log is filled through the store API (`bench.fill`: Clerk's event types in turn);
`clerk-relay serve` opens it on the server CPU. A group is created from the
beginning, then three member processes (real Python clients, on the load
CPU) join it and ack every delivery as it arrives. The rate is the events ÷
the time from the group's creation (the members, already running, join it
within 10 ms) until its position reaches the head (read with
GetConsumerGroup every 50 ms).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import uvloop

from bench.context import Context
from bench.cpus import LOAD_CPU
from bench.figures import Row, Section, Target
from bench.fill import fill_sqlite
from bench.procs import CpuMeter, pin_process, started_relay, wait_idle
from bench.stats import Figure
from clerkrelay import RelayClient
from tests.processes import ROOT, SOURCE_PATH, relay_env

__all__ = ["MEMBER", "run"]

MEMBER = """
import asyncio, sys
from clerkrelay import NotFoundError, RelayClient

async def main(target, group):
    print("ready", flush=True)
    async with RelayClient(target) as client:
        while True:  # until the group exists
            try:
                async with client.consume(group, create=False) as stream:
                    async for msg in stream:
                        await msg.ack()
            except NotFoundError:
                await asyncio.sleep(0.01)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""
"""A member that waits for its group to exist, then acks every delivery at once."""

_MEMBERS = 3


def _members(target: str, group: str) -> list[subprocess.Popen[bytes]]:
    """Member processes on the load CPU, each started and waiting for the group."""
    members = []
    for _ in range(_MEMBERS):
        member = subprocess.Popen(
            [sys.executable, "-c", MEMBER, target, group],
            cwd=ROOT,
            env=relay_env(PYTHONPATH=SOURCE_PATH),
            stdout=subprocess.PIPE,
        )
        pin_process(member.pid, LOAD_CPU)
        members.append(member)
    for member in members:
        assert member.stdout is not None
        if member.stdout.readline() != b"ready\n":
            raise RuntimeError("a member did not start")
    return members


async def _drain(target: str, group: str, events: int, timeout_s: float) -> tuple[float, int]:
    """Creates the group the members wait for; the seconds until it is drained, redeliveries."""
    async with RelayClient(target) as client:
        started = time.monotonic()
        await client.create_consumer_group(group, after_sequence=0)
        while True:
            info = await client.consumer_group(group)
            if info.position >= events and info.in_flight_count == 0:
                return time.monotonic() - started, info.redelivered_count
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"group {group} not drained: {info}")
            await asyncio.sleep(0.05)


def run(ctx: Context) -> Section:
    """Measures how fast three members drain a group."""
    section = Section("consumers", "Consumer groups: three members acking at once (SQLite)")
    events = int(ctx.pick(20_000, 2_000))
    path = ctx.scratch("consumers") / "log.db"
    uvloop.run(fill_sqlite(path, events))
    rates: list[float] = []
    server_cpu: list[float] = []
    member_cpu: list[float] = []
    redeliveries = 0
    with started_relay(ctx.scratch("consumers-relay"), f"sqlite:///{Path(path)}") as relay:
        assert relay.process is not None
        for run_ in range(ctx.runs):
            wait_idle(relay.process.pid)
            meter = CpuMeter(relay.process.pid)
            meter.start()
            group = f"bench-{run_}"
            members = _members(relay.grpc_target, group)
            member_meters = [CpuMeter(member.pid) for member in members]
            for member_meter in member_meters:
                member_meter.start()
            try:
                seconds, again = uvloop.run(_drain(relay.grpc_target, group, events, 600))
                member_cpu.append(sum(member_meter.stop() for member_meter in member_meters))
            finally:
                for member in members:
                    member.kill()
                    member.wait(10)
            server_cpu.append(meter.stop())
            redeliveries += again
            rates.append(events / seconds)
            ctx.log(f"consumers run {run_ + 1}: {rates[-1]:,.0f} events/s")
    section.rows.append(
        Row(
            f"3 members acking at once, {events:,} stored events",
            "events/s",
            Figure.of(rates),
            target=Target("value", ">=", 20_000, "≥ 20,000/s"),
        )
    )
    section.notes.append(
        "method: a group created from the beginning of a log filled with every event type in turn; "
        "three member processes (the Python client, on the load CPU) ack each delivery as it "
        "arrives; the time runs from the group's creation until its position reaches the head"
    )
    section.notes.append(
        f"relay CPU {Figure.of(server_cpu).fmt(2)}, the three members' CPU together (on the "
        f"load CPU) {Figure.of(member_cpu).fmt(2)}, redeliveries {redeliveries} (expected 0)"
    )
    return section
