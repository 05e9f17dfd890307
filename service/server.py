"""`RelayServer`: the grpc.aio server with every servicer, health, reflection and access control.

Interceptors run in this order: bearer tokens (when configured), then the
mapping of domain errors to statuses. Every servicer is built here, from the
settings and the store, and registered the way the generated code does it:
`EventService` (`service.event_servicer`, over a `Broadcaster` of the store's
commits), `StateService`, `IngestService` (when `settings.expose_ingest`),
`ReconcileService` (admins only), the standard health service and server
reflection, plus any extra handlers passed in (tests use them for probe
services).

Reconciliation: with a secret key (`settings.reconcile`), the server owns the
process's `Reconciliation` (one pass at a time, shared by the schedule and the
RPC) and starts its schedule once it serves, in the background: a pass never
delays readiness. Its metrics go to `metrics_registry`.

Health follows the store: every `health_interval_s` the server pings it
(`Store.ping`, which fails while appends fail, e.g. on a full disk) and turns
the server as a whole ("") and `IngestService` NOT_SERVING while it fails,
SERVING again once it answers. A gateway's readiness asks the server as a
whole, so it stops taking webhooks it could not store. `StateService` and
`EventService` stay SERVING: their reads may still work.

Shutdown follows the project's order: health reports NOT_SERVING for every
service (load balancers stop sending new calls), the broadcaster closes so
every open stream ends cleanly (with OK after its last buffered event), a
pass under way is cancelled, the `on_shutdown` callbacks run, then
`server.stop(grace)` lets in-flight calls finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from prometheus_client import CollectorRegistry

from clerkrelay.v1 import (
    ingest_service_pb2_grpc,
    reconcile_service_pb2_grpc,
    state_service_pb2_grpc,
)
from service import consumers, event_servicer
from service.auth import AuthInterceptor, server_credentials
from service.broadcaster import Broadcaster
from service.consumers import ConsumerEngine, ConsumerServicer
from service.consumers.metrics import ConsumerMetrics
from service.errors import ErrorInterceptor
from service.event_servicer import SERVICE_NAME as EVENT_SERVICE
from service.event_servicer import EventServicer
from service.ingest_servicer import SERVICE_NAME as INGEST_SERVICE
from service.ingest_servicer import IngestServicer
from service.reconcile.metrics import ReconcileMetrics
from service.reconcile.scheduler import Reconciliation
from service.reconcile_servicer import SERVICE_NAME as RECONCILE_SERVICE
from service.reconcile_servicer import ReconcileServicer
from service.reflection import REFLECTION_SERVICES, add_reflection
from service.settings import ServiceSettings
from service.state_servicer import SERVICE_NAME as STATE_SERVICE
from service.state_servicer import StateServicer
from service.storage import ConsumerState, Store
from service.subscribers import Subscribers
from service.subscription import StreamLimits

__all__ = ["RelayServer", "RpcHandler", "ShutdownCallback"]

_LOG = logging.getLogger(__name__)

_PING_TIMEOUT_S = 5.0
"""A store that does not answer a health ping within this long counts as failing."""

if TYPE_CHECKING:
    RpcHandler = grpc.GenericRpcHandler[Any, Any]
else:
    RpcHandler = grpc.GenericRpcHandler
"""A generic handler of any request and response types (bytes included)."""

ShutdownCallback = Callable[[], Awaitable[None]]
"""Awaited during `RelayServer.stop`, after health turns NOT_SERVING and streams are
told to end, before the server stops."""


class _HealthServicer(Protocol):
    """The part of grpc_health's asyncio `HealthServicer` used here (it ships no stubs)."""

    async def set(self, service: str, status: int) -> None: ...

    async def enter_graceful_shutdown(self) -> None: ...


