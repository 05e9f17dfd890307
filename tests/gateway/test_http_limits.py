"""The HTTP server's connection limits, on a real uvicorn serving the real gateway app.

Each limit is set small here so that its test is quick; the server is the
relay's own configuration (`relay.runner.uvicorn_config`) on 127.0.0.1,
port 0, in this process. The exhaustion test at the end runs a real
`clerk-relay serve` instead, so that the RSS it measures is the gateway's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from clerkrelay.cli.samples import sample
from gateway.app import GatewayApp
from gateway.http_limits import FD_RESERVE, HttpLimits
from relay.runner import uvicorn_config
from service.storage.sqlite import SqliteStore
from tests.gateway.signing import SECRET, signed_headers
from tests.processes import SOURCE_PATH, TEST_SECRET, running, serve

BODY = orjson.dumps(sample("user.created"))
SMALL = HttpLimits(
    max_header_bytes=4096,
    header_timeout_s=0.5,
    body_timeout_s=0.5,
    keep_alive_timeout_s=1,
    max_connections=3,
)
HEALTHZ = b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers (pytest owns them)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@asynccontextmanager
async def serving(app: GatewayApp, limits: HttpLimits = SMALL) -> AsyncIterator[int]:
    """Serves `app` as the relay does, on 127.0.0.1; yields the port."""
    server = _Server(uvicorn_config(app, "127.0.0.1", 0, limits))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            assert not task.done(), "uvicorn stopped during start-up"
            await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


def webhook_request(
    webhook_id: str, *, pad_to: int | None = None, body: bytes = BODY, secret: str = SECRET
) -> tuple[bytes, bytes]:
    """A signed webhook's head and body; `pad_to` pads the head to that many bytes exactly."""
    lines = [b"POST /webhooks/clerk HTTP/1.1", b"host: 127.0.0.1"]
    lines.append(b"content-length: %d" % len(body))
    headers = signed_headers(body, webhook_id=webhook_id, secrets=(secret,))
    lines += [f"{name}: {value}".encode() for name, value in headers.items()]
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    if pad_to is not None:
        padding = pad_to - len(head) - len(b"x-pad: \r\n")
        assert padding >= 0
        head = head[:-2] + b"x-pad: " + b"a" * padding + b"\r\n\r\n"
        assert len(head) == pad_to
    return head, body


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes], bytes]:
    """One HTTP/1.1 response with a `content-length`: status, headers by name, body."""
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].split(b"\r\n")
        headers = dict(line.split(b": ", 1) for line in header_lines)
        body = await reader.readexactly(int(headers[b"content-length"]))
    return int(status_line.split(b" ")[1]), headers, body


