"""The HTTP server's limits on a request head: its size, and the time it may take to arrive."""

from __future__ import annotations

import asyncio
import contextlib
import time

import orjson

from gateway.app import GatewayApp
from service.storage.sqlite import SqliteStore
from tests.gateway.http_server import (
    HEALTHZ,
    SMALL,
    connect,
    read_response,
    read_to_end,
    serving,
    webhook_request,
)

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


async def test_a_head_begun_before_the_previous_clock_ran_out_gets_a_full_timeout(
    app: GatewayApp,
) -> None:
    # The connection's timer is still set for the first head's deadline when
    # the second head begins: it must set itself again for the later one.
    async with serving(app) as port:
        reader, writer = await connect(port)
        writer.write(HEALTHZ)
        first, _, _ = await read_response(reader)
        await asyncio.sleep(SMALL.header_timeout_s / 2)
        writer.write(HEALTHZ[:20])  # begins, then stalls
        began = time.monotonic()
        async with asyncio.timeout(5 * SMALL.header_timeout_s):
            second, _, answer = await read_response(reader)
        waited = time.monotonic() - began
        writer.close()
    assert (first, second, answer) == (200, 408, b"Request timeout.")
    assert waited >= SMALL.header_timeout_s * 0.9
