"""Consumer groups across real relay processes: a SIGKILLed relay, and two `grpc` on PostgreSQL.

- A group's position and in-flight set survive a SIGKILL of `clerk-relay
  grpc` on SQLite: after the restart, the acked events are never delivered again and
  the unsettled ones are, once their ack_wait has passed.
- Two `clerk-relay grpc` processes on one PostgreSQL schema share one group:
  members connected to either get every event exactly once between them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from clerkrelay.v1.consumer_service_pb2 import (
    ConsumerGroup,
    ConsumerGroupSettings,
    CreateConsumerGroupRequest,
    GetConsumerGroupRequest,
)
from clerkrelay.v1.consumer_service_pb2_grpc import ConsumerServiceStub
from clerkrelay.v1.ingest_service_pb2 import PublishRequest
from clerkrelay.v1.ingest_service_pb2_grpc import IngestServiceStub
from tests.contract.conftest import drop_schema, postgres_schema_url, require_postgres
from tests.history import event
from tests.processes import grpc_service, running
from tests.service.consumers.members import TestMember, until


async def _publish(target: str, count: int, prefix: str) -> list[int]:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = IngestServiceStub(channel)
        sequences = []
        for i in range(count):
            answer = await stub.Publish(
                PublishRequest(event=event("user.created", f"user_{prefix}_{i}"))
            )
            sequences.append(answer.sequence)
        return sequences


async def _group(target: str, name: str) -> ConsumerGroup:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = ConsumerServiceStub(channel)
        return (await stub.GetConsumerGroup(GetConsumerGroupRequest(name=name))).group


async def _create(target: str, name: str, ack_wait_s: int) -> None:
    settings = ConsumerGroupSettings(after_sequence=0, ack_wait=Duration(seconds=ack_wait_s))
    async with grpc.aio.insecure_channel(target) as channel:
        stub = ConsumerServiceStub(channel)
        await stub.CreateConsumerGroup(CreateConsumerGroupRequest(name=name, settings=settings))


async def test_position_and_in_flight_survive_a_sigkill(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    first = grpc_service(tmp_path, url)
    with running(first):
        sequences = await _publish(first.grpc_target, 10, "a")
        await _create(first.grpc_target, "g", ack_wait_s=2)
        async with grpc.aio.insecure_channel(first.grpc_target) as channel:
            member = TestMember(channel, "g")
            await member.start()
            deliveries = [await member.next() for _ in range(10)]
            member.ack(*deliveries[:5])
            await until(lambda: _group(first.grpc_target, "g"), lambda g: g.acked_count == 5)
            first.kill()
            await member.close()
    second = grpc_service(tmp_path, url)
    with running(second):
        info = await _group(second.grpc_target, "g")
        assert (info.position, info.in_flight_count, info.acked_count) == (5, 5, 5)
        async with grpc.aio.insecure_channel(second.grpc_target) as channel:
            member = TestMember(channel, "g")
            await member.start()
            again = [await member.next(15) for _ in range(5)]
            assert sorted((d.event.sequence, d.attempt) for d in again) == [
                (s, 2) for s in sequences[5:]
            ]
            member.ack(*again)
            info = await until(
                lambda: _group(second.grpc_target, "g"), lambda g: g.acked_count == 10
            )
            assert (info.position, info.in_flight_count, info.redelivered_count) == (10, 0, 5)
            assert await member.nothing_for(0.5)
            await member.close()


@pytest.mark.postgres
async def test_two_grpc_processes_on_postgres_share_one_group(tmp_path: Path) -> None:
    require_postgres()
    schema, url = postgres_schema_url()
    try:
        a, b = grpc_service(tmp_path, url), grpc_service(tmp_path, url)
        with running(a, b):
            await _create(a.grpc_target, "shared", ack_wait_s=60)
            channels = [grpc.aio.insecure_channel(p.grpc_target) for p in (a, b, a, b)]
            members = [TestMember(c, "shared", name=f"m{i}") for i, c in enumerate(channels)]
            for member in members:
                await member.start()
            got: dict[int, list[int]] = {}

            async def consume(index: int, member: TestMember) -> None:
                while True:
                    delivery = await member.next(60)
                    got.setdefault(delivery.event.sequence, []).append(index)
                    member.ack(delivery)

            tasks = [asyncio.create_task(consume(i, m)) for i, m in enumerate(members)]
            sequences = await _publish(a.grpc_target, 50, "a") + await _publish(
                b.grpc_target, 50, "b"
            )
            info = await until(
                lambda: _group(b.grpc_target, "shared"), lambda g: g.acked_count == 100, 60
            )
            await asyncio.sleep(0.5)  # a duplicate would show up now
            for task in tasks:
                task.cancel()
            assert sorted(got) == sorted(sequences)
            assert all(len(takers) == 1 for takers in got.values())
            by_process = {index % 2 for takers in got.values() for index in takers}
            assert by_process == {0, 1}  # both processes' members had a share
            assert (info.position, info.in_flight_count, info.redelivered_count) == (100, 0, 0)
            for member in members:
                await member.close()
            for channel in channels:
                await channel.close(None)
    finally:
        drop_schema(schema)
