"""EventService.GetHead over a real server: the log's head and oldest retained sequence."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from clerkrelay.v1.event_service_pb2 import GetHeadRequest, GetHeadResponse
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from service.auth import Role
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage import Retention
from service.storage.sqlite import SqliteStore
from tests.history import event
from tests.service.conftest import OpenChannel, StartServer


async def test_empty_then_appended(
    store: SqliteStore, start_server: StartServer, open_channel: OpenChannel
) -> None:
    _, target = await start_server()
    stub = EventServiceStub(open_channel(target))
    empty = await stub.GetHead(GetHeadRequest(), timeout=10)
    assert empty == GetHeadResponse(head_sequence=0, oldest_retained_sequence=1)
    for i in range(3):
        await store.append(event("user.created", f"user_{i}"))
    appended = await stub.GetHead(GetHeadRequest(), timeout=10)
    assert appended == GetHeadResponse(head_sequence=3, oldest_retained_sequence=1)


async def test_after_retention_trimmed_the_log(tmp_path: Path, open_channel: OpenChannel) -> None:
    trimmed = await SqliteStore.open(
        tmp_path / "trimmed.db", Retention(max_count=3, interval_s=3600)
    )
    server = RelayServer(ServiceSettings(grpc_addr="127.0.0.1:0", shutdown_grace_s=1.0), trimmed)
    try:
        for i in range(10):
            await trimmed.append(event("user.created", f"user_{i}"))
        await trimmed.trim()
        stub = EventServiceStub(open_channel(f"127.0.0.1:{await server.start()}"))
        head = await stub.GetHead(GetHeadRequest(), timeout=10)
        assert head == GetHeadResponse(head_sequence=10, oldest_retained_sequence=8)
    finally:
        await server.stop()
        await trimmed.close()


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (None, grpc.StatusCode.UNAUTHENTICATED),
        ("ing-token-0001", grpc.StatusCode.PERMISSION_DENIED),
        ("sub-token-0001", grpc.StatusCode.OK),
        ("adm-token-0001", grpc.StatusCode.OK),
    ],
)
async def test_a_subscriber_call(
    start_server: StartServer,
    open_channel: OpenChannel,
    token: str | None,
    expected: grpc.StatusCode,
) -> None:
    tokens = {
        "sub-token-0001": Role.SUBSCRIBER,
        "ing-token-0001": Role.INGEST,
        "adm-token-0001": Role.ADMIN,
    }
    _, target = await start_server(ServiceSettings(tokens=tokens))
    stub = EventServiceStub(open_channel(target))
    metadata = () if token is None else (("authorization", f"Bearer {token}"),)
    try:
        await stub.GetHead(GetHeadRequest(), metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as error:
        assert error.code() == expected
    else:
        assert expected == grpc.StatusCode.OK
