"""The app's health and readiness endpoints, over the real store and at the seam."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import httpx

from gateway.app import PUBLISHER_NOT_READY, create_app
from gateway.publisher import StorePublisher
from gateway.settings import GatewaySettings
from service.storage import StoreUnavailable
from service.storage.sqlite import SqliteStore
from tests.gateway.app_client import ops_client_for
from tests.gateway.failing_publisher import FailingPublisher, hang, unavailable
from tests.gateway.signing import SECRET

# -- health and readiness ------------------------------------------------------------


@contextlib.contextmanager
def capture_logs() -> Iterator[list[str]]:
    """The messages `clerk_relay.ops` logs within the block."""
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("clerk_relay.ops")
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


async def test_healthz(client: httpx.AsyncClient, ops: httpx.AsyncClient) -> None:
    for listener in (client, ops):
        response = await listener.get("/healthz")
        assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_the_webhook_listener_has_no_readiness_nor_metrics(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/readyz", "/metrics", "/console/", "/"):
        response = await client.get(path)
        assert (response.status_code, response.json()) == (404, {"error": "Not Found"}), path


async def test_readyz_with_a_live_store(ops: httpx.AsyncClient) -> None:
    response = await ops.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_readyz_with_a_closed_store(ops: httpx.AsyncClient, store: SqliteStore) -> None:
    await store.close()
    response = await ops.get("/readyz")
    assert response.status_code == 503
    assert set(response.json()) == {"error"}


async def test_readyz_runs_every_extra_check(store: SqliteStore) -> None:
    calls: list[str] = []

    async def passes() -> None:
        calls.append("passes")

    async def fails() -> None:
        calls.append("fails")
        raise StoreUnavailable("gRPC side is not serving")

    app = create_app(
        GatewaySettings(secrets=(SECRET,)),
        StorePublisher(store),
        {"passes": passes, "the gRPC server is not ready": fails},
    )
    with capture_logs() as logged:
        async with ops_client_for(app) as client:
            response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (
        503,
        {"error": "the gRPC server is not ready"},
    )
    assert calls == ["passes", "fails"]
    assert logged == ["readiness check failed: gRPC side is not serving"]


async def test_readyz_when_the_publisher_is_not_ready() -> None:
    app = create_app(GatewaySettings(secrets=(SECRET,)), FailingPublisher(unavailable))
    with capture_logs() as logged:
        async with ops_client_for(app) as client:
            response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (503, {"error": PUBLISHER_NOT_READY})
    assert PUBLISHER_NOT_READY == "the store is not available"
    assert logged == ["readiness check failed: database is locked"]


async def test_readyz_that_hangs_times_out() -> None:
    settings = GatewaySettings(secrets=(SECRET,), publish_timeout_s=0.05)
    app = create_app(settings, FailingPublisher(hang))
    async with ops_client_for(app) as client:
        response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (
        503,
        {"error": "readiness check timed out after 0.05 s"},
    )
