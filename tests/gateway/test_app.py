"""The app around the webhook route: health, readiness, metrics, logs, 503s at the seam.

A fake publisher appears here only where the test is about HTTP status codes
at our own seam (a publisher that fails or hangs); everything else runs on the
real SQLite store.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from starlette.types import Message

import gateway.app
import gateway.logfmt
import gateway.metrics
import gateway.publisher
import gateway.settings
import gateway.signature
import gateway.webhook
from clerkrelay.cli.samples import sample
from clerkrelay.v1.event_pb2 import Event
from gateway.app import GatewayApp, create_app
from gateway.convert import convert
from gateway.publisher import StorePublisher
from gateway.settings import GatewaySettings
from service.storage import AppendResult, StoreUnavailable
from service.storage.sqlite import SqliteStore
from tests.gateway.conftest import BASE_URL
from tests.gateway.signing import OTHER_SECRET, SECRET, body_of, signed_headers

PATH = "/webhooks/clerk"
USER_CREATED = body_of(sample("user.created"))


class FailingPublisher:
    """Fails (or never answers) at our own seam, and records whether it was asked."""

    def __init__(self, publish: Callable[[], Awaitable[AppendResult]]) -> None:
        self._publish = publish
        self.published: list[Event] = []

    async def publish(self, event: Event) -> AppendResult:
        self.published.append(event)
        return await self._publish()

    async def ready(self) -> None:
        await self._publish()


async def unavailable() -> AppendResult:
    raise StoreUnavailable("database is locked")


async def hang() -> AppendResult:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


def client_for(app: GatewayApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL)


def sample_value(text: str, name: str) -> float:
    """The value of one sample line (`name{labels} value`) of a Prometheus exposition."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name} not in the exposition"
    return float(match.group(1))


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


