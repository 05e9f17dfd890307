"""The operations listener's application: liveness, readiness, metrics, and extra routes.

Every process kind (`serve`, `gateway`, `grpc`) serves this on `--ops-addr`
(loopback by default), apart from the public webhook listener:

- `GET /healthz`: the process is alive.
- `GET /readyz`: every readiness check passes now. A 503 names what is not
  ready in general terms ("the store is not available"); the reason itself,
  which may hold internal addresses or paths, goes to the log only.
- `GET /metrics`: Prometheus exposition of the process's registry.
- whatever `routes` adds (the console, in the processes that hold the store).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = ["ReadyCheck", "create_ops_app"]

ReadyCheck = Callable[[], Awaitable[None]]
"""A readiness condition: returns when ready, raises (with a reason) when not."""

_log = logging.getLogger("clerk_relay.ops")


def create_ops_app(
    registry: CollectorRegistry,
    ready_checks: Mapping[str, ReadyCheck],
    *,
    timeout_s: float,
    routes: Sequence[BaseRoute] = (),
    middleware: Sequence[Middleware] = (),
) -> Starlette:
    """Builds the operations application.

    Args:
        registry: The metrics `/metrics` exposes.
        ready_checks: The conditions `/readyz` requires, run in order, keyed by
            what its 503 says when one fails (`"the store is not available"`).
        timeout_s: How long `/readyz` waits for all of them together.
        routes: Further routes (the console).
        middleware: Middleware around every route.
    """

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        shown = ""
        try:
            async with asyncio.timeout(timeout_s):
                for said, check in ready_checks.items():
                    shown = said
                    await check()
        except TimeoutError:
            shown = reason = f"readiness check timed out after {timeout_s:g} s"
        except Exception as exc:  # any failing check means "not ready"; its reason is logged
            reason = str(exc) or type(exc).__name__
        else:
            return JSONResponse({"status": "ready"})
        _log.warning("readiness check failed: %s", reason)
        return JSONResponse({"error": shown}, status_code=503)

    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), media_type=content_type)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            *routes,
        ],
        middleware=list(middleware),
        exception_handlers={HTTPException: _http_error},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (404, 405) as JSON."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
