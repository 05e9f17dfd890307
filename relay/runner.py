"""Runs clerk-relay's processes: `serve` (all in one), `gateway` and `grpc` (split).

Start-up: `serve` and `grpc` wait for a store that cannot be reached yet (a
PostgreSQL server still starting), retrying with exponential back-off
(`_OPEN_RETRY`) and logging each failed attempt with its reason; a store that
can never work (a bad URL, a corrupt file, a newer schema) still ends the
process at once. `gateway` needs nothing to start: its gRPC channel connects
lazily, and `/readyz` answers 503 until the gRPC service answers. SIGTERM or
SIGINT ends each of them cleanly at any point, retries included.

Listeners: the public webhook listener (`--http-addr`: `POST /webhooks/clerk`
and a bare `/healthz`) in `serve` and `gateway`, and in every process the
operations listener (`--ops-addr`, `gateway.ops`): `/metrics` (the gateway's,
reconciliation's and the subscribers' metrics, whichever the process has),
`/healthz`, `/readyz`, and in `serve` and `grpc` the console (`console`).

Shutdown order on SIGTERM or SIGINT: the HTTP side stops taking webhooks and
finishes the ones in flight (each is answered only once durable), then the
gRPC side turns health NOT_SERVING and ends every stream after its last
buffered event, then the store finishes pending appends and closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import TextIO

import grpc
from prometheus_client import CollectorRegistry

from clerkrelay import Backoff
from clerkrelay.cli.settings import GRPC_TARGET, HTTP_ADDR
from console.app import console_routes
from gateway.app import create_app
from gateway.http_limits import HttpLimits
from gateway.ops import ReadyCheck, create_ops_app
from gateway.publisher import GrpcPublisher, Publisher, StorePublisher
from gateway.settings import GatewaySettings
from relay.listeners import (
    bound_addr,
    http_server,
    listening,
    split_addr,
    start_http,
    stop_http,
    uvicorn_config,
)
from service.scheduling import batch_grpc_poller
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage import Store, StoreUnavailable, open_consumer_state, open_store

__all__ = [
    "DEFAULT_OPS_ADDR",
    "HttpSettings",
    "run_gateway",
    "run_grpc",
    "run_serve",
    "split_addr",
    "uvicorn_config",
]

DEFAULT_OPS_ADDR = "127.0.0.1:8081"
"""Where `serve` and `gateway` put the operations listener unless told otherwise."""

DEFAULT_GRPC_OPS_ADDR = "127.0.0.1:8082"
"""Where `grpc` puts it: beside a gateway on the same host, they must differ."""

_GRPC_NOT_READY = "the gRPC server is not ready"
_STORE_NOT_READY = "the store is not available"

_log = logging.getLogger("clerk_relay")

_OPEN_RETRY = Backoff(initial_delay_s=0.1, max_delay_s=5.0)
"""How often to try opening a store that cannot be reached: 0.1 s doubling to 5 s
(each wait drawn from its upper half), for as long as it takes."""


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Where the HTTP side listens, its connection limits, and how the gateway reaches gRPC.

    Attributes:
        http_addr: The public webhook listener's address, `host:port`.
        ops_addr: The operations listener's address; the process kind's default when "".
        grpc_target: The separate gRPC service a `gateway` publishes to.
        grpc_token: Bearer token for that service.
        limits: Header size, read timeouts, keep-alive and connection cap
            (`gateway.http_limits.HttpLimits`, where the defaults are explained).
    """

    http_addr: str = HTTP_ADDR.default
    ops_addr: str = ""
    grpc_target: str = GRPC_TARGET.default
    grpc_token: str = ""
    limits: HttpLimits = HttpLimits()


