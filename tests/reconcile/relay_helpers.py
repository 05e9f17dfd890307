"""Helpers of the tests of reconciliation in a running relay: servers, calls, waits."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest

from clerkrelay.v1.reconcile_service_pb2 import ReconcileRequest, ReconcileResponse
from clerkrelay.v1.reconcile_service_pb2_grpc import ReconcileServiceStub
from service.reconcile.clerk_api import RetryPolicy
from service.reconcile.settings import ReconcileSettings
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage import Store
from tests.reconcile.backend_double import SECRET_KEY

FAST_RETRY = RetryPolicy(attempts=4, base_s=0.01, cap_s=0.05, max_retry_after_s=5.0)
"""Backoffs of milliseconds (as the pass tests' `conftest.FAST_RETRY`), so failures are quick."""

StartRelay = Callable[..., Awaitable[tuple[RelayServer, grpc.aio.Channel]]]
"""`start(reconcile=…, tokens=…, schedule=False, **server_kwargs)` → (the started server, a
channel to it). Without `schedule`, the server runs no pass of its own (no start-up backfill)."""


def reconcile_settings(api_url: str, **overrides: Any) -> ReconcileSettings:
    """Settings for the double: its key, no budget, quick retries, no schedule."""
    values: dict[str, Any] = {
        "secret_key": SECRET_KEY,
        "api_url": api_url,
        "budget_share": None,
        "interval_s": 0.0,
        "retry": FAST_RETRY,
    }
    values.update(overrides)
    return ReconcileSettings(**values)


@pytest.fixture
async def start_relay(store: Store) -> AsyncIterator[StartRelay]:
    """Starts RelayServers on 127.0.0.1:0 over the test's SQLite store; stops them after."""
    started: list[tuple[RelayServer, grpc.aio.Channel]] = []

    async def start(
        reconcile: ReconcileSettings | None = None, *, schedule: bool = False, **kwargs: Any
    ) -> tuple[RelayServer, grpc.aio.Channel]:
        settings = ServiceSettings(grpc_addr="127.0.0.1:0", shutdown_grace_s=1.0)
        settings = dataclasses.replace(
            settings, reconcile=reconcile, tokens=kwargs.pop("tokens", {})
        )
        server = RelayServer(settings, store, **kwargs)
        if server.reconciliation is not None and not schedule:
            server.reconciliation.start_schedule = lambda: None  # type: ignore[method-assign]
        port = await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        started.append((server, channel))
        return server, channel

    yield start
    for server, channel in started:
        await channel.close(None)
        await server.stop()


async def reconcile(
    channel: grpc.aio.Channel,
    *kinds: str,
    token: str | None = None,
    allow_mass_delete: bool = False,
) -> list[ReconcileResponse]:
    """Every message of one Reconcile call."""
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    call = ReconcileServiceStub(channel).Reconcile(
        ReconcileRequest(kinds=kinds, allow_mass_delete=allow_mass_delete), metadata=metadata
    )
    return [response async for response in call]


async def status_of(call: Awaitable[object]) -> tuple[grpc.StatusCode, str]:
    """The status a call ends with, and its message."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


async def eventually(condition: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Waits until `condition()` holds (polled every 20 ms)."""
    async with asyncio.timeout(timeout_s):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.02)
