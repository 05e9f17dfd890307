"""The error interceptor maps domain errors to statuses for every handler shape, over the wire."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest

import service.errors
from service.errors import InvalidArgument, NotFound, status_of
from service.storage import BeforeRetention, StoreError, StoreUnavailable
from tests.service.conftest import OpenChannel, StartServer

Context = grpc.aio.ServicerContext[bytes, bytes]

ERRORS: dict[bytes, Exception] = {
    b"invalid": InvalidArgument("bad filter: 'user.**'"),
    b"missing": NotFound("no user with id 'u' has been seen"),
    b"trimmed": BeforeRetention(requested_after=2, oldest_retained=5),
    b"down": StoreUnavailable("database is locked"),
    b"broken": StoreError("disk I/O error"),
}

EXPECTED = {
    b"invalid": (grpc.StatusCode.INVALID_ARGUMENT, "bad filter: 'user.**'"),
    b"missing": (grpc.StatusCode.NOT_FOUND, "no user with id 'u' has been seen"),
    b"trimmed": (
        grpc.StatusCode.OUT_OF_RANGE,
        "sequence 3 is no longer retained; the oldest retained sequence is 5",
    ),
    b"down": (grpc.StatusCode.UNAVAILABLE, "store unavailable: database is locked"),
    b"broken": (grpc.StatusCode.INTERNAL, "store error: disk I/O error"),
}


class Probe:
    """Handlers of every shape that fail with the error their request names."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()
        self.started = asyncio.Event()

    async def unary(self, request: bytes, context: Context) -> bytes:
        raise ERRORS[request]

    async def stream(self, request: bytes, context: Context) -> AsyncIterator[bytes]:
        yield b"one"
        yield b"two"
        raise ERRORS[request]

    async def writer(self, request: bytes, context: Context) -> None:
        await context.write(b"one")
        raise ERRORS[request]

    async def endless(self, request: bytes, context: Context) -> AsyncIterator[bytes]:
        try:
            yield b"first"
            self.started.set()
            await asyncio.Event().wait()
            yield b"never"
        finally:
            self.closed.set()

    async def crash(self, request: bytes, context: Context) -> bytes:
        raise RuntimeError("a bug")

    def handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        # No serializers at all: requests and responses are bytes, like EventService.
        return grpc.method_handlers_generic_handler(
            "test.Probe",
            {
                "Unary": grpc.unary_unary_rpc_method_handler(self.unary),
                "Stream": grpc.unary_stream_rpc_method_handler(self.stream),
                "Writer": grpc.unary_stream_rpc_method_handler(self.writer),
                "Endless": grpc.unary_stream_rpc_method_handler(self.endless),
                "Crash": grpc.unary_unary_rpc_method_handler(self.crash),
            },
        )


@pytest.fixture
async def probe_channel(
    start_server: StartServer, open_channel: OpenChannel
) -> tuple[Probe, grpc.aio.Channel]:
    probe = Probe()
    _, target = await start_server(extra_handlers=[probe.handler()])
    return probe, open_channel(target)


def unary(channel: grpc.aio.Channel, name: str) -> Callable[..., Any]:
    return channel.unary_unary(f"/test.Probe/{name}", None, None)


def streaming(channel: grpc.aio.Channel, name: str) -> Callable[..., Any]:
    return channel.unary_stream(f"/test.Probe/{name}", None, None)


@pytest.mark.parametrize("kind", list(ERRORS))
async def test_unary(kind: bytes, probe_channel: tuple[Probe, grpc.aio.Channel]) -> None:
    _, channel = probe_channel
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await unary(channel, "Unary")(kind, timeout=5)
    assert (caught.value.code(), caught.value.details()) == EXPECTED[kind]


@pytest.mark.parametrize("kind", list(ERRORS))
async def test_async_generator_stream(
    kind: bytes, probe_channel: tuple[Probe, grpc.aio.Channel]
) -> None:
    _, channel = probe_channel
    received: list[bytes] = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for message in streaming(channel, "Stream")(kind, timeout=5):
            received.append(message)
    assert received == [b"one", b"two"]
    assert (caught.value.code(), caught.value.details()) == EXPECTED[kind]


@pytest.mark.parametrize("kind", list(ERRORS))
async def test_reader_writer_stream(
    kind: bytes, probe_channel: tuple[Probe, grpc.aio.Channel]
) -> None:
    _, channel = probe_channel
    received: list[bytes] = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for message in streaming(channel, "Writer")(kind, timeout=5):
            received.append(message)
    assert received == [b"one"]
    assert (caught.value.code(), caught.value.details()) == EXPECTED[kind]


async def test_cancelled_stream_closes_the_inner_generator(
    probe_channel: tuple[Probe, grpc.aio.Channel],
) -> None:
    probe, channel = probe_channel
    call = streaming(channel, "Endless")(b"", timeout=5)
    assert await call.read() == b"first"
    await asyncio.wait_for(probe.started.wait(), 5)
    call.cancel()
    await asyncio.wait_for(probe.closed.wait(), 5)


async def test_other_exceptions_are_not_mapped(
    probe_channel: tuple[Probe, grpc.aio.Channel],
) -> None:
    _, channel = probe_channel
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await unary(channel, "Crash")(b"", timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    assert status_of(RuntimeError("a bug")) is None


def test_public_surface_is_pinned() -> None:
    assert sorted(service.errors.__all__) == [
        "Aborted",
        "AlreadyExists",
        "ErrorInterceptor",
        "FailedPrecondition",
        "InvalidArgument",
        "NotFound",
        "ServiceError",
        "quoted",
        "status_of",
    ]
