"""The subscribers page lists the store's consumer groups: settings, position, lag, in flight."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from clerkrelay.v1.consumer_service_pb2 import ConsumerGroupOrdering, ConsumerGroupSettings
from console.app import console_routes
from gateway.ops import create_ops_app
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage import open_consumer_state
from service.storage.sqlite import SqliteStore
from tests.history import event


@pytest.fixture
async def console(
    store: SqliteStore, tmp_path: Path
) -> AsyncIterator[tuple[RelayServer, httpx.AsyncClient]]:
    """A console over a gRPC server that serves the store's consumer groups."""
    settings = ServiceSettings(grpc_addr="127.0.0.1:0", shutdown_grace_s=1.0)
    registry = CollectorRegistry()
    server = RelayServer(
        settings,
        store,
        metrics_registry=registry,
        consumers=open_consumer_state(f"sqlite:///{tmp_path / 'relay.db'}"),
    )
    await server.start()
    app = create_ops_app(registry, {}, timeout_s=5, routes=console_routes(store, server, settings))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://ops.test")
    try:
        yield server, client
    finally:
        await client.aclose()
        await server.stop()


async def test_groups_are_listed_with_their_figures(
    store: SqliteStore, console: tuple[RelayServer, httpx.AsyncClient]
) -> None:
    server, client = console
    without = (await client.get("/console/subscribers")).text
    assert "<h2>Consumer groups</h2><p>0 groups;" in without

    engine = server.consumer_engine
    assert engine is not None
    await engine.create(
        "welcome-emails",
        ConsumerGroupSettings(
            event_types=["user.created"],
            after_sequence=0,
            ordering=ConsumerGroupOrdering.CONSUMER_GROUP_ORDERING_PER_ENTITY,
        ),
    )
    for number in range(3):
        await store.append(event("user.created", f"user_{number}"))
    await store.append(event("session.created", "sess_1"))

    page = (await client.get("/console/subscribers")).text
    assert "<p>1 group; members are those connected to this process.</p>" in page
    row = page.split('<tr data-group="welcome-emails">', 1)[1].split("</tr>", 1)[0]
    assert '<td class="filter">user.created</td>' in row
    assert "<td>per_entity</td>" in row
    assert '<td class="position">0</td>' in row
    assert '<td class="lag">4</td>' in row
    assert '<td class="in-flight">0</td>' in row
    assert '<td class="parked">0</td>' in row
    assert '<td class="members">none here</td>' in row


async def test_a_server_without_consumer_groups_shows_no_table(
    store: SqliteStore,
) -> None:
    settings = ServiceSettings(grpc_addr="127.0.0.1:0", shutdown_grace_s=1.0)
    server = RelayServer(settings, store)
    await server.start()
    try:
        app = create_ops_app(
            CollectorRegistry(), {}, timeout_s=5, routes=console_routes(store, server, settings)
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://ops.test"
        ) as client:
            page = (await client.get("/console/subscribers")).text
    finally:
        await server.stop()
    assert "Consumer groups" not in page
    assert "0 streams open in this process." in page
