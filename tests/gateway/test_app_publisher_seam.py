"""The app at the publisher seam: 503s, a logged JSON 500, nothing published for bad requests."""

from __future__ import annotations

import logging

import pytest
from starlette.types import Message

from gateway.app import create_app
from gateway.settings import GatewaySettings
from service.storage import AppendResult
from tests.gateway.app_client import PATH, USER_CREATED, client_for
from tests.gateway.failing_publisher import FailingPublisher, hang, unavailable
from tests.gateway.signing import OTHER_SECRET, SECRET, signed_headers

# -- 503 at the publisher seam -------------------------------------------------------


async def test_publisher_raising_store_unavailable_is_503() -> None:
    publisher = FailingPublisher(unavailable)
    app = create_app(GatewaySettings(secrets=(SECRET,)), publisher)
    async with client_for(app) as client:
        response = await client.post(
            PATH, content=USER_CREATED, headers=signed_headers(USER_CREATED)
        )
    assert (response.status_code, response.json()) == (503, {"error": "store unavailable"})
    assert len(publisher.published) == 1


async def test_publisher_timing_out_is_503() -> None:
    publisher = FailingPublisher(hang)
    app = create_app(GatewaySettings(secrets=(SECRET,), publish_timeout_s=0.05), publisher)
    async with client_for(app) as client:
        response = await client.post(
            PATH, content=USER_CREATED, headers=signed_headers(USER_CREATED)
        )
    assert (response.status_code, response.json()) == (503, {"error": "store unavailable"})


async def broken() -> AppendResult:
    raise RuntimeError("a bug in the publisher")


async def test_unexpected_publisher_error_is_a_logged_json_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    publisher = FailingPublisher(broken)
    app = create_app(GatewaySettings(secrets=(SECRET,)), publisher)
    headers = signed_headers(USER_CREATED)
    with caplog.at_level(logging.ERROR, logger="clerk_relay.gateway"):
        async with client_for(app) as client:
            response = await client.post(PATH, content=USER_CREATED, headers=headers)
    assert (response.status_code, response.json()) == (500, {"error": "internal server error"})
    assert len(publisher.published) == 1
    [record] = [r for r in caplog.records if r.name == "clerk_relay.gateway"]
    assert record.getMessage() == f"webhook_id={headers['svix-id']} outcome=internal_error"
    assert record.exc_info is not None and str(record.exc_info[1]) == "a bug in the publisher"


async def test_rejected_webhooks_never_reach_the_publisher() -> None:
    publisher = FailingPublisher(unavailable)
    app = create_app(GatewaySettings(secrets=(SECRET,), max_body_bytes=4096), publisher)
    bad = signed_headers(USER_CREATED, secrets=(OTHER_SECRET,))
    async with client_for(app) as client:
        for body, headers in [
            (USER_CREATED, bad),
            (USER_CREATED, {}),
            (b"[]", signed_headers(b"[]")),
            (b"{", signed_headers(b"{")),
            (b"{}", signed_headers(b"{}")),
            (b" " * 5000, signed_headers(b" " * 5000)),
        ]:
            response = await client.post(PATH, content=body, headers=headers)
            assert response.status_code in (400, 401, 413)
    assert publisher.published == []


# -- client disconnect ---------------------------------------------------------------


async def test_client_gone_before_the_body_arrived_publishes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="clerk_relay.gateway")
    publisher = FailingPublisher(unavailable)
    app = create_app(GatewaySettings(secrets=(SECRET,)), publisher)
    headers = signed_headers(USER_CREATED)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    messages: list[Message] = [
        {"type": "http.request", "body": USER_CREATED[:100], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert publisher.published == []
    assert sent[0]["status"] == 400
    [record] = [r for r in caplog.records if r.name == "clerk_relay.gateway"]
    assert record.getMessage() == "webhook_id=msg_test_1 outcome=client_disconnected"
