"""IngestService.Publish over a real channel to a real server and a real SQLite store."""

from __future__ import annotations

import grpc
import pytest

import service.ingest_servicer
from clerkrelay.v1.event_pb2 import Event
from clerkrelay.v1.ingest_service_pb2 import PublishRequest, PublishResponse
from clerkrelay.v1.ingest_service_pb2_grpc import IngestServiceStub
from service.settings import ServiceSettings
from service.sqlite_store import SqliteStore
from tests.history import copy_event, event
from tests.service.conftest import OpenChannel, StartServer

T0 = 1_700_000_000_000


async def test_publish_stores_the_event(channel: grpc.aio.Channel, store: SqliteStore) -> None:
    published = event("user.created", "user_1", T0, webhook_id="msg_a")
    response = await IngestServiceStub(channel).Publish(PublishRequest(event=published))
    assert response == PublishResponse(sequence=1, duplicate=False, stale=False)
    [stored] = (await store.read(0, 10)).events
    assert stored.event().id == "msg_a"
    assert stored.event().raw_body == published.raw_body
    assert stored.event().sequence == 1


async def test_duplicate_answers_the_original_sequence(
    channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    stub = IngestServiceStub(channel)
    first = event("user.created", "user_1", T0, webhook_id="msg_a")
    await stub.Publish(PublishRequest(event=copy_event(first)))
    await stub.Publish(PublishRequest(event=event("user.created", "user_2", T0)))
    again = await stub.Publish(PublishRequest(event=copy_event(first)))
    assert again == PublishResponse(sequence=1, duplicate=True, stale=False)
    assert await store.head() == 2


async def test_older_update_is_stored_but_stale(
    channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    stub = IngestServiceStub(channel)
    await stub.Publish(PublishRequest(event=event("user.updated", "user_1", T0 + 10)))
    older = await stub.Publish(PublishRequest(event=event("user.updated", "user_1", T0)))
    assert older == PublishResponse(sequence=2, duplicate=False, stale=True)


@pytest.mark.parametrize(
    ("request_", "details"),
    [
        (PublishRequest(), "event is required"),
        (PublishRequest(event=Event(type="user.created")), "event.id (the webhook id) is required"),
        (PublishRequest(event=Event(id="msg_1")), "event.type is required"),
        (
            PublishRequest(event=Event(id="msg_1", type="user.created", sequence=7)),
            "event.sequence must be 0: the store assigns it (got 7)",
        ),
    ],
    ids=["no-event", "no-id", "no-type", "with-sequence"],
)
async def test_bad_request_is_invalid_argument(
    request_: PublishRequest, details: str, channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await IngestServiceStub(channel).Publish(request_)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == details
    assert await store.head() == 0


async def test_unavailable_store_is_unavailable(
    channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    await store.close()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await IngestServiceStub(channel).Publish(PublishRequest(event=event("user.created", "u")))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert (caught.value.details() or "").startswith("store unavailable: ")


async def test_not_served_when_the_gateway_runs_in_process(
    start_server: StartServer, open_channel: OpenChannel, store: SqliteStore
) -> None:
    _, target = await start_server(ServiceSettings(expose_ingest=False))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await IngestServiceStub(open_channel(target)).Publish(
            PublishRequest(event=event("user.created", "user_1"))
        )
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert await store.head() == 0


def test_public_surface_is_pinned() -> None:
    assert sorted(service.ingest_servicer.__all__) == ["IngestServicer", "SERVICE_NAME", "validate"]
