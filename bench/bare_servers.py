"""The baselines: a bare Starlette endpoint, hand-written handlers and a bare grpc.aio server.

`python -m bench.bare_servers CONFIG` with `{"kind": "http" | "handler" | "grpc",
"port": …}`, each in a process pinned to the server CPU, as the relay is.

- `http`: one Starlette route, `POST /webhooks/clerk`, that reads the body and
  answers 204 — served by uvicorn with the relay's own configuration
  (`relay.runner.uvicorn_config`) and its default connection limits.
- `handler`: the hand-written handler of `bench.handlers` (svix verify,
  `json.loads`, a SQLite insert committed per webhook, and with `"upsert":
  true` the user's upsert in the same transaction), on the SQLite file `db`,
  verifying with `secret`; served by uvicorn exactly as `http` is.
- `grpc`: `clerkrelay.v1.EventService/Subscribe` on a generic handler with
  `response_serializer=None`; each stream has a bounded queue
  (`asyncio.Queue(1024)`) and yields one pre-built `SubscribeResponse` (one
  typical event, the size the relay sends) per stream message. While resumed,
  a publisher puts that message into every queue, waiting whenever one is
  full. This is the `aio_bytes` server of `perf-limits.md` §4: what grpc.aio
  delivers with no store, no filter and no batching.

Commands: `resume` / `pause` the grpc publisher (pausing also empties the
queues, so nothing is left to send into the next measurement). A stream sends
its initial metadata as soon as its queue is registered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import uvicorn
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench import jsonlines
from bench.cpus import SERVER_CPU, pin_self
from bench.handlers import WebhookDatabase, handler_app
from bench.payloads import typical_user_created
from clerkrelay.v1.event_pb2 import EventBatch
from clerkrelay.v1.event_service_pb2 import SubscribeResponse
from gateway.convert import convert
from gateway.http_limits import HttpLimits
from relay.runner import uvicorn_config
from tests.gateway.signing import body_of

__all__ = ["bare_app", "prebuilt_message"]

QUEUE_SIZE = 1024


def bare_app() -> Starlette:
    """A Starlette app whose webhook route reads the body and answers 204."""

    async def webhook(request: Request) -> Response:
        await request.body()
        return Response(status_code=204)

    return Starlette(routes=[Route("/webhooks/clerk", webhook, methods=["POST"])])


async def _serve_http(app: Starlette, port: int) -> None:
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, HttpLimits()))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            return
        await asyncio.sleep(0.01)
    jsonlines.emit("ready")
    try:
        await jsonlines.serve_commands({})
    finally:
        server.should_exit = True
        await task


def prebuilt_message() -> bytes:
    """A `SubscribeResponse` carrying one typical stored event (a 3.4 KB `user.created`)."""
    envelope = typical_user_created()
    event = convert(envelope, body_of(envelope), "msg_bare_1", 1_716_883_200_000_000_000).event
    event.sequence = 1
    return SubscribeResponse(events=EventBatch(events=[event])).SerializeToString()


class _FanOut:
    """Per-stream queues and the publisher that fills them."""

    def __init__(self, message: bytes) -> None:
        self._message = message
        self._queues: set[asyncio.Queue[bytes]] = set()
        self._running = asyncio.Event()
        self._changed = asyncio.Event()

    async def subscribe(
        self, request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> AsyncIterator[bytes]:
        """One stream: yields what the publisher queues for it."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        self._changed.set()
        await context.send_initial_metadata(())  # tells the subscriber it is registered
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)
            while not queue.empty():  # frees a publisher waiting on this queue
                queue.get_nowait()

    async def publish(self) -> None:
        """Puts the message into every queue, forever, while resumed."""
        message = self._message
        while True:
            await self._running.wait()
            if not self._queues:
                self._changed.clear()
                await self._changed.wait()
                continue
            for queue in list(self._queues):
                await queue.put(message)

    async def resume(self, command: dict[str, Any]) -> None:
        """Starts publishing."""
        self._running.set()
        jsonlines.emit("resumed")

    async def pause(self, command: dict[str, Any]) -> None:
        """Stops publishing and empties every queue (nothing is left to send)."""
        self._running.clear()
        for queue in self._queues:
            while not queue.empty():
                queue.get_nowait()
        jsonlines.emit("paused")


async def _serve_grpc(port: int) -> None:
    fan_out = _FanOut(prebuilt_message())
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "clerkrelay.v1.EventService",
                {
                    "Subscribe": grpc.unary_stream_rpc_method_handler(
                        fan_out.subscribe, request_deserializer=None, response_serializer=None
                    )
                },
            )
        ]
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    publisher = asyncio.create_task(fan_out.publish())
    jsonlines.emit("ready")
    try:
        await jsonlines.serve_commands({"resume": fan_out.resume, "pause": fan_out.pause})
    finally:
        publisher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publisher
        await server.stop(0)


async def _main() -> None:
    config = jsonlines.config()
    pin_self(int(config.get("cpu", SERVER_CPU)))
    port = int(config["port"])
    if config["kind"] == "http":
        await _serve_http(bare_app(), port)
    elif config["kind"] == "handler":
        database = WebhookDatabase(Path(config["db"]), upsert=bool(config.get("upsert")))
        try:
            await _serve_http(handler_app(database, str(config["secret"])), port)
        finally:
            database.close()
    else:
        await _serve_grpc(port)


if __name__ == "__main__":
    uvloop.run(_main())
