"""The app's JSON 404/405, its settings' checks, and the pinned public surface."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import gateway.app
import gateway.logfmt
import gateway.metrics
import gateway.publisher
import gateway.settings
import gateway.signature
import gateway.webhook
from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.gateway.app_client import PATH
from tests.gateway.failing_publisher import FailingPublisher, unavailable
from tests.gateway.signing import SECRET

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
        (gateway.app, ["GatewayApp", "PUBLISHER_NOT_READY", "ReadyCheck", "create_app"]),
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
