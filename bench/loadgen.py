"""HTTP load generator: freshly signed webhooks over keep-alive connections, in its own process.

Run by `bench.procs.Worker` as `python -m bench.loadgen CONFIG`, pinned to the
load CPU. Before each timed phase it builds and signs every request it will
send — Svix's scheme, base64 HMAC-SHA256 over `id.timestamp.body`, each with a
unique `svix-id` and a unique user id in the body — so the timed part only
writes prepared bytes and parses answers (httptools). `wrk` is not used: its
Lua has no HMAC, and a Python generator on its own CPU costs about 15 µs per
request, which each result reports (`cpu`) so it can be checked not to be the
bottleneck.

Two modes:

- `closed`: every connection sends its next request as soon as the previous
  answer arrives: the rate the server sustains.
- `paced` (open loop): request i is due at start + i / rate and is sent on an
  idle connection, or as soon as one frees up; its latency counts from when it
  was due, so a stalled server cannot hide its queueing.

Commands: `{"cmd": "run", ...}` (see `PhaseSpec`) answers `signed`, then
`measuring` and `measured` when the timed window opens and closes, then `result`.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import hashlib
import hmac
import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

import httptools
import orjson
import uvloop

from bench import jsonlines
from bench.cpus import LOAD_CPU, pin_self
from bench.payloads import typical_user_created
from bench.stats import percentile

__all__ = ["PhaseSpec", "build_requests", "signature", "webhook_id"]

WEBHOOK_PATH = "/webhooks/clerk"


@dataclass(frozen=True, slots=True)
class PhaseSpec:
    """One timed phase.

    Attributes:
        port: The server's port on 127.0.0.1.
        connections: Keep-alive connections to open.
        mode: `closed` or `paced`.
        rate: Requests per second (paced mode).
        warmup_s: Seconds of load before the timed window (not counted).
        duration_s: Length of the timed window.
        count: Requests to prepare, each with its own webhook id.
        reuse: Cycle through the prepared requests (for an endpoint that
            does not care about ids); otherwise the phase ends when they run out.
        record_sends: Report when each request was written (monotonic ns).
    """

    port: int
    connections: int = 50
    mode: str = "closed"
    rate: float = 0.0
    warmup_s: float = 1.0
    duration_s: float = 5.0
    count: int = 10_000
    reuse: bool = False
    record_sends: bool = False


def webhook_id(prefix: str, index: int) -> str:
    """The `svix-id` of request `index` of a phase."""
    return f"{prefix}{index:08d}"


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature Svix sends: HMAC-SHA256 over `id.timestamp.body`."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(key, signed, hashlib.sha256)).decode()


def build_requests(secret: str, port: int, prefix: str, count: int) -> list[bytes]:
    """`count` complete HTTP/1.1 requests, each a `user.created` for a new user, signed now.

    The body is the typical 3.4 KB sign-up of `bench.payloads`; only the user id
    (and so the signature) differs from one request to the next.
    """
    envelope = typical_user_created()
    data = envelope["data"]
    timestamp = int(time.time())
    head = f"POST {WEBHOOK_PATH} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
    requests = []
    for index in range(count):
        message_id = webhook_id(prefix, index)
        data["id"] = f"user_{prefix}{index:08d}"
        body = orjson.dumps(envelope)
        headers = (
            f"{head}content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"svix-id: {message_id}\r\nsvix-timestamp: {timestamp}\r\n"
            f"svix-signature: {signature(secret, message_id, timestamp, body)}\r\n\r\n"
        )
        requests.append(headers.encode() + body)
    return requests


class _Connection(asyncio.Protocol):
    """One keep-alive connection; answers are parsed by httptools."""

    def __init__(self, phase: _Phase) -> None:
        self._phase = phase
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.started_ns = 0
        self.busy = False
        self._duplicate = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._phase.failed(self)
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.busy:
            self._phase.failed(self)

    def on_body(self, body: bytes) -> None:
        if b"duplicate" in body:
            self._duplicate = True

    def on_message_complete(self) -> None:
        duplicate, self._duplicate = self._duplicate, False
        self._phase.completed(self, self._parser.get_status_code(), duplicate)

    def send(self, request: bytes, due_ns: int) -> int:
        """Writes a request; returns when (monotonic ns)."""
        assert self.transport is not None
        now = time.monotonic_ns()
        self.started_ns = due_ns or now
        self.busy = True
        self.transport.write(request)
        return now


class _Phase:
    """The state of one timed phase."""

    def __init__(self, spec: PhaseSpec, requests: list[bytes]) -> None:
        self.spec = spec
        self._requests = requests
        self._next = 0
        self.idle: collections.deque[_Connection] = collections.deque()
        self._pending: collections.deque[tuple[int, int]] = collections.deque()
        self.in_flight = 0
        self.window_open = False
        self.stopping = False
        self.exhausted = False
        self.done = asyncio.Event()
        self.drained = asyncio.Event()
        self.latencies_ns: list[int] = []
        self.status: collections.Counter[int] = collections.Counter()
        self.duplicates = 0
        self.errors = 0
        self.sends = [0] * len(requests) if spec.record_sends else []
        self.window_start = self.window_end = 0.0
        self.cpu_start = self.cpu_end = 0.0

    def take(self) -> int | None:
        """The index of the next request to send, or None when none is left."""
        if self._next >= len(self._requests):
            if not self.spec.reuse:
                if not self.exhausted:
                    self.exhausted = True
                    self.close_window()
                return None
            self._next = 0
        index = self._next
        self._next += 1
        return index

    def dispatch(self, connection: _Connection, index: int, due_ns: int = 0) -> None:
        """Sends request `index` on a connection."""
        self.in_flight += 1
        self.drained.clear()
        sent = connection.send(self._requests[index], due_ns)
        if self.sends:
            self.sends[index] = sent

    def enqueue(self, index: int, due_ns: int) -> None:
        """A paced request that is due: sent now if a connection is idle, else queued."""
        if self.idle:
            self.dispatch(self.idle.popleft(), index, due_ns)
        else:
            self._pending.append((index, due_ns))

    def completed(self, connection: _Connection, status: int, duplicate: bool) -> None:
        """An answer arrived."""
        connection.busy = False
        self.in_flight -= 1
        if self.window_open:
            self.latencies_ns.append(time.monotonic_ns() - connection.started_ns)
            self.status[status] += 1
            self.duplicates += duplicate
        self._continue(connection)

    def failed(self, connection: _Connection) -> None:
        """A request got no answer (the connection broke)."""
        if connection.busy:
            connection.busy = False
            self.in_flight -= 1
            self.errors += 1
        self._maybe_done()

    def _continue(self, connection: _Connection) -> None:
        if not self.stopping and connection.transport is not None:
            if self.spec.mode == "closed":
                index = self.take()
                if index is not None:
                    self.dispatch(connection, index)
                    return
            elif self._pending:
                index, due_ns = self._pending.popleft()
                self.dispatch(connection, index, due_ns)
                return
        self.idle.append(connection)
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self.in_flight == 0:
            self.drained.set()
            if self.stopping or self.exhausted:
                self.done.set()

    def open_window(self) -> None:
        """Starts counting."""
        if self.stopping:
            return
        self.window_open = True
        self.window_start = time.monotonic()
        self.cpu_start = time.process_time()
        jsonlines.emit("measuring")

    def close_window(self) -> None:
        """Stops counting and sending."""
        if self.window_open:
            self.window_open = False
            self.window_end = time.monotonic()
            self.cpu_end = time.process_time()
            jsonlines.emit("measured")
        self.stopping = True
        self._maybe_done()

    def result(self) -> dict[str, Any]:
        """The phase's figures."""
        seconds = self.window_end - self.window_start
        answered = sum(self.status.values())
        latencies_ms = [ns / 1e6 for ns in self.latencies_ns] or [0.0]
        return {
            "requests": answered,
            "seconds": seconds,
            "rate": answered / seconds if seconds > 0 else 0.0,
            "latency_ms": {
                name: percentile(latencies_ms, fraction)
                for name, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999))
            }
            | {"max": max(latencies_ms)},
            "status": {str(code): n for code, n in sorted(self.status.items())},
            "duplicates": self.duplicates,
            "errors": self.errors,
            "exhausted": self.exhausted,
            "cpu": (self.cpu_end - self.cpu_start) / seconds if seconds > 0 else 0.0,
        }


