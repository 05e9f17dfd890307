"""The console's routes, for the operations listener of `serve` and `grpc`.

| path | page |
|---|---|
| `/` | redirects to `/console/` |
| `/console/` | the event log, live; filters `type`, `entity`, `svix_id`, `since` |
| `/console/api/events?after=N&…` | newer log rows (HTML), `X-Last-Sequence` header |
| `/console/events/{sequence or svix-id}` | one event: typed view, raw JSON, drift |
| `/console/events/{sequence}/raw` | the raw body, byte for byte |
| `/console/entities/{kind}/{id}` | the mirror's state and every event about it |
| `/console/subscribers` | this process's open Subscribe streams, and the consumer groups |
| `/console/ingest` | webhooks per minute over the last hour, by outcome (`serve` only) |
| `/console/login`, `/console/logout` | trade an admin token for a session cookie, and back |

Every page needs the admin credential `console.access` checks (when
authentication is on); the script and style sheet do not (they hold no
data). The console only reads: it reads the store directly, through the same
lookups as the gRPC API (`service.lookups`), and the gRPC server's
subscriber table.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from console import views
from console.access import COOKIE_NAME, Access, Verdict
from console.assets import SCRIPT, STYLE
from console.reads import BadQuery, LogQuery, entity_view, event_detail, log_page, newer_rows
from gateway.ingest_history import IngestHistory
from service.errors import NotFound, ServiceError
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage import Store, StoreUnavailable

__all__ = ["SECURITY_HEADERS", "console_routes"]

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
"""Sent with every console response: no script or style but the console's own."""

_MAX_LOGIN_BODY = 4096

Handler = Callable[[Request], Awaitable[Response]]


def _html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(body, status, headers={**SECURITY_HEADERS, **(headers or {})})


def console_routes(
    store: Store,
    server: RelayServer,
    service: ServiceSettings,
    ingest: IngestHistory | None = None,
) -> list[BaseRoute]:
    """The console's routes over a store and the gRPC server that serves it.

    Args:
        store: Read for every page.
        server: Its `subscribers` fill the subscribers page.
        service: Its tokens decide who may see the console.
        ingest: The webhook listener's last hour, when this process has one (`serve`).
    """
    access = Access(service.tokens)

    def guarded(handler: Handler) -> Handler:
        async def checked(request: Request) -> Response:
            verdict = access.check(request)
            if verdict is Verdict.MISSING:
                return _html(
                    views.login_page("Log in with an admin token to see the console."),
                    401,
                    {"www-authenticate": 'Bearer realm="clerk-relay console"'},
                )
            if verdict is Verdict.FORBIDDEN:
                return _html(
                    views.error_page(
                        "Forbidden", "The console needs an admin token.", signed_in=False
                    ),
                    403,
                )
            try:
                return await handler(request)
            except BadQuery as error:
                return _page_error(400, "Bad request", str(error), access)
            except NotFound as error:
                return _page_error(404, "Not found", error.message, access)
            except ServiceError as error:
                return _page_error(400, "Bad request", error.message, access)
            except StoreUnavailable:
                return _page_error(503, "Unavailable", "The store is not available.", access)

        return checked

    signed_in = access.enabled

    async def log(request: Request) -> Response:
        query = LogQuery.parse(request.query_params)
        rows, head = await log_page(store, query)
        return _html(views.log_page(query, rows, head, signed_in=signed_in))

    async def newer(request: Request) -> Response:
        query = LogQuery.parse(request.query_params)
        after_text = request.query_params.get("after", "0")
        if not after_text.isdecimal():
            raise BadQuery("after must be a sequence")
        rows, last = await newer_rows(store, query, int(after_text))
        return _html(views.event_rows(rows, time.time_ns()), headers={"x-last-sequence": str(last)})

    async def event(request: Request) -> Response:
        detail = await event_detail(store, request.path_params["key"])
        return _html(views.event_page(detail, signed_in=signed_in))

    async def raw(request: Request) -> Response:
        detail = await event_detail(store, request.path_params["key"])
        return Response(
            detail.event.raw_body,
            media_type="application/json",
            headers={**SECURITY_HEADERS, "content-disposition": "inline"},
        )

    async def entity(request: Request) -> Response:
        view = await entity_view(
            store,
            request.path_params["kind"],
            request.path_params["entity_id"],
            request.query_params.get("page_token", ""),
        )
        return _html(views.entity_page(view, signed_in=signed_in))

    async def subscribers(request: Request) -> Response:
        engine = server.consumer_engine
        groups = None if engine is None else await engine.describe()
        return _html(views.subscribers_page(server.subscribers, groups, signed_in=signed_in))

    async def ingest_chart(request: Request) -> Response:
        minutes = ingest.minutes() if ingest is not None else None
        return _html(views.ingest_console_page(minutes, signed_in=signed_in))

    async def login_form(request: Request) -> Response:
        return _html(views.login_page())

    async def login(request: Request) -> Response:
        body = await request.body()
        if len(body) > _MAX_LOGIN_BODY:
            return _html(views.login_page("That is not a token."), 400)
        token = parse_qs(body.decode("utf-8", errors="replace")).get("token", [""])[0].strip()
        if not access.enabled:
            return RedirectResponse("/console/", 303, headers=SECURITY_HEADERS)
        verdict = access.check_token(token)
        if verdict is Verdict.MISSING:
            return _html(views.login_page("That token is not one of the relay's tokens."), 401)
        if verdict is Verdict.FORBIDDEN:
            return _html(views.login_page("That token is not an admin token."), 403)
        response = RedirectResponse("/console/", 303, headers=SECURITY_HEADERS)
        response.set_cookie(
            COOKIE_NAME,
            access.session_for(token),
            path="/console",
            httponly=True,
            samesite="strict",
        )
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/console/login", 303, headers=SECURITY_HEADERS)
        response.delete_cookie(COOKIE_NAME, path="/console", httponly=True, samesite="strict")
        return response

    async def root(request: Request) -> Response:
        return RedirectResponse("/console/", 307)

    async def script(request: Request) -> Response:
        return Response(SCRIPT, media_type="text/javascript", headers=SECURITY_HEADERS)

    async def style(request: Request) -> Response:
        return Response(STYLE, media_type="text/css", headers=SECURITY_HEADERS)

    return [
        Route("/", root, methods=["GET"]),
        Route("/console", root, methods=["GET"]),
        Route("/console/console.js", script, methods=["GET"]),
        Route("/console/console.css", style, methods=["GET"]),
        Route("/console/login", login_form, methods=["GET"]),
        Route("/console/login", login, methods=["POST"]),
        Route("/console/logout", logout, methods=["POST"]),
        Route("/console/", guarded(log), methods=["GET"]),
        Route("/console/api/events", guarded(newer), methods=["GET"]),
        Route("/console/events/{key}", guarded(event), methods=["GET"]),
        Route("/console/events/{key}/raw", guarded(raw), methods=["GET"]),
        Route("/console/entities/{kind}/{entity_id}", guarded(entity), methods=["GET"]),
        Route("/console/subscribers", guarded(subscribers), methods=["GET"]),
        Route("/console/ingest", guarded(ingest_chart), methods=["GET"]),
    ]


def _page_error(status: int, title: str, message: str, access: Access) -> Response:
    return _html(views.error_page(title, message, signed_in=access.enabled), status)
