"""The HTTP server's limits on idle time: a body that stops, kept-alive connections."""

from __future__ import annotations

import asyncio
import time

import orjson

from gateway.app import GatewayApp, create_app
from gateway.settings import GatewaySettings
from service.storage import AppendResult
from service.storage.sqlite import SqliteStore
from tests.gateway.failing_publisher import FailingPublisher
from tests.gateway.http_server import (
    HEALTHZ,
    SMALL,
    connect,
    read_response,
    read_to_end,
    serving,
    webhook_request,
)

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


async def test_a_body_waiting_behind_a_slow_request_is_not_blamed_for_the_wait(
    settings: GatewaySettings,
) -> None:
    # The second request's head comes with the first; uvicorn stops reading
    # until the first is answered, 3 body timeouts later. Its body clock
    # starts again while it waits, then runs out once reading resumes.
    async def slow() -> AppendResult:
        await asyncio.sleep(3 * SMALL.body_timeout_s)
        return AppendResult(1, duplicate=False, stale=False)

    app = create_app(settings, FailingPublisher(slow))
    first_head, first_body = webhook_request("msg_pipelined_1")
    second_head, second_body = webhook_request("msg_pipelined_2")
    async with serving(app) as port:
        reader, writer = await connect(port)
        writer.write(first_head + first_body + second_head + second_body[:10])
        async with asyncio.timeout(10 * SMALL.body_timeout_s):
            first, _, answer = await read_response(reader)
            second, _, timeout_answer = await read_response(reader)
        writer.close()
    assert (first, orjson.loads(answer)) == (200, {"sequence": 1})
    assert (second, timeout_answer) == (408, b"Request timeout.")
