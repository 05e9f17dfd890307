"""Gateway fixtures: a real SQLite store in `tmp_path`, the app in front of it, an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import GatewayApp, create_app
from gateway.publisher import StorePublisher
from gateway.settings import GatewaySettings
from service.storage.sqlite import SqliteStore
from tests.gateway.app_client import client_for, ops_client_for
from tests.gateway.signing import SECRET


@pytest.fixture
def settings() -> GatewaySettings:
    return GatewaySettings(secrets=(SECRET,))


@pytest.fixture
def app(settings: GatewaySettings, store: SqliteStore) -> GatewayApp:
    return create_app(settings, StorePublisher(store))


@pytest.fixture
async def client(app: GatewayApp) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c


@pytest.fixture
async def ops(app: GatewayApp) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app's operations listener."""
    async with ops_client_for(app) as c:
        yield c