async def read_to_end(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server closes the connection."""
    async with asyncio.timeout(10):
        return await reader.read()


# -- head size ---------------------------------------------------------------------


async def test_a_head_of_exactly_max_header_bytes_is_served(app: GatewayApp) -> None:
    async with serving(app) as port:
        reader, writer = await connect(port)
        head, body = webhook_request("msg_limit_1", pad_to=SMALL.max_header_bytes)
        writer.write(head + body)  # one write: the head ends exactly at the limit
        status, _, answer = await read_response(reader)
        writer.close()
    assert (status, orjson.loads(answer)) == (200, {"sequence": 1})


async def test_a_head_one_byte_over_is_431_and_closed(app: GatewayApp, store: SqliteStore) -> None:
    async with serving(app) as port:
        reader, writer = await connect(port)
        head, body = webhook_request("msg_limit_2", pad_to=SMALL.max_header_bytes + 1)
        writer.write(head + body)
        status, headers, answer = await read_response(reader)
        rest = await read_to_end(reader)
        writer.close()
    assert (status, headers[b"connection"], answer) == (
        431,
        b"close",
        b"Request header fields too large.",
    )
    assert rest == b""
    assert await store.head() == 0


async def test_an_endless_header_is_cut_at_the_limit(app: GatewayApp) -> None:
    async with serving(app) as port:
        reader, writer = await connect(port)
        writer.write(b"POST /webhooks/clerk HTTP/1.1\r\nx-flood: ")
        for _ in range(SMALL.max_header_bytes // 512):  # the limit's worth, in pieces
            writer.write(b"a" * 512)
            await writer.drain()
        status, _, answer = await read_response(reader)
        rest = await read_to_end(reader)
        writer.close()
    assert (status, answer, rest) == (431, b"Request header fields too large.", b"")


# -- head timeout ------------------------------------------------------------------


async def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(
    app: GatewayApp,
) -> None:
    async with serving(app) as port:
        reader, writer = await connect(port)
        started = time.monotonic()
        rest = await read_to_end(reader)
        waited = time.monotonic() - started
        writer.close()
    assert rest == b""  # no request began, so nothing is answered
    assert waited >= SMALL.header_timeout_s * 0.9


async def test_a_head_trickling_in_is_408_and_closed_after_the_head_timeout(
    app: GatewayApp, store: SqliteStore
) -> None:
    head, body = webhook_request("msg_limit_3")

    async def trickle(writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            for byte in head:  # a byte every 50 ms: the head would take seconds
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)

    async with serving(app) as port:
        reader, writer = await connect(port)
        started = time.monotonic()
        trickling = asyncio.create_task(trickle(writer))
        status, headers, answer = await read_response(reader)
        waited = time.monotonic() - started
        rest = await read_to_end(reader)
        trickling.cancel()
        writer.close()
    assert (status, headers[b"connection"], answer, rest) == (
        408,
        b"close",
        b"Request timeout.",
        b"",
    )
    assert waited >= SMALL.header_timeout_s * 0.9
    assert len(head) * 0.05 > 2 * SMALL.header_timeout_s  # so bytes kept coming meanwhile
    assert await store.head() == 0


async def test_the_second_head_on_a_kept_alive_connection_has_its_own_timeout(
    app: GatewayApp,
) -> None:
    async with serving(app) as port:
        reader, writer = await connect(port)
        writer.write(HEALTHZ)
        first, _, _ = await read_response(reader)
        await asyncio.sleep(SMALL.header_timeout_s)  # the first head's clock would be out
        writer.write(HEALTHZ[:20])  # within the keep-alive time, a head begins, then stalls
        second, _, answer = await read_response(reader)
        rest = await read_to_end(reader)
        writer.close()
    assert (first, second, answer, rest) == (200, 408, b"Request timeout.", b"")


# -- body timeout ------------------------------------------------------------------


async def test_a_body_that_stops_is_408_and_closed_after_the_body_timeout(
    app: GatewayApp, store: SqliteStore
) -> None:
    async with serving(app) as port:
        reader, writer = await connect(port)
        head, body = webhook_request("msg_limit_4")
        writer.write(head + body[:100])
        started = time.monotonic()
        status, headers, answer = await read_response(reader)
        waited = time.monotonic() - started
        rest = await read_to_end(reader)
        writer.close()
    assert (status, headers[b"connection"], answer, rest) == (
        408,
        b"close",
        b"Request timeout.",
        b"",
    )
    assert waited >= SMALL.body_timeout_s * 0.9
    assert await store.head() == 0


async def test_no_deadline_runs_between_requests_on_a_kept_alive_connection(
    app: GatewayApp,
) -> None:
    async with serving(app) as port:
        reader, writer = await connect(port)
        for n in range(3):  # three requests on one connection, each well within every limit
            head, body = webhook_request(f"msg_limit_5_{n}")
            writer.write(head + body)
            status, _, answer = await read_response(reader)
            assert (status, orjson.loads(answer)) == (200, {"sequence": n + 1})
            await asyncio.sleep(SMALL.body_timeout_s * 1.2)  # idle past the body deadline
        writer.close()


# -- keep-alive --------------------------------------------------------------------


async def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(
    app: GatewayApp,
) -> None:
    async with serving(app) as port:
        reader, writer = await connect(port)
        writer.write(HEALTHZ)
        first, _, _ = await read_response(reader)
        await asyncio.sleep(SMALL.keep_alive_timeout_s / 2)
        writer.write(HEALTHZ)  # still open within the keep-alive timeout
        second, _, _ = await read_response(reader)
        started = time.monotonic()
        rest = await read_to_end(reader)
        waited = time.monotonic() - started
        writer.close()
    assert (first, second, rest) == (200, 200, b"")
    assert waited >= SMALL.keep_alive_timeout_s * 0.9


# -- connection cap ----------------------------------------------------------------


async def test_a_connection_beyond_max_connections_is_closed_unanswered(
    app: GatewayApp,
) -> None:
    async with serving(app) as port:
        held = [await connect(port) for _ in range(SMALL.max_connections)]
        for reader, writer in held:  # each is served, so each is surely accepted
            writer.write(HEALTHZ)
            assert (await read_response(reader))[0] == 200
        reader, writer = await connect(port)
        refused = await read_to_end(reader)
        writer.close()

        held.pop()[1].close()  # one leaves: a newcomer is served again
        async with asyncio.timeout(5):
            while True:
                reader, writer = await connect(port)
                head, body = webhook_request("msg_limit_6")
                writer.write(head + body)
                with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                    status, _, answer = await read_response(reader)
                    break
                writer.close()  # accepted before the departure was noticed: again
                await asyncio.sleep(0.05)
        writer.close()
        for _, held_writer in held:
            held_writer.close()
    assert refused == b""
    assert (status, orjson.loads(answer)) == (200, {"sequence": 1})


# -- settings and descriptors ------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"max_header_bytes": 0},
        {"header_timeout_s": 0.0},
        {"body_timeout_s": -1.0},
        {"keep_alive_timeout_s": 0},
        {"max_connections": 0},
    ],
)
def test_limits_refuse_values_that_would_disable_them(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(change))):
        HttpLimits(**change)


FD_PROBE = """
import logging, resource, sys
from gateway.http_limits import fit_fd_limit
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2])))
logging.basicConfig(stream=sys.stdout, format="%(message)s")
fit_fd_limit(2048)
print(*resource.getrlimit(resource.RLIMIT_NOFILE))
"""


def fd_limits_after_fit(soft: int, hard: int) -> list[str]:
    """What `fit_fd_limit(2048)` does in a fresh process started with `ulimit -n` soft/hard."""
    result = subprocess.run(
        [sys.executable, "-c", FD_PROBE, str(soft), str(hard)],
        env={**os.environ, "PYTHONPATH": SOURCE_PATH},
        capture_output=True,
        check=True,
        timeout=30,
    )
    return result.stdout.decode().splitlines()


def test_the_descriptor_limit_is_raised_to_hold_the_connection_cap() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048 + FD_RESERVE:
        pytest.skip(f"this machine's hard descriptor limit ({hard}) is below the test's need")
    assert fd_limits_after_fit(1024, hard) == [f"{2048 + FD_RESERVE} {hard}"]


def test_a_hard_descriptor_limit_below_the_cap_is_warned_about() -> None:
    assert fd_limits_after_fit(1024, 1024) == [
        "open-file limit 1024 is below the 2304 that 2048 HTTP connections need; "
        "raise it (ulimit -n, LimitNOFILE=) or lower max_connections",
        "1024 1024",
    ]


# -- exhaustion --------------------------------------------------------------------

HALF_OPEN = 400
FLOODS = 3
FLOOD_HEAD_START_BYTES = 4 << 20
"""Header bytes each flood has sent before the webhooks go (256 times the default limit)."""
RSS_GROWTH_BOUND_MIB = 32
"""Most the gateway's RSS may grow under the attack. Unlimited, three 200 MB headers grew
it by 212 MiB; limited, this attack grew it by 2.3 MiB (from 83 MiB) on the dev machine."""


def rss_mib(pid: int) -> float:
    """A process's resident set size, from /proc/PID/status (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


