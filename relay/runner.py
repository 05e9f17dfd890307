"""Runs clerk-relay's processes: `serve` (all in one), `gateway` and `grpc` (split).

Start-up: `serve` and `grpc` wait for a store that cannot be reached yet (a
PostgreSQL server still starting), retrying with exponential back-off
(`_OPEN_RETRY`) and logging each failed attempt with its reason; a store that
can never work (a bad URL, a corrupt file, a newer schema) still ends the
process at once. `gateway` needs nothing to start: its gRPC channel connects
lazily, and `/readyz` answers 503 until the gRPC service answers. SIGTERM or
SIGINT ends each of them cleanly at any point, retries included.

Metrics: `serve` exposes reconciliation's metrics with the gateway's on its
`/metrics`; `grpc` serves them at `--metrics-addr` when given one.

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
import socket
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass, replace
from typing import TextIO

import grpc
import uvicorn
from prometheus_client import CollectorRegistry, start_http_server

from clerkrelay import Backoff
from clerkrelay.cli.settings import GRPC_TARGET, HTTP_ADDR
from gateway.app import create_app
from gateway.http_limits import HttpLimits, fit_fd_limit, protocol_class
from gateway.publisher import GrpcPublisher, Publisher, StorePublisher
from gateway.settings import GatewaySettings
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage import Store, StoreUnavailable, open_consumer_state, open_store

__all__ = ["HttpSettings", "run_gateway", "run_grpc", "run_serve", "split_addr", "uvicorn_config"]

_log = logging.getLogger("clerk_relay")

_OPEN_RETRY = Backoff(initial_delay_s=0.1, max_delay_s=5.0)
"""How often to try opening a store that cannot be reached: 0.1 s doubling to 5 s
(each wait drawn from its upper half), for as long as it takes."""


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Where the HTTP side listens, its connection limits, and how the gateway reaches gRPC.

    Attributes:
        http_addr: The HTTP listen address, `host:port`.
        grpc_target: The separate gRPC service a `gateway` publishes to.
        grpc_token: Bearer token for that service.
        limits: Header size, read timeouts, keep-alive and connection cap
            (`gateway.http_limits.HttpLimits`, where the defaults are explained).
    """

    http_addr: str = HTTP_ADDR.default
    grpc_target: str = GRPC_TARGET.default
    grpc_token: str = ""
    limits: HttpLimits = HttpLimits()


def split_addr(addr: str) -> tuple[str, int]:
    """`host:port` → (host, port); IPv6 hosts may be bracketed.

    Raises:
        ValueError: The address has no port.
    """
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"not a host:port address: {addr!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class _HttpServer(uvicorn.Server):
    """uvicorn, minus its own signal handling (the runner owns the shutdown order).

    An address it cannot listen on is an `OSError` with one clear message, as
    for the gRPC side, instead of uvicorn's log line and `sys.exit` (which
    would end the event loop under the running gRPC server).
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Starts uvicorn's listener; a failure to listen raises OSError.

        Raises:
            OSError: The address cannot be listened on.
        """
        failures: list[OSError] = []

        def bind_failure(record: logging.LogRecord) -> bool:
            if isinstance(record.msg, OSError):  # how uvicorn logs it, just before sys.exit
                failures.append(record.msg)
                return False
            return True

        logger = logging.getLogger("uvicorn.error")
        logger.addFilter(bind_failure)
        try:
            await super().startup(sockets)
        except SystemExit:
            address = f"{self.config.host}:{self.config.port}"
            reason = f": {failures[0].strerror or failures[0]}" if failures else ""
            raise OSError(f"cannot listen on {address}{reason}") from None
        finally:
            logger.removeFilter(bind_failure)


def uvicorn_config(app: object, host: str, port: int, limits: HttpLimits) -> uvicorn.Config:
    """How the gateway serves HTTP (the bench's bare baseline is served the same way).

    httptools, through the subclass of uvicorn's protocol that enforces
    `limits` (uvicorn has no setting for the head's size or read timeouts).
    """
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        http=protocol_class(limits),
        timeout_keep_alive=limits.keep_alive_timeout_s,
        lifespan="off",
        # Nothing here reads the client's address, so X-Forwarded-* rewriting
        # would be a middleware call per request for nothing.
        proxy_headers=False,
        access_log=False,
        log_level="warning",
        # uvicorn's own loggers ("Invalid HTTP request received.") propagate to the
        # relay's handler and format instead of getting uvicorn's handlers.
        log_config=None,
        timeout_graceful_shutdown=15,
    )


