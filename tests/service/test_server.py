"""RelayServer: port 0, reflection, health, the shutdown order."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import service.server
from clerkrelay.v1.state_service_pb2 import ListUsersRequest
from clerkrelay.v1.state_service_pb2_grpc import StateServiceStub
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage import StoreUnavailable
from service.storage.sqlite import SqliteStore
from tests.disks import FULL, NO_PAGE_LIMIT, limit_pages
from tests.history import event
from tests.service.conftest import OpenChannel, StartServer, reflection_v1

CLERKRELAY_SERVICES = [
    "clerkrelay.v1.EventService",
    "clerkrelay.v1.IngestService",
    "clerkrelay.v1.ReconcileService",
    "clerkrelay.v1.StateService",
]
STANDARD_SERVICES = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
]


async def listed_services(channel: grpc.aio.Channel) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    responses = [r async for r in stub.ServerReflectionInfo(iter([request]), timeout=5)]
    return sorted(s.name for s in responses[0].list_services_response.service)


async def health_of(channel: grpc.aio.Channel, service_name: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service_name), timeout=5)
    status: int = response.status
    return status


async def test_port_zero_binds_a_free_port(start_server: StartServer) -> None:
    first, target_a = await start_server()
    second, target_b = await start_server()
    assert target_a != target_b
    assert first.port is not None and first.port > 0


async def test_busy_address_is_an_error(start_server: StartServer, store: SqliteStore) -> None:
    _, target = await start_server()
    clash = RelayServer(ServiceSettings(grpc_addr=target), store)
    with pytest.raises(OSError, match=f"cannot listen on {target}"):
        await clash.start()


async def test_reflection_lists_the_services(
    start_server: StartServer, open_channel: OpenChannel
) -> None:
    _, target = await start_server()
    channel = open_channel(target)
    assert await listed_services(channel) == CLERKRELAY_SERVICES + STANDARD_SERVICES


async def test_reflection_serves_the_descriptors(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(
        file_containing_symbol="clerkrelay.v1.StateService"
    )
    [response] = [r async for r in stub.ServerReflectionInfo(iter([request]), timeout=5)]
    assert response.WhichOneof("message_response") == "file_descriptor_response"
    assert response.file_descriptor_response.file_descriptor_proto


async def test_reflection_v1_answers_as_v1alpha_does(channel: grpc.aio.Channel) -> None:
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="clerkrelay.v1.EventService"),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="clerkrelay.v1.NoSuchThing"),
    ]
    v1 = [r async for r in reflection_v1(channel)(iter(requests), timeout=5)]
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    v1alpha = [r async for r in stub.ServerReflectionInfo(iter(requests), timeout=5)]
    assert v1 == v1alpha
    listed = sorted(s.name for s in v1[0].list_services_response.service)
    assert listed == CLERKRELAY_SERVICES + STANDARD_SERVICES
    names = [
        descriptor_pb2.FileDescriptorProto.FromString(raw).name
        for raw in v1[1].file_descriptor_response.file_descriptor_proto
    ]
    assert names[0] == "clerkrelay/v1/event_service.proto"
    assert v1[2].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


async def test_ingest_is_not_listed_when_not_exposed(
    start_server: StartServer, open_channel: OpenChannel
) -> None:
    _, target = await start_server(ServiceSettings(expose_ingest=False))
    assert await listed_services(open_channel(target)) == [
        "clerkrelay.v1.EventService",
        "clerkrelay.v1.ReconcileService",
        "clerkrelay.v1.StateService",
        *STANDARD_SERVICES,
    ]


async def test_health_serving_for_the_server_and_every_service(
    start_server: StartServer, open_channel: OpenChannel
) -> None:
    _, target = await start_server()
    channel = open_channel(target)
    for name in ["", *CLERKRELAY_SERVICES, *STANDARD_SERVICES]:
        assert await health_of(channel, name) == health_pb2.HealthCheckResponse.SERVING, name
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await health_of(channel, "clerkrelay.v1.Nothing")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_health_follows_whether_the_store_can_append(
    start_server: StartServer,
    open_channel: OpenChannel,
    store: SqliteStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failed append turns "" and IngestService NOT_SERVING until a probe write succeeds."""
    _, target = await start_server(health_interval_s=0.02)
    channel = open_channel(target)
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
    await store.append(event("user.created", "user_1"))

    await limit_pages(store, 1)
    with pytest.raises(StoreUnavailable, match=FULL):
        await store.append(event("user.created", "user_2", public_metadata={"n": "x" * 100_000}))
    with caplog.at_level(logging.WARNING, logger="service.server"):
        assert (await asyncio.wait_for(watch.read(), 5)).status == (
            health_pb2.HealthCheckResponse.NOT_SERVING
        )
    assert await health_of(channel, "clerkrelay.v1.IngestService") == (
        health_pb2.HealthCheckResponse.NOT_SERVING
    )
    assert await health_of(channel, "clerkrelay.v1.StateService") == (
        health_pb2.HealthCheckResponse.SERVING
    )
    assert [r.getMessage() for r in caplog.records if r.name == "service.server"] == [
        f"health is NOT_SERVING: the store cannot append: could not write to {store._path}: {FULL}"
    ]

    await limit_pages(store, NO_PAGE_LIMIT)  # space returns; no append needed to notice
    assert (await asyncio.wait_for(watch.read(), 5)).status == (
        health_pb2.HealthCheckResponse.SERVING
    )
    assert await health_of(channel, "clerkrelay.v1.IngestService") == (
        health_pb2.HealthCheckResponse.SERVING
    )
    watch.cancel()


async def test_stop_order_health_then_callbacks_then_server(
    start_server: StartServer, open_channel: OpenChannel
) -> None:
    """Health is NOT_SERVING while the callbacks run; RPCs still work until the server stops."""
    steps: list[str] = []
    release = asyncio.Event()
    in_callback = asyncio.Event()

    async def end_streams() -> None:
        steps.append("end streams")
        in_callback.set()
        await release.wait()

    async def broken() -> None:
        steps.append("broken")
        raise RuntimeError("a failing callback must not stop the shutdown")

    async def last() -> None:
        steps.append("last")

    server, target = await start_server(on_shutdown=[end_streams, broken, last])
    channel = open_channel(target)
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING

    stopping = asyncio.create_task(server.stop())
    await asyncio.wait_for(in_callback.wait(), 5)
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert await health_of(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
    assert await health_of(channel, "clerkrelay.v1.StateService") == (
        health_pb2.HealthCheckResponse.NOT_SERVING
    )
    await StateServiceStub(channel).ListUsers(ListUsersRequest(), timeout=5)  # still answering

    release.set()
    await asyncio.wait_for(stopping, 10)
    assert steps == ["end streams", "broken", "last"]
    watch.cancel()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await StateServiceStub(channel).ListUsers(ListUsersRequest(), timeout=2)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_stop_twice_and_before_start(start_server: StartServer, store: SqliteStore) -> None:
    calls: list[int] = []

    async def count() -> None:
        calls.append(1)

    server, _ = await start_server(on_shutdown=[count])
    await server.stop()
    await server.stop()
    assert calls == [1]
    await RelayServer(ServiceSettings(), store).stop()  # never started: nothing to do


async def test_start_twice_is_an_error(start_server: StartServer) -> None:
    server, _ = await start_server()
    with pytest.raises(RuntimeError, match="already"):
        await server.start()


def test_public_surface_is_pinned() -> None:
    assert sorted(service.server.__all__) == ["RelayServer", "RpcHandler", "ShutdownCallback"]