class RelayServer:
    """The gRPC listener of clerk-relay.

    Args:
        settings: Address, TLS, tokens, grace period, whether to serve ingest,
            and the Subscribe stream limits.
        store: The store every service uses; owned by the caller.
        stream_limits: Overrides `settings.stream_limits()` (tests set limits
            the settings do not expose).
        extra_handlers: More services besides the relay's own (tests add probe
            services). Those built with `grpc.method_handlers_generic_handler`
            are also reported by health and reflection under their service name.
        on_shutdown: Awaited in order during `stop`, after health turns
            NOT_SERVING and streams are told to end, before the server stops.
        health_interval_s: How often health asks the store whether it can append.
        metrics_registry: Where reconciliation's, consumer groups' and the
            subscribers' metrics go (the gateway's, in `serve`); when None,
            a private registry (and none for the subscribers).
        consumers: The store's consumer groups (`open_consumer_state`): with
            them, the server serves `ConsumerService`, and `stop` closes them.
        consumer_poll_interval_s: The longest a consumer group waits between
            two dispatch rounds (redeliveries after `ack_wait` show up then).
    """

    def __init__(
        self,
        settings: ServiceSettings,
        store: Store,
        *,
        stream_limits: StreamLimits | None = None,
        extra_handlers: Sequence[RpcHandler] = (),
        on_shutdown: Sequence[ShutdownCallback] = (),
        health_interval_s: float = 1.0,
        metrics_registry: CollectorRegistry | None = None,
        consumers: ConsumerState | None = None,
        consumer_poll_interval_s: float = 0.25,
    ) -> None:
        self._settings = settings
        self._store = store
        self._stream_limits = stream_limits or settings.stream_limits()
        self._extra_handlers = tuple(extra_handlers)
        self._on_shutdown = tuple(on_shutdown)
        self._health_interval_s = health_interval_s
        self._server: grpc.aio.Server | None = None
        self._broadcaster: Broadcaster | None = None
        self._health: _HealthServicer | None = None
        self._store_watch: asyncio.Task[None] | None = None
        self._port: int | None = None
        self._stopping = False
        self.subscribers = Subscribers(store, metrics_registry)
        """The open Subscribe streams, their progress and metrics."""
        self._consumers = (
            None
            if consumers is None
            else ConsumerEngine(
                store,
                consumers,
                poll_interval_s=consumer_poll_interval_s,
                metrics=ConsumerMetrics(metrics_registry),
            )
        )
        self.reconciliation = (
            Reconciliation(store, settings.reconcile, ReconcileMetrics(metrics_registry))
            if settings.reconcile is not None
            else None
        )
        """The process's reconciliation passes; None without a secret key."""

    @property
    def auth_enabled(self) -> bool:
        """Every RPC but health needs a bearer token."""
        return self._settings.auth_enabled

    @property
    def tls_enabled(self) -> bool:
        """The listener uses TLS."""
        return self._settings.tls_enabled

    @property
    def is_serving(self) -> bool:
        """Started and not stopping."""
        return self._server is not None and not self._stopping

    @property
    def consumer_engine(self) -> ConsumerEngine | None:
        """The consumer groups this server serves; None when it serves none."""
        return self._consumers

    @property
    def subscriber_count(self) -> int:
        """How many Subscribe streams are open (0 before `start`)."""
        return 0 if self._broadcaster is None else self._broadcaster.subscriber_count

    @property
    def port(self) -> int | None:
        """The port bound by `start` (useful with port 0); None before."""
        return self._port

    def service_names(self) -> tuple[str, ...]:
        """Every service this server answers, as health and reflection report them."""
        names = [EVENT_SERVICE, STATE_SERVICE]
        if self._settings.expose_ingest:
            names.append(INGEST_SERVICE)
        names.append(RECONCILE_SERVICE)
        if self._consumers is not None:
            names.append(consumers.SERVICE_NAME)
        names += [
            handler.service_name()
            for handler in self._extra_handlers
            if isinstance(handler, grpc.ServiceRpcHandler)
        ]
        names += [health.SERVICE_NAME, *REFLECTION_SERVICES]
        return tuple(dict.fromkeys(names))

    async def start(self) -> int:
        """Builds the server, binds `settings.grpc_addr` and starts serving.

        Returns:
            The bound port (the one picked when the address says port 0).

        Raises:
            RuntimeError: The server was already started.
            OSError: The address cannot be bound.
            ValueError: The TLS files cannot be read.
        """
        if self._server is not None:
            raise RuntimeError("RelayServer.start was already called")
        settings = self._settings
        interceptors: list[grpc.aio.ServerInterceptor[Any, Any]] = []
        # Always: publishing and reconciliation are guarded even without tokens.
        interceptors.append(AuthInterceptor(settings.tokens))
        interceptors.append(ErrorInterceptor())

        server = grpc.aio.server(
            handlers=self._extra_handlers,
            interceptors=interceptors,
            # Refuse to share the port with another process (a second relay by mistake).
            options=[("grpc.so_reuseport", 0)],
        )
        store = self._store
        broadcaster = Broadcaster(store)
        self.subscribers.saw_head(await store.head())
        event_servicer.add_to_server(
            EventServicer(store, broadcaster, self._stream_limits, self.subscribers), server
        )
        state_service_pb2_grpc.add_StateServiceServicer_to_server(
            # mypy sees no GetUser, ListUsers, …: they are set on the class from
            # the service descriptor when service.state_servicer loads.
            StateServicer(store),  # type: ignore[abstract]
            server,
        )
        if settings.expose_ingest:
            ingest_service_pb2_grpc.add_IngestServiceServicer_to_server(
                IngestServicer(store), server
            )
        reconcile_service_pb2_grpc.add_ReconcileServiceServicer_to_server(
            ReconcileServicer(self.reconciliation), server
        )
        if self._consumers is not None:
            consumers.add_to_server(ConsumerServicer(self._consumers), server)
        health_servicer: _HealthServicer = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        add_reflection(self.service_names(), server)
        for name in ("", *self.service_names()):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

        try:
            port = self._bind(server)
            await server.start()
        except BaseException:
            broadcaster.close()  # stops listening to the store
            raise
        self._server, self._health, self._port = server, health_servicer, port
        self._broadcaster = broadcaster
        self._store_watch = asyncio.create_task(
            self._follow_store(health_servicer), name="grpc-health-store"
        )
        if self.reconciliation is not None:
            self.reconciliation.start_schedule()
        return port

    def _bind(self, server: grpc.aio.Server) -> int:
        """Adds the listening port (TLS when configured) and returns its number."""
        settings = self._settings
        try:
            if settings.tls_cert_file is not None and settings.tls_key_file is not None:
                credentials = server_credentials(settings.tls_cert_file, settings.tls_key_file)
                port = server.add_secure_port(settings.grpc_addr, credentials)
            else:
                port = server.add_insecure_port(settings.grpc_addr)
        except RuntimeError as error:
            raise OSError(f"cannot listen on {settings.grpc_addr}: {error}") from error
        if port == 0:
            raise OSError(f"cannot listen on {settings.grpc_addr}")
        return port

    async def _follow_store(self, health_servicer: _HealthServicer) -> None:
        """Sets "" and `IngestService` NOT_SERVING while the store's ping fails, SERVING after."""
        names = [""]
        if self._settings.expose_ingest:
            names.append(INGEST_SERVICE)
        serving = True
        while True:
            await asyncio.sleep(self._health_interval_s)
            try:
                async with asyncio.timeout(_PING_TIMEOUT_S):
                    await self._store.ping()
                failure = None
            except TimeoutError:
                failure = f"the store did not answer within {_PING_TIMEOUT_S:g} s"
            except Exception as error:  # any failing ping means "not serving", with its reason
                failure = str(error) or type(error).__name__
            if (failure is None) == serving:
                continue
            serving = failure is None
            if failure is None:
                _LOG.info("the store answers again: health is SERVING")
            else:
                _LOG.warning("health is NOT_SERVING: %s", failure)
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if serving
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in names:
                await health_servicer.set(name, status)

    async def stop(self) -> None:
        """Graceful shutdown: health NOT_SERVING, streams end, callbacks, `server.stop`.

        A failing callback is logged and does not prevent the rest. Calling
        `stop` again, or before `start`, does nothing.
        """
        if self._server is None or self._health is None or self._stopping:
            return
        self._stopping = True
        if self._store_watch is not None:
            self._store_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._store_watch
        await self._health.enter_graceful_shutdown()
        if self._broadcaster is not None:
            self._broadcaster.close()  # each stream ends with OK after its buffered events
        if self.reconciliation is not None:
            await self.reconciliation.close()
        if self._consumers is not None:
            await self._consumers.close()  # each member's stream ends with OK
        for callback in self._on_shutdown:
            try:
                await callback()
            except Exception:
                _LOG.exception("shutdown callback %r failed", callback)
        await self._server.stop(self._settings.shutdown_grace_s)
        self.subscribers.close()

    async def wait_for_termination(self) -> None:
        """Returns once the server has stopped (for a `serve` loop)."""
        if self._server is not None:
            await self._server.wait_for_termination()
