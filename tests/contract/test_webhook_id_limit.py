"""The webhook id limit, through the gateway, in front of each store backend."""

from __future__ import annotations

import httpx

from clerkrelay.cli.samples import sample
from clerkrelay.limits import MAX_WEBHOOK_ID_BYTES
from gateway.app import create_app
from gateway.publisher import StorePublisher
from gateway.settings import GatewaySettings
from service.storage import Store
from tests.gateway.signing import SECRET, body_of, signed_headers

BODY = body_of(sample("user.created"))


async def _post(store: Store, webhook_id: str) -> tuple[int, object]:
    app = create_app(GatewaySettings(secrets=(SECRET,)), StorePublisher(store))
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://relay.test") as client:
        response = await client.post(
            "/webhooks/clerk", content=BODY, headers=signed_headers(BODY, webhook_id=webhook_id)
        )
    return response.status_code, response.json()


async def test_webhook_id_over_the_limit_is_a_400_and_stores_nothing(store: Store) -> None:
    too_long = "msg_" + "x" * (MAX_WEBHOOK_ID_BYTES - 3)
    assert await _post(store, too_long) == (400, {"error": "webhook id over 256 bytes"})
    # Far past PostgreSQL's btree limit (~2,700 bytes): still a 400, never a 503.
    assert await _post(store, "msg_" + "y" * 5000) == (400, {"error": "webhook id over 256 bytes"})
    assert await store.head() == 0


async def test_webhook_id_at_the_limit_is_stored(store: Store) -> None:
    at_limit = "msg_" + "x" * (MAX_WEBHOOK_ID_BYTES - 4)
    status, answer = await _post(store, at_limit)
    assert (status, answer) == (200, {"sequence": 1})
    [row] = (await store.read(0, 10)).events
    assert row.event().id == at_limit