def _http_server(app_settings: HttpSettings, app: object) -> _HttpServer:
    host, port = split_addr(app_settings.http_addr)
    fit_fd_limit(app_settings.limits.max_connections)
    return _HttpServer(uvicorn_config(app, host, port, app_settings.limits))


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


async def _start_http(server: _HttpServer) -> asyncio.Task[None]:
    task = asyncio.create_task(server.serve(), name="http")
    while not server.started:
        if task.done():
            await task  # raises the start-up error
            raise OSError("the HTTP server stopped during start-up")
        await asyncio.sleep(0.01)
    return task


async def _stop_http(server: _HttpServer, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task


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
    return server, asyncio.create_task(server.wait_for_termination(), name="grpc")


async def run_serve(
    gateway: GatewaySettings,
    service: ServiceSettings,
    http: HttpSettings,
    banner: Callable[[RelayServer], None],
) -> None:
    """Runs the gateway, the gRPC service and the store in this process until a signal."""
    with _stop_signals() as stop:
        async with _store_until_stopped(service, stop) as store:
            if store is None:
                return
            registry = CollectorRegistry()  # /metrics: the gateway's and reconciliation's
            server, grpc_task = await _start_grpc(
                replace(service, expose_ingest=False), store, registry
            )

            async def grpc_serving() -> None:
                if not server.is_serving:
                    raise StoreUnavailable("the gRPC service is not serving")

            app = create_app(
                gateway,
                StorePublisher(store),
                ready_checks={"the gRPC server is not ready": grpc_serving},
                registry=registry,
            )
            try:
                http_server = _http_server(http, app)
                http_task = await _start_http(http_server)
                banner(server)
                await _wait_for_stop(stop, http_task, grpc_task)
                _log.info("shutting down")
                await _stop_http(http_server, http_task)
            finally:
                await server.stop()  # also when the HTTP side could not start


async def run_grpc(
    service: ServiceSettings,
    banner: Callable[[RelayServer], None],
    *,
    metrics_addr: str | None = None,
) -> None:
    """Runs the gRPC service (with IngestService for gateways) until a signal.

    With `metrics_addr`, Prometheus metrics (reconciliation's and consumer groups') are served at
    `http://<metrics_addr>/metrics`, from a thread of prometheus_client's.

    Raises:
        OSError: The metrics address cannot be bound.
    """
    with _stop_signals() as stop:
        async with _store_until_stopped(service, stop) as store:
            if store is None:
                return
            registry = CollectorRegistry()
            metrics = None
            if metrics_addr is not None:
                host, port = split_addr(metrics_addr)
                metrics, _ = start_http_server(port, host, registry)
            try:
                server, grpc_task = await _start_grpc(
                    replace(service, expose_ingest=True), store, registry
                )
                banner(server)
                await _wait_for_stop(stop, grpc_task)
                _log.info("shutting down")
                await server.stop()
            finally:
                if metrics is not None:
                    await asyncio.to_thread(metrics.shutdown)
                    metrics.server_close()


async def run_gateway(
    gateway: GatewaySettings,
    http: HttpSettings,
    credentials: grpc.ChannelCredentials | None,
    banner: Callable[[], None],
) -> None:
    """Runs a gateway that publishes to a separate gRPC service, until a signal."""
    options = [("grpc.max_receive_message_length", 64 << 20)]
    channel = (
        grpc.aio.secure_channel(http.grpc_target, credentials, options=options)
        if credentials is not None
        else grpc.aio.insecure_channel(http.grpc_target, options=options)
    )
    try:
        publisher: Publisher = GrpcPublisher(
            channel, gateway.publish_timeout_s, token=http.grpc_token
        )
        http_server = _http_server(http, create_app(gateway, publisher))
        with _stop_signals() as stop:
            http_task = await _start_http(http_server)
            banner()
            await _wait_for_stop(stop, http_task)
            _log.info("shutting down")
            await _stop_http(http_server, http_task)
    finally:
        await channel.close(None)


def print_lines(lines: list[str], out: TextIO) -> None:
    """Prints a banner."""
    out.write("\n".join(lines) + "\n")
    out.flush()
