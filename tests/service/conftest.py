"""Service fixtures: a real SQLite store in `tmp_path` and real `RelayServer`s on 127.0.0.1:0.

`make_relay` starts one with the Subscribe side wired in, and a stub to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2

from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage import Store
from service.storage.sqlite import SqliteStore
from service.subscription import StreamLimits

if TYPE_CHECKING:
    from clerkrelay.v1.event_service_pb2_grpc import EventServiceAsyncStub

StartServer = Callable[..., Awaitable[tuple[RelayServer, str]]]
"""`start(settings=None, **relay_server_kwargs)` → (the started server, its `host:port`)."""

OpenChannel = Callable[..., grpc.aio.Channel]
"""`open_channel(target, credentials=None)` → a channel closed after the test."""


@pytest.fixture
async def start_server(store: SqliteStore) -> AsyncIterator[StartServer]:
    """Starts RelayServers over the test's store; stops them after the test."""
    started: list[RelayServer] = []

    async def start(
        settings: ServiceSettings | None = None, **kwargs: Any
    ) -> tuple[RelayServer, str]:
        base = settings or ServiceSettings()
        server = RelayServer(
            dataclasses.replace(base, grpc_addr="127.0.0.1:0", shutdown_grace_s=1.0),
            store,
            **kwargs,
        )
        port = await server.start()
        started.append(server)
        return server, f"127.0.0.1:{port}"

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def open_channel() -> AsyncIterator[OpenChannel]:
    """Opens client channels; closes them after the test."""
    channels: list[grpc.aio.Channel] = []

    def open_(target: str, credentials: grpc.ChannelCredentials | None = None) -> grpc.aio.Channel:
        if credentials is None:
            channel = grpc.aio.insecure_channel(target)
        else:
            channel = grpc.aio.secure_channel(
                target, credentials, options=[("grpc.ssl_target_name_override", "localhost")]
            )
        channels.append(channel)
        return channel

    yield open_
    for channel in channels:
        await channel.close(None)


@pytest.fixture
async def channel(start_server: StartServer, open_channel: OpenChannel) -> grpc.aio.Channel:
    """A channel to a default server (no tokens, no TLS, ingest exposed)."""
    _, target = await start_server()
    return open_channel(target)


@dataclasses.dataclass
class Relay:
    """A real server with the Subscribe side wired in, and a stub to it."""

    store: Store
    server: RelayServer
    stub: EventServiceAsyncStub
    channel: grpc.aio.Channel
    open_channel: OpenChannel
    target: str


MakeRelay = Callable[..., Awaitable[Relay]]
"""`make_relay(limits=None)` → a started server over the test's store, with its stub."""


@pytest.fixture
async def make_relay(
    store: SqliteStore, start_server: StartServer, open_channel: OpenChannel
) -> AsyncIterator[MakeRelay]:
    async def make(limits: StreamLimits | None = None) -> Relay:
        server, target = await start_server(stream_limits=limits or StreamLimits())
        channel = open_channel(target)
        return Relay(store, server, EventServiceStub(channel), channel, open_channel, target)

    yield make


def reflection_v1(
    channel: grpc.aio.Channel,
) -> grpc.aio.StreamStreamMultiCallable[
    reflection_pb2.ServerReflectionRequest, reflection_pb2.ServerReflectionResponse
]:
    """`grpc.reflection.v1.ServerReflection/ServerReflectionInfo`, with v1alpha's messages.

    grpcio-reflection ships no v1 stubs; the v1 messages are v1alpha's, field for field.
    """
    return channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
