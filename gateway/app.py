"""The gateway's Starlette application: the public webhook listener.

`create_app` builds everything a request needs once (the signature verifier,
the metrics, the webhook handler) and wires the routes of the public listener:

- `POST /webhooks/clerk`: see `gateway.webhook`.
- `GET /healthz`: the process is alive (unauthenticated, tells nothing).

Readiness and metrics are not on it: they belong to the operations listener
(`gateway.ops`), built by `GatewayApp.ops_app` with this app's registry and
readiness checks (the publisher can reach the store, and every extra check),
and the last hour's ingest chart at `/` (`gateway.ingest_chart`).

`POST /webhooks/clerk`, the one route under load, goes straight to its endpoint
(`GatewayApp`); Starlette serves everything else, including that path's 405
for other methods. The app owns no resources: the publisher, and whatever it
talks to, belong to the caller, which opens and closes them around the
server's lifetime.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from gateway.ingest_chart import ingest_page
from gateway.ingest_history import IngestHistory
from gateway.metrics import GatewayMetrics
from gateway.ops import ReadyCheck, create_ops_app
from gateway.publisher import Publisher
from gateway.settings import GatewaySettings
from gateway.signature import SignatureVerifier
from gateway.webhook import WebhookEndpoint, json_response

__all__ = ["PUBLISHER_NOT_READY", "GatewayApp", "ReadyCheck", "create_app"]

WEBHOOK_PATH = "/webhooks/clerk"

_CHART_HEADERS = {
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}
"""The chart page loads nothing: no script, no style sheet, no image."""

PUBLISHER_NOT_READY = "the store is not available"
"""`/readyz`'s 503 when the publisher cannot reach the store (directly or over gRPC)."""


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
        ready_checks: Further conditions the ops listener's `/readyz` requires
            (e.g. the gRPC side is serving), each run after `publisher.ready()`,
            keyed by what its 503 says when it fails (`"the gRPC server is not ready"`).
        now: The clock used for the signature timestamp check.
        registry: The metrics registry the ops listener's `/metrics` exposes
            (shared with the gRPC side in `serve`); a new one when None.

    Returns:
        The ASGI application.
    """
    metrics = GatewayMetrics(registry)
    verifier = SignatureVerifier(settings.secrets, settings.tolerance_s, now)
    webhook = WebhookEndpoint(settings, verifier, publisher, metrics)
    checks = {PUBLISHER_NOT_READY: publisher.ready, **(ready_checks or {})}

    async def healthz(request: Request) -> Response:
        return json_response(200, {"status": "ok"})

    app = Starlette(
        routes=[
            Route(WEBHOOK_PATH, webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )
    return GatewayApp(
        webhook, app, metrics.registry, checks, settings.publish_timeout_s, metrics.history
    )


class GatewayApp:
    """The gateway's ASGI application: `POST /webhooks/clerk` first, Starlette for the rest.

    The webhook endpoint answers every request itself, a JSON 500 included,
    so the route under load skips Starlette's routing and middleware.
    """

    __slots__ = ("_app", "_webhook", "history", "ready_checks", "ready_timeout_s", "registry")

    def __init__(
        self,
        webhook: WebhookEndpoint,
        app: Starlette,
        registry: CollectorRegistry,
        ready_checks: Mapping[str, ReadyCheck],
        ready_timeout_s: float,
        history: IngestHistory,
    ) -> None:
        self._webhook = webhook
        self.history = history
        self._app = app
        self.registry = registry
        self.ready_checks = ready_checks
        self.ready_timeout_s = ready_timeout_s

    def ops_app(self, routes: Sequence[BaseRoute] = ()) -> Starlette:
        """The operations listener's app: this gateway's readiness and metrics, plus `routes`.

        `/` is the last hour's ingest chart unless `routes` has a `/` of its
        own (the console's, in `serve`, which shows the chart at `/console/ingest`).
        """
        history = self.history

        async def ingest(request: Request) -> Response:
            return HTMLResponse(ingest_page(history.minutes()), headers=_CHART_HEADERS)

        return create_ops_app(
            self.registry,
            self.ready_checks,
            timeout_s=self.ready_timeout_s,
            routes=[*routes, Route("/", ingest, methods=["GET"])],
        )

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
