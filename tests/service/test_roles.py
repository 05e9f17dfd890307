"""Token roles on a real server: who may publish, who may read, and publishing without a token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest

from clerkrelay.v1.ingest_service_pb2 import PublishRequest
from clerkrelay.v1.ingest_service_pb2_grpc import (
    IngestServiceStub,
    add_IngestServiceServicer_to_server,
)
from clerkrelay.v1.state_service_pb2 import ListUsersRequest
from clerkrelay.v1.state_service_pb2_grpc import (
    StateServiceStub,
    add_StateServiceServicer_to_server,
)
from service.auth import AuthInterceptor, Role, is_local_peer
from service.errors import ErrorInterceptor
from service.ingest_servicer import IngestServicer
from service.settings import ServiceSettings
from service.state_servicer import StateServicer
from service.storage.sqlite import SqliteStore
from tests.history import event
from tests.service.conftest import OpenChannel, StartServer

ROLES = {
    "sub-token-0001": Role.SUBSCRIBER,
    "ing-token-0001": Role.INGEST,
    "adm-token-0001": Role.ADMIN,
}
TOKEN_OF = {role: token for token, role in ROLES.items()}


def bearer(role: Role | None) -> tuple[tuple[str, str], ...]:
    return () if role is None else (("authorization", f"Bearer {TOKEN_OF[role]}"),)


async def code_of(call: Awaitable[object]) -> tuple[grpc.StatusCode, str]:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.fixture
async def roles_channel(start_server: StartServer, open_channel: OpenChannel) -> grpc.aio.Channel:
    _, target = await start_server(ServiceSettings(tokens=ROLES))
    return open_channel(target)


@pytest.mark.parametrize(
    ("role", "expected", "details"),
    [
        (None, grpc.StatusCode.UNAUTHENTICATED, "missing bearer token"),
        (Role.SUBSCRIBER, grpc.StatusCode.PERMISSION_DENIED, "role may not call"),
        (Role.INGEST, grpc.StatusCode.OK, ""),
        (Role.ADMIN, grpc.StatusCode.OK, ""),
    ],
)
async def test_publish_needs_an_ingest_or_admin_token(
    roles_channel: grpc.aio.Channel,
    store: SqliteStore,
    role: Role | None,
    expected: grpc.StatusCode,
    details: str,
) -> None:
    forged = event("user.created", "user_forged")
    call = IngestServiceStub(roles_channel).Publish(
        PublishRequest(event=forged), metadata=bearer(role)
    )
    code, text = await code_of(call)
    assert (code, details in text) == (expected, True)
    assert await store.head() == (1 if expected == grpc.StatusCode.OK else 0)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (None, grpc.StatusCode.UNAUTHENTICATED),
        (Role.SUBSCRIBER, grpc.StatusCode.OK),
        (Role.INGEST, grpc.StatusCode.PERMISSION_DENIED),
        (Role.ADMIN, grpc.StatusCode.OK),
    ],
)
async def test_reading_needs_a_subscriber_or_admin_token(
    roles_channel: grpc.aio.Channel, role: Role | None, expected: grpc.StatusCode
) -> None:
    call = StateServiceStub(roles_channel).ListUsers(ListUsersRequest(), metadata=bearer(role))
    assert (await code_of(call))[0] == expected


async def test_without_tokens_publishing_from_this_host_works(
    channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    response = await IngestServiceStub(channel).Publish(
        PublishRequest(event=event("user.created", "user_1"))
    )
    assert response.sequence == 1
    assert await store.head() == 1


async def test_subscriber_tokens_only_leave_publishing_to_this_host(
    start_server: StartServer, open_channel: OpenChannel, store: SqliteStore
) -> None:
    _, target = await start_server(ServiceSettings(tokens={"sub-token-0001": Role.SUBSCRIBER}))
    stub = IngestServiceStub(open_channel(target))
    as_subscriber = stub.Publish(
        PublishRequest(event=event("user.created", "user_1")), metadata=bearer(Role.SUBSCRIBER)
    )
    assert (await code_of(as_subscriber))[0] == grpc.StatusCode.PERMISSION_DENIED
    local = await stub.Publish(PublishRequest(event=event("user.created", "user_2")))
    assert local.sequence == 1


RemoteServer = Callable[[dict[str, Role]], Awaitable[grpc.aio.Channel]]


@pytest.fixture
async def remote_server(store: SqliteStore) -> AsyncIterator[RemoteServer]:
    """A server that takes every caller for one on another host (the seam: `is_local`)."""
    servers: list[grpc.aio.Server] = []
    channels: list[grpc.aio.Channel] = []

    async def start(tokens: dict[str, Role]) -> grpc.aio.Channel:
        server = grpc.aio.server(
            interceptors=[AuthInterceptor(tokens, is_local=lambda peer: False), ErrorInterceptor()],
        )
        add_IngestServiceServicer_to_server(IngestServicer(store), server)
        # Its methods are set from the descriptor at import: mypy cannot see them.
        add_StateServiceServicer_to_server(StateServicer(store), server)  # type: ignore[abstract]
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{port}"))
        return channels[-1]

    yield start
    for channel in channels:
        await channel.close(None)
    for server in servers:
        await server.stop(None)


@pytest.mark.parametrize("tokens", [{}, {"sub-token-0001": Role.SUBSCRIBER}])
async def test_publishing_from_another_host_without_an_ingest_token_is_refused(
    remote_server: RemoteServer, store: SqliteStore, tokens: dict[str, Role]
) -> None:
    channel = await remote_server(tokens)
    call = IngestServiceStub(channel).Publish(PublishRequest(event=event("user.created", "u_1")))
    assert await code_of(call) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "publishing needs an ingest token, or a caller on this host",
    )
    assert await store.head() == 0
    if not tokens:  # reading stays open when authentication is off
        listed = await StateServiceStub(channel).ListUsers(ListUsersRequest())
        assert listed.snapshot_sequence == 0


async def test_publishing_from_another_host_with_an_ingest_token_works(
    remote_server: RemoteServer, store: SqliteStore
) -> None:
    channel = await remote_server(ROLES)
    response = await IngestServiceStub(channel).Publish(
        PublishRequest(event=event("user.created", "u_1")), metadata=bearer(Role.INGEST)
    )
    assert response.sequence == 1


@pytest.mark.parametrize(
    ("peer", "local"),
    [
        ("ipv4:127.0.0.1:5000", True),
        ("ipv4:127.8.9.10:1", True),
        ("ipv6:[::1]:5000", True),
        ("ipv6:[::ffff:127.0.0.1]:5000", True),
        ("unix:/run/relay.sock", True),
        ("unix-abstract:relay", True),
        ("ipv4:10.0.0.7:5000", False),
        ("ipv4:192.168.1.2:5000", False),
        ("ipv6:[2001:db8::1]:5000", False),
        ("ipv6:[::ffff:10.0.0.1]:5000", False),
        ("ipv4:localhost:5000", False),
        ("", False),
        ("vsock:3:5000", False),
    ],
)
def test_is_local_peer(peer: str, local: bool) -> None:
    assert is_local_peer(peer) is local