@contextlib.contextmanager
def _stop_signals() -> Iterator[asyncio.Event]:
    """An event set on SIGTERM or SIGINT, for as long as the context lasts."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _wait_for_stop(stop: asyncio.Event, *tasks: asyncio.Task[object]) -> None:
    """Returns once `stop` is set (a signal), or when any of `tasks` ends (a server failed)."""
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


async def _open_store(service: ServiceSettings, stop: asyncio.Event) -> Store | None:
    """Opens the store, retrying while it cannot be reached; None if `stop` is set first.

    Raises:
        StoreError: The store can never be opened as configured (not worth retrying).
    """
    opening = asyncio.create_task(_open_retrying(service), name="open-store")
    await _wait_for_stop(stop, opening)
    if opening.done():
        return opening.result()
    opening.cancel()
    try:
        store = await opening
    except asyncio.CancelledError:
        return None
    await store.close()  # it opened just as the signal came
    return None


async def _open_retrying(service: ServiceSettings) -> Store:
    """`open_store`, retried with `_OPEN_RETRY` for as long as it raises StoreUnavailable."""
    failures = 0
    while True:
        try:
            store = await open_store(service.database_url, service.retention)
        except StoreUnavailable as error:
            delay = _OPEN_RETRY.delay(failures)
            failures += 1
            _log.warning("store not reachable, retrying in %.1f s: %s", delay, error)
            await asyncio.sleep(delay)
            continue
        if failures:
            _log.info("store opened after %d failed attempts", failures)
        return store


@contextlib.asynccontextmanager
async def _store_until_stopped(
    service: ServiceSettings, stop: asyncio.Event
) -> AsyncIterator[Store | None]:
    """The opened store, closed on exit; None when a signal came before it opened."""
    store = await _open_store(service, stop)
    if store is None:
        _log.info("stopped before the store could be opened")
        yield None
        return
    try:
        yield store
    finally:
        await store.close()


async def _start_grpc(
    settings: ServiceSettings, store: Store, registry: CollectorRegistry | None = None
) -> tuple[RelayServer, asyncio.Task[None]]:
    server = RelayServer(
        settings,
        store,
        metrics_registry=registry,
        consumers=open_consumer_state(settings.database_url),
    )
    await server.start()
    batch_grpc_poller()
    return server, asyncio.create_task(server.wait_for_termination(), name="grpc")


async def run_serve(
    gateway: GatewaySettings,
    service: ServiceSettings,
    http: HttpSettings,
    banner: Callable[[RelayServer, str], None],
) -> None:
    """Runs the gateway, the gRPC service and the store in this process until a signal.

    `banner` gets the gRPC server and the address the ops listener is bound to.
    """
    with _stop_signals() as stop:
        async with _store_until_stopped(service, stop) as store:
            if store is None:
                return
            registry = CollectorRegistry()  # the gateway's, reconciliation's, subscribers'
            service = replace(service, expose_ingest=False)
            server, grpc_task = await _start_grpc(service, store, registry)
            app = create_app(
                gateway,
                StorePublisher(store),
                ready_checks={_GRPC_NOT_READY: _serving(server)},
                registry=registry,
            )
            ops_app = app.ops_app(console_routes(store, server, service, app.history))
            try:
                web = http_server(http.http_addr, app, http.limits)
                ops = http_server(http.ops_addr or DEFAULT_OPS_ADDR, ops_app, HttpLimits())
                async with listening(web, ops) as (http_task, ops_task):
                    banner(server, bound_addr(ops))
                    await _wait_for_stop(stop, http_task, grpc_task, ops_task)
                    _log.info("shutting down")
            finally:
                await server.stop()  # also when the HTTP side could not start


async def run_grpc(
    service: ServiceSettings, http: HttpSettings, banner: Callable[[RelayServer, str], None]
) -> None:
    """Runs the gRPC service (with IngestService for gateways) until a signal.

    Its ops listener (`http.ops_addr`) serves the metrics (reconciliation's,
    consumer groups' and the subscribers'), readiness (the gRPC server serves
    and the store answers) and the console.

    Raises:
        OSError: The ops address cannot be bound.
    """
    with _stop_signals() as stop:
        async with _store_until_stopped(service, stop) as store:
            if store is None:
                return
            registry = CollectorRegistry()
            service = replace(service, expose_ingest=True)
            server, grpc_task = await _start_grpc(service, store, registry)
            try:
                ops_app = create_ops_app(
                    registry,
                    {_GRPC_NOT_READY: _serving(server), _STORE_NOT_READY: store.ping},
                    timeout_s=5.0,
                    routes=console_routes(store, server, service),
                )
                ops = http_server(http.ops_addr or DEFAULT_GRPC_OPS_ADDR, ops_app, HttpLimits())
                ops_task = await start_http(ops, "ops")
                banner(server, bound_addr(ops))
                await _wait_for_stop(stop, grpc_task, ops_task)
                _log.info("shutting down")
                await stop_http(ops, ops_task)
            finally:
                await server.stop()


def _serving(server: RelayServer) -> ReadyCheck:
    """A readiness check: the gRPC server is started and not stopping."""

    async def check() -> None:
        if not server.is_serving:
            raise StoreUnavailable("the gRPC service is not serving")

    return check


async def run_gateway(
    gateway: GatewaySettings,
    http: HttpSettings,
    credentials: grpc.ChannelCredentials | None,
    banner: Callable[[str], None],
) -> None:
    """Runs a gateway that publishes to a separate gRPC service, until a signal.

    `banner` gets the address the ops listener is bound to.
    """
    options = [("grpc.max_receive_message_length", 64 << 20)]
    channel = (
        grpc.aio.secure_channel(http.grpc_target, credentials, options=options)
        if credentials is not None
        else grpc.aio.insecure_channel(http.grpc_target, options=options)
    )
    batch_grpc_poller()
    try:
        publisher: Publisher = GrpcPublisher(
            channel, gateway.publish_timeout_s, token=http.grpc_token
        )
        app = create_app(gateway, publisher)
        web = http_server(http.http_addr, app, http.limits)
        ops = http_server(http.ops_addr or DEFAULT_OPS_ADDR, app.ops_app(), HttpLimits())
        with _stop_signals() as stop:
            async with listening(web, ops) as (http_task, ops_task):
                banner(bound_addr(ops))
                await _wait_for_stop(stop, http_task, ops_task)
                _log.info("shutting down")
    finally:
        await channel.close(None)


def print_lines(lines: list[str], out: TextIO) -> None:
    """Prints a banner."""
    out.write("\n".join(lines) + "\n")
    out.flush()
