"""The relay's HTTP listeners: uvicorn configured and started the relay's way.

Both listeners use it: the public webhook listener (`--http-addr`) and the
operations listener (`--ops-addr`). An address that cannot be listened on is
one clear `OSError`, and the runner, not uvicorn, owns the signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Generator

import uvicorn

from gateway.http_limits import HttpLimits, fit_fd_limit, protocol_class

__all__ = [
    "HttpServer",
    "bound_addr",
    "http_server",
    "listening",
    "split_addr",
    "start_http",
    "stop_http",
    "uvicorn_config",
]


def split_addr(addr: str) -> tuple[str, int]:
    """`host:port` → (host, port); IPv6 hosts may be bracketed.

    Raises:
        ValueError: The address has no port.
    """
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"not a host:port address: {addr!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class HttpServer(uvicorn.Server):
    """uvicorn, minus its own signal handling (the runner owns the shutdown order).

    An address it cannot listen on is an `OSError` with one clear message, as
    for the gRPC side, instead of uvicorn's log line and `sys.exit` (which
    would end the event loop under the running gRPC server).
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Installs no signal handler."""
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


def http_server(addr: str, app: object, limits: HttpLimits) -> HttpServer:
    """A (not yet started) server of `app` on `addr`, `host:port`."""
    host, port = split_addr(addr)
    fit_fd_limit(limits.max_connections)
    return HttpServer(uvicorn_config(app, host, port, limits))


async def start_http(server: HttpServer, name: str = "http") -> asyncio.Task[None]:
    """Starts serving; returns once listening (the task ends when the server does).

    Raises:
        OSError: The address cannot be listened on.
    """
    task = asyncio.create_task(server.serve(), name=name)
    while not server.started:
        if task.done():
            await task  # raises the start-up error
            raise OSError("the HTTP server stopped during start-up")
        await asyncio.sleep(0.01)
    return task


async def stop_http(server: HttpServer, task: asyncio.Task[None]) -> None:
    """Stops taking connections, finishes the requests in flight, and returns when done."""
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.asynccontextmanager
async def listening(
    web: HttpServer, ops: HttpServer
) -> AsyncIterator[tuple[asyncio.Task[None], asyncio.Task[None]]]:
    """Serves the webhook listener, then the operations listener, until the block ends.

    The webhook listener starts first, so `/readyz` never answers 200 before
    webhooks are taken; at the end it stops first too (its requests in flight
    finish), while metrics and readiness are still served.

    Raises:
        OSError: An address cannot be listened on (nothing is left listening).
    """
    web_task = await start_http(web)
    try:
        ops_task = await start_http(ops, "ops")
    except BaseException:
        await stop_http(web, web_task)
        raise
    try:
        yield web_task, ops_task
    finally:
        try:
            await stop_http(web, web_task)
        finally:
            await stop_http(ops, ops_task)


def bound_addr(server: HttpServer) -> str:
    """`host:port` a started server listens on (the port picked when it was 0)."""
    for listener in server.servers:
        for sock in listener.sockets:
            host, port = sock.getsockname()[:2]
            return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"{server.config.host}:{server.config.port}"
