"""IngestService.Publish over a real channel to a real server and a real SQLite store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

import service.ingest_servicer
from clerkrelay.v1.event_pb2 import Event, EventOrigin, PayloadOmission
from clerkrelay.v1.ingest_service_pb2 import PublishRequest, PublishResponse
from clerkrelay.v1.ingest_service_pb2_grpc import IngestServiceStub
from service.settings import ServiceSettings
from service.storage.sqlite import SqliteStore
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


NOT_OF_TYPE = "event.raw_body is not the JSON of an event of event.type"


def _forged(change: Callable[[Event], None], base: Event | None = None) -> PublishRequest:
    forged = copy_event(base or event("user.created", "user_1", T0, webhook_id="msg_f"))
    change(forged)
    return PublishRequest(event=forged)


def _set(**fields: Any) -> Callable[[Event], None]:
    def change(e: Event) -> None:
        for name, value in fields.items():
            setattr(e, name, value)

    return change


def _payload_of_another_type(e: Event) -> None:
    e.organization_deleted.id = "org_1"  # replaces the user_created case


def _other_entity(e: Event) -> None:
    e.user_created.id = "user_someone_else"


def _no_payload(e: Event) -> None:
    e.ClearField("payload")


def _omission_and_payload(e: Event) -> None:
    e.payload_omission = PayloadOmission.PAYLOAD_OMISSION_TOO_LARGE


@pytest.mark.parametrize(
    ("request_", "details"),
    [
        (_forged(_set(type="organization.deleted")), NOT_OF_TYPE),
        (
            _forged(_payload_of_another_type),
            "payload organization_deleted does not match event.type user.created",
        ),
        (_forged(_set(raw_body=b"not json")), "event.raw_body is not JSON"),
        (_forged(_set(raw_body=b"[1]")), NOT_OF_TYPE),
        (_forged(_other_entity), "the payload's id is not the raw body's data.id"),
        (
            _forged(_no_payload),
            "event of type user.created needs its payload (user_created) "
            "or the reason it is left out (payload_omission)",
        ),
        (_forged(_omission_and_payload), "payload_omission is set, but so is the payload"),
        (_forged(_set(stale=True)), "event.stale must be false: the store decides it"),
        (
            _forged(_set(origin=EventOrigin.EVENT_ORIGIN_RECONCILIATION)),
            "event.origin and event.reconcile_pass are the relay's own to set",
        ),
        (
            _forged(_set(reconcile_pass="p1")),
            "event.origin and event.reconcile_pass are the relay's own to set",
        ),
        (
            _forged(_set(id="reconcile_p1_user_user_1_1")),
            "event.id must not begin 'reconcile_': reconciliation's",
        ),
        (_forged(_set(id="m" * 257)), "event.id is over 256 bytes"),
        (_forged(_set(id="é" * 129)), "event.id is over 256 bytes"),
        (_forged(_set(type="t" * 257)), "event.type is over 256 bytes"),
        (_forged(_set(raw_body=b" " * (3 << 20))), "event is over 3145728 bytes"),
    ],
    ids=[
        "type-of-another-event", "payload-of-another-type", "raw-not-json", "raw-not-an-event",
        "payload-of-another-entity", "known-type-without-payload", "omission-with-payload",
        "stale", "origin", "reconcile-pass", "reconcile-id",
        "long-id", "long-utf8-id", "long-type", "too-large",
    ],
)  # fmt: skip
async def test_contradictory_or_oversized_publish_is_refused(
    request_: PublishRequest, details: str, channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await IngestServiceStub(channel).Publish(request_)
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        details,
    )
    assert await store.head() == 0


async def test_known_type_left_untyped_with_a_reason_is_stored(
    channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    request_ = _forged(_no_payload)
    request_.event.payload_omission = PayloadOmission.PAYLOAD_OMISSION_TOO_DEEP
    response = await IngestServiceStub(channel).Publish(request_)
    assert response.sequence == 1
    [stored] = (await store.read(0, 10)).events
    assert stored.event().payload_omission == PayloadOmission.PAYLOAD_OMISSION_TOO_DEEP


def test_public_surface_is_pinned() -> None:
    assert sorted(service.ingest_servicer.__all__) == ["IngestServicer", "SERVICE_NAME", "validate"]
