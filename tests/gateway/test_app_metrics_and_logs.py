"""The app's Prometheus metrics and its one logfmt line per webhook."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

import gateway.app
import gateway.logfmt
import gateway.metrics
import gateway.publisher
import gateway.settings
import gateway.signature
import gateway.webhook
from clerkrelay.cli.samples import sample
from gateway.app import create_app
from gateway.convert import convert
from gateway.publisher import StorePublisher
from gateway.settings import GatewaySettings
from service.storage.sqlite import SqliteStore
from tests.gateway.app_client import PATH, USER_CREATED, client_for, ops_client_for
from tests.gateway.failing_publisher import FailingPublisher, unavailable
from tests.gateway.signing import OTHER_SECRET, SECRET, body_of, signed_headers


def sample_value(text: str, name: str) -> float:
    """The value of one sample line (`name{labels} value`) of a Prometheus exposition."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name} not in the exposition"
    return float(match.group(1))


# -- metrics -------------------------------------------------------------------------


async def test_metrics_after_a_few_webhooks(
    client: httpx.AsyncClient, ops: httpx.AsyncClient
) -> None:
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

    response = await ops.get("/metrics")
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
    async with ops_client_for(second) as client:
        text = (await client.get("/metrics")).text
    assert sample_value(text, 'clerk_relay_webhooks_received_total{outcome="accepted"}') == 0


async def test_metrics_in_openmetrics_when_asked(ops: httpx.AsyncClient) -> None:
    response = await ops.get("/metrics", headers={"accept": "application/openmetrics-text"})
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
