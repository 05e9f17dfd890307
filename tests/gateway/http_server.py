"""The gateway app served by a real uvicorn, and raw HTTP/1.1 on a socket to it.

Each limit is set small here (`SMALL`) so that its test is quick; the server
is the relay's own configuration (`relay.runner.uvicorn_config`) on
127.0.0.1, port 0, in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager

import orjson
import uvicorn

from clerkrelay.cli.samples import sample
from gateway.app import GatewayApp
from gateway.http_limits import HttpLimits
from relay.runner import uvicorn_config
from tests.gateway.signing import SECRET, signed_headers

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