# -- health and readiness ------------------------------------------------------------


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_with_a_live_store(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_readyz_with_a_closed_store(client: httpx.AsyncClient, store: SqliteStore) -> None:
    await store.close()
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert set(response.json()) == {"error"}


async def test_readyz_runs_every_extra_check(store: SqliteStore) -> None:
    calls: list[str] = []

    async def passes() -> None:
        calls.append("passes")

    async def fails() -> None:
        calls.append("fails")
        raise StoreUnavailable("gRPC side is not serving")

    app = create_app(GatewaySettings(secrets=(SECRET,)), StorePublisher(store), [passes, fails])
    async with client_for(app) as client:
        response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (503, {"error": "gRPC side is not serving"})
    assert calls == ["passes", "fails"]


async def test_readyz_when_the_publisher_is_not_ready() -> None:
    app = create_app(GatewaySettings(secrets=(SECRET,)), FailingPublisher(unavailable))
    async with client_for(app) as client:
        response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (503, {"error": "database is locked"})


async def test_readyz_that_hangs_times_out() -> None:
    settings = GatewaySettings(secrets=(SECRET,), publish_timeout_s=0.05)
    app = create_app(settings, FailingPublisher(hang))
    async with client_for(app) as client:
        response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (
        503,
        {"error": "readiness check timed out after 0.05 s"},
    )


# -- metrics -------------------------------------------------------------------------


async def test_metrics_after_a_few_webhooks(client: httpx.AsyncClient) -> None:
    envelope = sample("user.created")
    envelope["data"]["favourite_colour"] = "teal"  # a field the contract does not type
    drifting = body_of(envelope)
    drift = len(convert(envelope, drifting, "msg_1").drift)
    assert drift >= 1
    await client.post(PATH, content=drifting, headers=signed_headers(drifting, webhook_id="msg_1"))
    await client.post(PATH, content=drifting, headers=signed_headers(drifting, webhook_id="msg_1"))
    await client.post(
        PATH, content=USER_CREATED, headers=signed_headers(USER_CREATED, webhook_id="msg_2")
    )
    await client.post(PATH, content=USER_CREATED, headers={})
    await client.post(PATH, content=b"{", headers=signed_headers(b"{"))

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    received = "clerk_relay_webhooks_received_total"
    assert sample_value(text, f'{received}{{outcome="accepted"}}') == 2
    assert sample_value(text, f'{received}{{outcome="duplicate"}}') == 1
    assert sample_value(text, f'{received}{{outcome="missing_headers"}}') == 1
    assert sample_value(text, f'{received}{{outcome="invalid_json"}}') == 1
    for outcome in gateway.metrics.Outcome:
        assert f'{received}{{outcome="{outcome}"}}' in text  # every outcome exists from the start
    assert sample_value(text, f'{received}{{outcome="bad_signature"}}') == 0
    assert sample_value(text, "clerk_relay_ingest_latency_seconds_count") == 3
    assert sample_value(text, 'clerk_relay_ingest_latency_seconds_bucket{le="+Inf"}') == 3
    drift_line = 'clerk_relay_conversion_drift_fields_total{event_type="user.created"}'
    assert sample_value(text, drift_line) == drift  # counted once, not for the duplicate
    assert sample_value(text, "clerk_relay_sequence") == 2


async def test_metrics_registries_are_per_app(store: SqliteStore) -> None:
    settings = GatewaySettings(secrets=(SECRET,))
    first = create_app(settings, StorePublisher(store))
    second = create_app(settings, StorePublisher(store))
    async with client_for(first) as client:
        await client.post(PATH, content=USER_CREATED, headers=signed_headers(USER_CREATED))
    async with client_for(second) as client:
        text = (await client.get("/metrics")).text
    assert sample_value(text, 'clerk_relay_webhooks_received_total{outcome="accepted"}') == 0


async def test_metrics_in_openmetrics_when_asked(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics", headers={"accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


# -- logs ----------------------------------------------------------------------------


async def test_one_logfmt_line_per_accepted_webhook(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="clerk_relay.gateway")
    await client.post(PATH, content=USER_CREATED, headers=signed_headers(USER_CREATED))
    [record] = [r for r in caplog.records if r.name == "clerk_relay.gateway"]
    assert record.levelno == logging.INFO
    assert re.fullmatch(
        r"webhook_id=msg_test_1 type=user\.created outcome=accepted status=200 "
        r"latency_ms=\d+\.\d{3} sequence=1",
        record.getMessage(),
    )


async def test_rejections_are_logged_without_body_or_secret(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="clerk_relay.gateway")
    headers = signed_headers(USER_CREATED, webhook_id='msg "x" y=1', secrets=(OTHER_SECRET,))
    await client.post(PATH, content=USER_CREATED, headers=headers)
    [record] = [r for r in caplog.records if r.name == "clerk_relay.gateway"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert re.fullmatch(
        r'webhook_id="msg \\"x\\" y=1" type="" outcome=bad_signature status=401 '
        r'latency_ms=\d+\.\d{3} reason="no matching signature"',
        message,
    )
    for secret in (SECRET, OTHER_SECRET):
        assert secret.removeprefix("whsec_") not in caplog.text
    assert sample("user.created")["data"]["id"] not in caplog.text


async def test_store_failure_is_logged_with_its_detail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="clerk_relay.gateway")
    app = create_app(GatewaySettings(secrets=(SECRET,)), FailingPublisher(unavailable))
    async with client_for(app) as client:
        await client.post(PATH, content=USER_CREATED, headers=signed_headers(USER_CREATED))
    [record] = [r for r in caplog.records if r.name == "clerk_relay.gateway"]
    assert record.levelno == logging.ERROR
    assert record.getMessage().endswith('reason="store unavailable" detail="database is locked"')


# -- routing -------------------------------------------------------------------------


async def test_unknown_path_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert (response.status_code, response.json()) == (404, {"error": "Not Found"})


async def test_get_on_the_webhook_route_is_a_json_405(client: httpx.AsyncClient) -> None:
    response = await client.get(PATH)
    assert (response.status_code, response.json()) == (405, {"error": "Method Not Allowed"})
    assert response.headers["allow"] == "POST"


# -- settings ------------------------------------------------------------------------


def test_settings_hide_secrets() -> None:
    settings = GatewaySettings(secrets=(SECRET,))
    assert SECRET not in repr(settings)
    assert settings.tolerance_s == 300
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.publish_timeout_s == 10.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secrets": ()},
        {"secrets": (SECRET,), "tolerance_s": -1},
        {"secrets": (SECRET,), "max_body_bytes": 0},
        {"secrets": (SECRET,), "publish_timeout_s": 0},
    ],
)
def test_settings_refuse_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        GatewaySettings(**kwargs)  # type: ignore[arg-type]


def test_invalid_secret_fails_app_creation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="secret #1"):
        create_app(GatewaySettings(secrets=("whsec_",)), FailingPublisher(unavailable))


# -- public surface ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (gateway.app, ["GatewayApp", "ReadyCheck", "create_app"]),
        (gateway.logfmt, ["logfmt_value"]),
        (gateway.metrics, ["GatewayMetrics", "Outcome"]),
        (gateway.publisher, ["GrpcPublisher", "PublishRefused", "Publisher", "StorePublisher"]),
        (gateway.settings, ["DEFAULT_MAX_BODY_BYTES", "GatewaySettings", "parse_secrets"]),
        (
            gateway.signature,
            [
                "BadSignature",
                "MissingHeaders",
                "SignatureError",
                "SignatureVerifier",
                "TimestampOutOfTolerance",
                "parse_secrets",
            ],
        ),
        (gateway.webhook, ["WebhookEndpoint", "json_response"]),
    ],
)
def test_public_surface_is_pinned(module: object, names: list[str]) -> None:
    assert sorted(module.__all__) == names  # type: ignore[attr-defined]


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