@dataclass
class Flood:
    """A client streaming an endless header, reconnecting each time the server closes it.

    `under_way` is set once it has sent `FLOOD_HEAD_START_BYTES`; `cut` counts
    the connections the server closed on it.
    """

    port: int
    sent: int = 0
    cut: int = 0
    under_way: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, stop: asyncio.Event) -> None:
        chunk = b"a" * 65536
        while not stop.is_set():
            _, writer = await connect(self.port)
            try:
                writer.write(b"POST /webhooks/clerk HTTP/1.1\r\nhost: 127.0.0.1\r\nx-flood: ")
                while not stop.is_set():
                    writer.write(chunk)
                    await writer.drain()
                    self.sent += len(chunk)
                    if self.sent >= FLOOD_HEAD_START_BYTES:
                        self.under_way.set()
            except ConnectionError:
                self.cut += 1
            finally:
                writer.close()


async def sample_peak(pid: int, stop: asyncio.Event) -> float:
    """The highest RSS of `pid` seen every 10 ms until `stop`."""
    peak = rss_mib(pid)
    while not stop.is_set():
        await asyncio.sleep(0.01)
        peak = max(peak, rss_mib(pid))
    return peak


@pytest.mark.slow
async def test_webhooks_are_served_through_half_open_connections_and_header_floods(
    tmp_path: Path,
) -> None:
    relay = serve(tmp_path)
    with running(relay):
        assert relay.process is not None and relay.http_port is not None
        pid, port = relay.process.pid, relay.http_port
        async with httpx.AsyncClient(timeout=10) as http:

            async def post(webhook_id: str) -> tuple[int, float]:
                head = signed_headers(BODY, webhook_id=webhook_id, secrets=(TEST_SECRET,))
                started = time.monotonic()
                response = await http.post(relay.webhook_url, content=BODY, headers=head)
                return response.status_code, time.monotonic() - started

            assert (await post("msg_exhaust_0"))[0] == 200  # warm
            baseline = rss_mib(pid)
            stop = asyncio.Event()
            half_open: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
            floods = [Flood(port) for _ in range(FLOODS)]
            try:
                async with asyncio.timeout(60):
                    sampler = asyncio.create_task(sample_peak(pid, stop))
                    for _ in range(HALF_OPEN):
                        reader, writer = await connect(port)
                        writer.write(b"POST /webhooks/clerk HTTP/1.1\r\nhost: 127.0.0.1\r\ncont")
                        half_open.append((reader, writer))
                    flooding = [asyncio.create_task(f.run(stop)) for f in floods]
                    for f in floods:
                        await f.under_way.wait()
                    answers = [await post(f"msg_exhaust_{n}") for n in range(1, 6)]
                    still_open = sum(not reader.at_eof() for reader, _ in half_open)
                    stop.set()
                    await asyncio.gather(*flooding)
                    peak = await sampler
            finally:
                stop.set()
                for _, writer in half_open:
                    writer.close()
    assert still_open == HALF_OPEN  # every one was in progress throughout
    assert all(f.cut > 0 for f in floods)
    assert [status for status, _ in answers] == [200] * 5
    assert max(seconds for _, seconds in answers) < 2.0
    assert peak - baseline < RSS_GROWTH_BOUND_MIB, (baseline, peak)
