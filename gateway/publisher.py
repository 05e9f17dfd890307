"""How the gateway hands a verified event to the store: in-process, or over gRPC.

The gateway never touches the database itself. When it runs in the same
process as the service it appends straight to the store (`StorePublisher`);
when it runs alone it calls the service's `IngestService.Publish`
(`GrpcPublisher`). Either way a publish returns only once the event is
durable, and every failure to reach the store is `StoreUnavailable`, which the
HTTP side answers with 503 so that Svix retries. An event the ingest service
refuses as invalid is `PublishRefused` instead (a 400): retrying it cannot help.
"""

from __future__ import annotations

from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clerkrelay.v1.event_pb2 import Event
from clerkrelay.v1.ingest_service_pb2 import PublishRequest
from clerkrelay.v1.ingest_service_pb2_grpc import IngestServiceStub
from service.storage import AppendResult, Store, StoreUnavailable

__all__ = ["GrpcPublisher", "PublishRefused", "Publisher", "StorePublisher"]


class PublishRefused(Exception):
    """The ingest service refused the event as invalid (INVALID_ARGUMENT): nothing was stored."""


class Publisher(Protocol):
    """Stores events durably on behalf of the gateway."""

    async def publish(self, event: Event) -> AppendResult:
        """Stores one event; returns once it is durable.

        Publishing an id that is already stored changes nothing and returns
        the original sequence with `duplicate` set.

        Raises:
            StoreUnavailable: The store cannot be reached; nothing may be assumed stored.
        """
        ...

    async def ready(self) -> None:
        """Returns when events can be published now.

        Raises:
            StoreUnavailable: They cannot; the message says why.
        """
        ...


class StorePublisher:
    """Publishes to a store in the same process.

    Args:
        store: The store; its lifetime belongs to the caller.
    """

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    async def publish(self, event: Event) -> AppendResult:
        """Appends the event to the store (see `Publisher.publish`)."""
        return await self._store.append(event)

    async def ready(self) -> None:
        """Pings the store (see `Publisher.ready`)."""
        await self._store.ping()


class GrpcPublisher:
    """Publishes through the service's `IngestService` over a gRPC channel.

    Args:
        channel: A channel to the gRPC service; its lifetime belongs to the caller.
        timeout_s: Deadline of each call.
        health_service: The service name asked of the gRPC health service
            ("" is the server as a whole).
        token: Bearer token sent with every publish, when the service requires one.
    """

    __slots__ = ("_check", "_health_request", "_metadata", "_publish", "_timeout_s")

    def __init__(
        self,
        channel: grpc.aio.Channel,
        timeout_s: float,
        health_service: str = "",
        token: str = "",
    ) -> None:
        self._publish = IngestServiceStub(channel).Publish
        self._check = health_pb2_grpc.HealthStub(channel).Check
        self._health_request = health_pb2.HealthCheckRequest(service=health_service)
        self._timeout_s = timeout_s
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None

    async def publish(self, event: Event) -> AppendResult:
        """Calls `IngestService.Publish` (see `Publisher.publish`).

        INVALID_ARGUMENT becomes `PublishRefused`; every other RPC failure
        (UNAVAILABLE, DEADLINE_EXCEEDED, a misconfigured token, ...) becomes
        `StoreUnavailable`: the event may not be acknowledged.
        """
        try:
            response = await self._publish(
                PublishRequest(event=event), timeout=self._timeout_s, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise PublishRefused(exc.details() or "invalid event") from exc
            raise StoreUnavailable(_describe(exc)) from exc
        return AppendResult(
            sequence=response.sequence, duplicate=response.duplicate, stale=response.stale
        )

    async def ready(self) -> None:
        """Asks the standard gRPC health service, and requires SERVING."""
        try:
            response = await self._check(self._health_request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise StoreUnavailable(_describe(exc)) from exc
        if response.status != health_pb2.HealthCheckResponse.SERVING:
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            raise StoreUnavailable(f"gRPC service is {status}")


def _describe(error: grpc.aio.AioRpcError) -> str:
    details = error.details()
    return f"gRPC {error.code().name}: {details}" if details else f"gRPC {error.code().name}"
