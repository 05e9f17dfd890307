"""Publishers: in-process to a real SQLite store, and over a real grpc.aio server on port 0."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clerkrelay.cli.samples import sample
from clerkrelay.v1 import ingest_service_pb2_grpc
from clerkrelay.v1.event_pb2 import Event
from clerkrelay.v1.ingest_service_pb2 import PublishRequest, PublishResponse
from gateway.app import create_app
from gateway.publisher import GrpcPublisher, PublishRefused, StorePublisher
from gateway.settings import GatewaySettings
from service.storage import AppendResult, StoreUnavailable
from service.storage.sqlite import SqliteStore
from tests.gateway.app_client import client_for, ops_client_for
from tests.gateway.signing import SECRET, body_of, signed_headers


def an_event(webhook_id: str = "msg_1") -> Event:
    body = body_of(sample("user.created"))
    return Event(id=webhook_id, type="user.created", raw_body=body)


# -- in process ----------------------------------------------------------------------


async def test_store_publisher_appends_and_dedups(store: SqliteStore) -> None:
    publisher = StorePublisher(store)
    await publisher.ready()
    assert await publisher.publish(an_event()) == AppendResult(1, duplicate=False, stale=False)
    assert await publisher.publish(an_event()) == AppendResult(1, duplicate=True, stale=False)
    assert await publisher.publish(an_event("msg_2")) == AppendResult(2, False, False)
    assert await store.head() == 2


async def test_store_publisher_on_a_closed_store_is_unavailable(store: SqliteStore) -> None:
    await store.close()
    with pytest.raises(StoreUnavailable):
        await StorePublisher(store).publish(an_event())


# -- over gRPC -----------------------------------------------------------------------


class IngestServicer(ingest_service_pb2_grpc.IngestServiceServicer):
    """A minimal IngestService over the real store (the service's own lives in service/)."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.delay_s = 0.0
        self.fail_with: grpc.StatusCode | None = None

    async def Publish(
        self,
        request: PublishRequest,
        context: grpc.aio.ServicerContext[PublishRequest, PublishResponse],
    ) -> PublishResponse:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_with is not None:
            await context.abort(self.fail_with, "injected failure")
        try:
            result = await self.store.append(request.event)
        except StoreUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return PublishResponse(
            sequence=result.sequence, duplicate=result.duplicate, stale=result.stale
        )


@dataclass
class Service:
    server: grpc.aio.Server
    ingest: IngestServicer
    health: health_aio.HealthServicer
    channel: grpc.aio.Channel


@pytest.fixture
async def service(store: SqliteStore) -> AsyncIterator[Service]:
    server = grpc.aio.server()
    ingest = IngestServicer(store)
    health = health_aio.HealthServicer()
    ingest_service_pb2_grpc.add_IngestServiceServicer_to_server(ingest, server)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Service(server, ingest, health, channel)
    finally:
        await channel.close(None)
        await server.stop(None)


async def test_grpc_publisher_publishes_durably(service: Service, store: SqliteStore) -> None:
    publisher = GrpcPublisher(service.channel, timeout_s=5)
    assert await publisher.publish(an_event()) == AppendResult(1, False, False)
    assert await publisher.publish(an_event()) == AppendResult(1, True, False)
    [row] = (await store.read(0, 10)).events
    assert row.event().raw_body == an_event().raw_body


async def test_grpc_publisher_ready_requires_serving(service: Service) -> None:
    publisher = GrpcPublisher(service.channel, timeout_s=5)
    await publisher.ready()
    await service.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    with pytest.raises(StoreUnavailable, match="^gRPC service is NOT_SERVING$"):
        await publisher.ready()


async def test_grpc_publisher_ready_for_an_unknown_service_name(service: Service) -> None:
    publisher = GrpcPublisher(service.channel, timeout_s=5, health_service="no.such.Service")
    with pytest.raises(StoreUnavailable, match="^gRPC NOT_FOUND"):
        await publisher.ready()


async def test_grpc_publisher_maps_unavailable(service: Service, store: SqliteStore) -> None:
    await store.close()
    publisher = GrpcPublisher(service.channel, timeout_s=5)
    with pytest.raises(StoreUnavailable, match="^gRPC UNAVAILABLE: the store is shutting down$"):
        await publisher.publish(an_event())


async def test_grpc_publisher_maps_deadline_exceeded(service: Service, store: SqliteStore) -> None:
    service.ingest.delay_s = 5.0
    publisher = GrpcPublisher(service.channel, timeout_s=0.2)
    with pytest.raises(StoreUnavailable, match="^gRPC DEADLINE_EXCEEDED"):
        await publisher.publish(an_event())


async def test_grpc_publisher_maps_any_other_status(service: Service, store: SqliteStore) -> None:
    service.ingest.fail_with = grpc.StatusCode.PERMISSION_DENIED  # a misconfigured token
    publisher = GrpcPublisher(service.channel, timeout_s=5)
    with pytest.raises(StoreUnavailable, match="^gRPC PERMISSION_DENIED: injected failure$"):
        await publisher.publish(an_event())
    assert await store.head() == 0


async def test_grpc_publisher_maps_invalid_argument_to_refused(
    service: Service, store: SqliteStore
) -> None:
    service.ingest.fail_with = grpc.StatusCode.INVALID_ARGUMENT
    publisher = GrpcPublisher(service.channel, timeout_s=5)
    with pytest.raises(PublishRefused, match="^injected failure$"):
        await publisher.publish(an_event())
    assert await store.head() == 0


async def test_gateway_answers_400_when_ingest_refuses(
    service: Service, store: SqliteStore
) -> None:
    """Svix must not retry for a day what the ingest service will always refuse."""
    service.ingest.fail_with = grpc.StatusCode.INVALID_ARGUMENT
    app = create_app(GatewaySettings(secrets=(SECRET,)), GrpcPublisher(service.channel, 5))
    body = body_of(sample("user.created"))
    async with client_for(app) as client:
        response = await client.post("/webhooks/clerk", content=body, headers=signed_headers(body))
    assert (response.status_code, response.json()) == (
        400,
        {"error": "refused by the ingest service"},
    )
    assert await store.head() == 0


async def test_grpc_publisher_without_a_server(service: Service) -> None:
    await service.server.stop(None)
    publisher = GrpcPublisher(service.channel, timeout_s=2)
    with pytest.raises(StoreUnavailable, match="^gRPC UNAVAILABLE"):
        await publisher.publish(an_event())
    with pytest.raises(StoreUnavailable, match="^gRPC UNAVAILABLE"):
        await publisher.ready()


async def test_gateway_over_grpc_end_to_end(service: Service, store: SqliteStore) -> None:
    publisher = GrpcPublisher(service.channel, timeout_s=5)
    app = create_app(GatewaySettings(secrets=(SECRET,)), publisher)
    body = body_of(sample("organization.created"))
    async with client_for(app) as client, ops_client_for(app) as ops:
        ready = await ops.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        response = await client.post("/webhooks/clerk", content=body, headers=signed_headers(body))
        assert (response.status_code, response.json()) == (200, {"sequence": 1})
        await service.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        ready = await ops.get("/readyz")
        assert (ready.status_code, ready.json()) == (503, {"error": "the store is not available"})
    [row] = (await store.read(0, 10)).events
    assert row.event().raw_body == body
    assert row.type == "organization.created"
