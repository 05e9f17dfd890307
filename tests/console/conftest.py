"""Console fixtures: a real SQLite store, a real gRPC server over it, and its ops app in process.

`console_client(tokens)` builds the operations app exactly as `serve` does
(`gateway.ops.create_ops_app` with `console.app.console_routes`) and returns
an httpx client that calls it directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import httpx
import pytest
from prometheus_client import CollectorRegistry

from console.app import console_routes
from gateway.ingest_history import IngestHistory
from gateway.ops import create_ops_app
from service.auth import Role
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage.sqlite import SqliteStore

ConsoleClient = Callable[..., Awaitable[httpx.AsyncClient]]
"""`console_client(tokens={}, ingest=None)` → a client of a console over the test's store."""

ADMIN = "admin-token-0123456789"
SUBSCRIBER = "subscriber-token-0123456789"
TOKENS: Mapping[str, Role] = {ADMIN: Role.ADMIN, SUBSCRIBER: Role.SUBSCRIBER}


@pytest.fixture
async def servers() -> AsyncIterator[list[RelayServer]]:
    """GRPC servers to stop after the test."""
    started: list[RelayServer] = []
    yield started
    for server in started:
        await server.stop()


@pytest.fixture
async def console_client(
    store: SqliteStore, servers: list[RelayServer]
) -> AsyncIterator[ConsoleClient]:
    clients: list[httpx.AsyncClient] = []

    async def make(
        tokens: Mapping[str, Role] | None = None, ingest: IngestHistory | None = None
    ) -> httpx.AsyncClient:
        settings = ServiceSettings(
            grpc_addr="127.0.0.1:0", shutdown_grace_s=1.0, tokens=dict(tokens or {})
        )
        registry = CollectorRegistry()
        server = RelayServer(settings, store, metrics_registry=registry)
        await server.start()
        servers.append(server)
        app = create_ops_app(
            registry,
            {"the store is not available": store.ping},
            timeout_s=5,
            routes=console_routes(store, server, settings, ingest),
        )
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://ops.test", follow_redirects=False
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
