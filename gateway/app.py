"""The gateway's Starlette application: the webhook route, health, readiness and metrics.

`create_app` builds everything a request needs once (the signature verifier,
the metrics, the webhook handler) and wires the routes:

- `POST /webhooks/clerk`: see `gateway.webhook`.
- `GET /healthz`: the process is alive.
- `GET /readyz`: the publisher (and every extra check) can reach the store now.
  A 503 names what is not ready in general terms ("the store is not
  available"); the reason itself, which may hold internal addresses or
  paths, goes to the log only.
- `GET /metrics`: Prometheus exposition of this app's own registry.

`POST /webhooks/clerk`, the one route under load, goes straight to its endpoint
(`GatewayApp`); Starlette serves everything else, including that path's 405
for other methods. The app owns no resources: the publisher, and whatever it
talks to, belong to the caller, which opens and closes them around the
server's lifetime.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from gateway.metrics import GatewayMetrics
from gateway.publisher import Publisher
from gateway.settings import GatewaySettings
from gateway.signature import SignatureVerifier
from gateway.webhook import WebhookEndpoint, json_response

__all__ = ["PUBLISHER_NOT_READY", "GatewayApp", "ReadyCheck", "create_app"]

ReadyCheck = Callable[[], Awaitable[None]]
"""An extra readiness condition: returns when ready, raises (with a reason) when not."""

WEBHOOK_PATH = "/webhooks/clerk"

PUBLISHER_NOT_READY = "the store is not available"
"""`/readyz`'s 503 when the publisher cannot reach the store (directly or over gRPC)."""

_log = logging.getLogger("clerk_relay.gateway")


def create_app(
    settings: GatewaySettings,
    publisher: Publisher,
    ready_checks: Mapping[str, ReadyCheck] | None = None,
    *,
    now: Callable[[], float] = time.time,
    registry: CollectorRegistry | None = None,
) -> GatewayApp:
    """Builds the gateway application.

    Args:
        settings: Secrets, tolerance, body limit and publish timeout.
        publisher: Where verified events are stored.
        ready_checks: Further conditions `/readyz` requires (e.g. the gRPC
            side is serving), each run after `publisher.ready()`, keyed by what
            its 503 says when it fails (`"the gRPC server is not ready"`).
        now: The clock used for the signature timestamp check.
        registry: The metrics registry `/metrics` exposes (shared with the gRPC
            side in `serve`, for reconciliation's metrics); a new one when None.

    Returns:
        The ASGI application.
    """
    metrics = GatewayMetrics(registry)
    verifier = SignatureVerifier(settings.secrets, settings.tolerance_s, now)
    webhook = WebhookEndpoint(settings, verifier, publisher, metrics)
    checks = {PUBLISHER_NOT_READY: publisher.ready, **(ready_checks or {})}
    timeout_s = settings.publish_timeout_s

    async def healthz(request: Request) -> Response:
        return json_response(200, {"status": "ok"})

    async def readyz(request: Request) -> Response:
        shown = ""
        try:
            async with asyncio.timeout(timeout_s):
                for said, check in checks.items():
                    shown = said
                    await check()
        except TimeoutError:
            shown = reason = f"readiness check timed out after {timeout_s:g} s"
        except Exception as exc:  # any failing check means "not ready"; its reason is logged
            reason = str(exc) or type(exc).__name__
        else:
            return json_response(200, {"status": "ready"})
        _log.warning("readiness check failed: %s", reason)
        return json_response(503, {"error": shown})

    async def metrics_endpoint(request: Request) -> Response:
        body, content_type = metrics.exposition(request.headers.get("accept", ""))
        return Response(body, media_type=content_type)

    app = Starlette(
        routes=[
            Route(WEBHOOK_PATH, webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )
    return GatewayApp(webhook, app)


class GatewayApp:
    """The gateway's ASGI application: `POST /webhooks/clerk` first, Starlette for the rest.

    The webhook endpoint answers every request itself, a JSON 500 included,
    so the route under load skips Starlette's routing and middleware.
    """

    __slots__ = ("_app", "_webhook")

    def __init__(self, webhook: WebhookEndpoint, app: Starlette) -> None:
        self._webhook = webhook
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serves one ASGI connection."""
        if scope["type"] == "http" and scope["path"] == WEBHOOK_PATH and scope["method"] == "POST":
            await self._webhook(scope, receive, send)
        else:
            await self._app(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (404, 405) as JSON, like every other error."""
    assert isinstance(exc, HTTPException)
    response = json_response(exc.status_code, {"error": exc.detail})
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _internal_error(request: Request, exc: Exception) -> Response:
    """An unexpected failure: a JSON 500 without details (the server logs the traceback)."""
    return json_response(500, {"error": "internal server error"})