class LoadGenerator:
    """Runs phases against 127.0.0.1 with the configured signing secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._token = secrets.token_hex(3)
        self._phases = itertools.count(1)

    async def run(self, command: dict[str, Any]) -> None:
        """Prepares, runs and reports one phase (the `run` command)."""
        fields = {k: v for k, v in command.items() if k != "cmd"}
        spec = PhaseSpec(**fields)
        prefix = f"msg_{self._token}_{next(self._phases)}_"
        started = time.monotonic()
        requests = build_requests(self._secret, spec.port, prefix, spec.count)
        jsonlines.emit("signed", count=len(requests), seconds=time.monotonic() - started)
        phase = _Phase(spec, requests)
        loop = asyncio.get_running_loop()
        connections = [await _connect(loop, phase, spec.port) for _ in range(spec.connections)]
        timers = [
            loop.call_later(spec.warmup_s, phase.open_window),
            loop.call_later(spec.warmup_s + spec.duration_s, phase.close_window),
        ]
        pacer = None
        if spec.mode == "closed":
            for connection in connections:
                index = phase.take()
                if index is None:
                    break
                phase.dispatch(connection, index)
        elif spec.mode == "paced":
            phase.idle.extend(connections)
            pacer = asyncio.create_task(_pace(phase))
        else:
            raise ValueError(f"unknown mode {spec.mode!r}")
        await phase.done.wait()
        for timer in timers:
            timer.cancel()
        if pacer is not None:
            pacer.cancel()
        if not phase.window_start:  # the requests ran out during the warm-up: no window
            jsonlines.emit("measuring")
            jsonlines.emit("measured")
        # Answers still in flight when the window closed: give them a moment, then drop them.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await phase.drained.wait()
        for connection in connections:
            if connection.transport is not None:
                connection.transport.close()
        result = phase.result()
        if spec.record_sends:
            result["prefix"] = prefix
            result["sends"] = phase.sends
        jsonlines.emit("result", **result)


async def _connect(loop: asyncio.AbstractEventLoop, phase: _Phase, port: int) -> _Connection:
    connection = _Connection(phase)
    await loop.create_connection(lambda: connection, "127.0.0.1", port)
    return connection


async def _pace(phase: _Phase) -> None:
    """Makes requests due at the phase's rate (open loop)."""
    spec = phase.spec
    interval_ns = 1e9 / spec.rate
    total = int(spec.rate * (spec.warmup_s + spec.duration_s))
    start = time.monotonic_ns()
    for i in range(total):
        if phase.stopping:
            return
        due = start + int(i * interval_ns)
        delay = (due - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        index = phase.take()
        if index is None:
            return
        phase.enqueue(index, due)


async def _main() -> None:
    config = jsonlines.config()
    pin_self(int(config.get("cpu", LOAD_CPU)))
    generator = LoadGenerator(str(config["secret"]))
    jsonlines.emit("ready")
    await jsonlines.serve_commands({"run": generator.run})


if __name__ == "__main__":
    uvloop.run(_main())
