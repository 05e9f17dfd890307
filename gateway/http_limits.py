"""The HTTP server's connection limits, and the uvicorn protocol class that enforces them.

uvicorn (0.54) with httptools bounds neither the size of a request head nor
the time it takes to arrive: httptools buffers a header value whole, however
long, and no timer runs from a connection's accept until its first request's
head is complete, nor while a body arrives (uvicorn's only timer is the idle
keep-alive one, armed after a response). `LimitedHttpToolsProtocol` adds what
is missing to uvicorn's own `HttpToolsProtocol`, leaving its parsing untouched:

| limit | when exceeded |
|---|---|
| `max_header_bytes` | 431 and close (bytes past the limit are never parsed) |
| `header_timeout_s` | 408 and close; a close alone when no byte came |
| `body_timeout_s` | 408 and close; a close alone once a response has begun |
| `keep_alive_timeout_s` | close (uvicorn's `timeout_keep_alive`) |
| `max_connections` | a connection accepted beyond it is closed at once, unanswered |

The answers are written only when no other response is under way on the
connection; otherwise the connection is just closed. While a pipelined request
waits behind an earlier one, uvicorn stops reading, so the head and body
clocks restart instead of blaming the client for the server's wait.

uvicorn's own `limit_concurrency` is not used: it answers 503 only once a
request's head has been read, so a connection beyond it (half-open, say)
still holds a file descriptor for as long as it likes.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from service.lazy_timer import LazyTimer

__all__ = ["FD_RESERVE", "HttpLimits", "LimitedHttpToolsProtocol", "fit_fd_limit", "protocol_class"]

_log = logging.getLogger("clerk_relay")

FD_RESERVE = 256
"""File descriptors set aside for everything but HTTP connections (store, gRPC, listeners)."""


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """How much an HTTP client may send, how slowly, and how many clients at once.

    Attributes:
        max_header_bytes: Largest request head (request line and headers, up
            to the blank line); a longer one is answered 431. Bytes of a
            pipelined request that arrive in the same read as the end of the
            previous request are not counted.
        header_timeout_s: Time a request head has to arrive in full, counted
            from the connection's accept for its first request, and for a
            later one from the first read after the previous request ended
            (the idle time before that read is the keep-alive timeout's).
            Bytes trickling in do not extend it.
        body_timeout_s: Time a request body has to arrive in full, counted
            from the end of its head. Time the application spends after it
            is not counted (the publish timeout bounds that).
        keep_alive_timeout_s: Idle time allowed between a response and the
            next request on a kept-alive connection, in whole seconds
            (uvicorn's `timeout_keep_alive`).
        max_connections: Open HTTP connections at most. Far above a Svix
            endpoint's concurrency, far below the descriptors the process
            can hold (`fit_fd_limit` makes room for them plus `FD_RESERVE`).
    """

    max_header_bytes: int = 16 * 1024
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_timeout_s: int = 5
    max_connections: int = 2048

    def __post_init__(self) -> None:
        for name in ("max_header_bytes", "keep_alive_timeout_s", "max_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("header_timeout_s", "body_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `HttpLimits` enforced; one instance per connection.

    Kept cheap per request, as the bench counts CPU per webhook:

    - The head and body timeouts share one deadline, moved at each phase's
      start and checked by one timer that is re-armed only when it fires (a
      timer armed and cancelled per request costs about 2.7 µs on uvloop).
    - Per-request methods call `HttpToolsProtocol`'s directly: on Python
      3.11, `super()` lookups are not cached.
    """

    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._in_head = True  # reading a request head (or waiting for one)
        self._head_room = self.limits.max_header_bytes  # bytes the current head may still take
        self._deadline: float | None = None  # loop time the current head or body is due by
        self._timer = LazyTimer(self.loop, self._check_deadline)  # fires by the deadline

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Takes the connection, or closes it at once when `max_connections` are open."""
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.logger.warning("Exceeded connection limit; connection closed.")
            transport.close()
            return
        self._set_deadline(self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stops the timer and lets uvicorn clean up."""
        self._timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feeds the parser no more head bytes than `max_header_bytes` allows."""
        if self._in_head:
            if self._deadline is None:  # a request begins on a kept-alive connection
                self._set_deadline(self.limits.header_timeout_s)
            room = self._head_room
            if len(data) > room:
                self._feed_past_limit(data, room)
                return
            self._head_room = room - len(data)
        HttpToolsProtocol.data_received(self, data)

    def _feed_past_limit(self, data: bytes, room: int) -> None:
        """Feeds the `room` bytes left to the head; refuses the request unless its head ended."""
        self._head_room = 0  # back to the limit if the request ends
        if room:
            HttpToolsProtocol.data_received(self, data[:room])
        if self.transport.is_closing():  # uvicorn refused a malformed request
            return
        if self._in_head and self._head_room == 0:
            self.logger.warning("Request head exceeds %d bytes.", self.limits.max_header_bytes)
            self._refuse(431, "Request header fields too large.")
            return
        self.data_received(data[room:])

    def on_headers_complete(self) -> None:
        """The head is in: the body is due next."""
        self._in_head = False
        self._set_deadline(self.limits.body_timeout_s)
        HttpToolsProtocol.on_headers_complete(self)

    def on_message_complete(self) -> None:
        """The request is in: nothing is due until the next one begins."""
        HttpToolsProtocol.on_message_complete(self)
        self._deadline = None
        self._in_head = True
        self._head_room = self.limits.max_header_bytes

    def _set_deadline(self, timeout_s: float) -> None:
        """The current phase is due `timeout_s` from now; the timer fires by then."""
        deadline = self.loop.time() + timeout_s
        self._deadline = deadline
        self._timer.arm(deadline)

    def _check_deadline(self) -> float | None:
        """Refuses the request whose deadline passed; else returns when the timer is due next."""
        deadline = self._deadline
        if deadline is None or self.transport.is_closing():
            return None  # nothing due: the next phase arms the timer again
        if deadline - self.loop.time() > 0.001:  # the deadline moved later
            return deadline
        if self.pipeline:  # reading is paused behind an earlier request: the wait is ours
            limits = self.limits
            timeout_s = limits.header_timeout_s if self._in_head else limits.body_timeout_s
            self._deadline = self.loop.time() + timeout_s
            return self._deadline
        if self._in_head and self._head_room == self.limits.max_header_bytes:  # nothing came
            self.transport.close()
            return None
        self.logger.info("Request %s not received in time.", "head" if self._in_head else "body")
        self._refuse(408, "Request timeout.")
        return None

    def _refuse(self, status: int, message: str) -> None:
        """Answers `status` with `message` and closes, or only closes if a response is under way.

        Mirrors uvicorn's own 400 for malformed requests.
        """
        cycle = self.cycle
        if self._in_head:  # answer unless the previous request's response is under way
            answer = cycle is None or cycle.response_complete
        else:  # answer unless this request's response has begun
            answer = not cycle.response_started
        if answer:
            content = [STATUS_LINE[status]]
            for name, value in self.server_state.default_headers:
                content.extend([name, b": ", value, b"\r\n"])
            body = message.encode("ascii")
            content.extend(
                [
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: %d\r\n" % len(body),
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
            self.transport.write(b"".join(content))
        if cycle is not None:
            cycle.disconnected = True  # the application's answer, if any, goes nowhere
        self.transport.close()


def protocol_class(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class to give uvicorn (`http=`) to enforce `limits`.

    uvicorn builds each connection's protocol from a class and its `Config`,
    so the limits travel as a class attribute of a subclass made here.
    """
    configured = limits

    class Limited(LimitedHttpToolsProtocol):
        limits = configured

    return Limited


def fit_fd_limit(max_connections: int) -> None:
    """Raises this process's soft descriptor limit to hold `max_connections` plus `FD_RESERVE`.

    `ulimit -n` is the soft limit, often 1024 for services; only the hard limit
    bounds raising it. When even that is too low, logs a warning: connections
    past it are then refused by the kernel (EMFILE on accept) before the
    connection cap can close them.
    """
    needed = max_connections + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        _log.warning(
            "open-file limit %d is below the %d that %d HTTP connections need; "
            "raise it (ulimit -n, LimitNOFILE=) or lower max_connections",
            target,
            needed,
            max_connections,
        )
