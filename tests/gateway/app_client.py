"""An HTTP client for any gateway app, in process, and the webhook route with a sample body."""

from __future__ import annotations

import httpx

from clerkrelay.cli.samples import sample
from gateway.app import GatewayApp
from tests.gateway.signing import body_of

BASE_URL = "http://relay.test"
PATH = "/webhooks/clerk"
USER_CREATED = body_of(sample("user.created"))


def client_for(app: GatewayApp) -> httpx.AsyncClient:
    """A client that calls `app` (the webhook listener) directly (no socket), at `BASE_URL`."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL)


def ops_client_for(app: GatewayApp) -> httpx.AsyncClient:
    """A client of `app`'s operations listener (`/readyz`, `/metrics`), in process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app.ops_app()), base_url=BASE_URL)
