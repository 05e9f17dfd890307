"""One test per row of the limits table (`clerkrelay.limits`), at each hop that enforces it.

Readers use gRPC's default limits throughout: whatever the relay accepted, a
default client can receive.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest

import clerkrelay.limits as limits
from clerkrelay.cli.samples import sample
from clerkrelay.v1.event_pb2 import Event, PayloadOmission
from clerkrelay.v1.event_service_pb2 import SubscribeRequest, SubscribeResponse
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from clerkrelay.v1.ingest_service_pb2 import PublishRequest
from clerkrelay.v1.ingest_service_pb2_grpc import IngestServiceStub
from clerkrelay.v1.state_service_pb2 import ListUsersRequest
from clerkrelay.v1.state_service_pb2_grpc import StateServiceStub
from gateway.app import create_app
from gateway.publisher import GrpcPublisher, StorePublisher
from gateway.settings import GatewaySettings
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage.sqlite import SqliteStore
from service.wire import event_batches, event_message
from tests.gateway.signing import SECRET, body_of, signed_headers
from tests.history import copy_event, event

PATH = "/webhooks/clerk"


def user_body(user_id: str, **data: Any) -> bytes:
    envelope = sample("user.updated")
    return body_of(dict(envelope, data=dict(envelope["data"], id=user_id, **data)))


async def deliver(app: Any, body: bytes, webhook_id: str) -> tuple[int, Any]:
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://relay.test") as client:
        headers = signed_headers(body, webhook_id=webhook_id)
        response = await client.post(PATH, content=body, headers=headers)
    return response.status_code, response.json()


@pytest.fixture
async def relay(store: SqliteStore) -> AsyncIterator[str]:
    """A real relay gRPC server (events, state, ingest) over the test's store."""
    settings = ServiceSettings(grpc_addr="127.0.0.1:0", shutdown_grace_s=1.0)
    server = RelayServer(settings, store)
    port = await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop()


async def read_all(target: str) -> list[Event]:
    """Every event from sequence 0, through a client with gRPC's default limits."""
    async with grpc.aio.insecure_channel(target) as channel:
        call = EventServiceStub(channel).Subscribe(SubscribeRequest(after_sequence=0), timeout=20)
        events: list[Event] = []
        async for response in call:
            assert isinstance(response, SubscribeResponse)
            if response.HasField("events"):
                events.extend(response.events.events)
            if response.HasField("caught_up"):
                call.cancel()
                break
        return events


# -- body -----------------------------------------------------------------------------


def test_body_limit_cannot_be_set_past_the_ceiling() -> None:
    GatewaySettings(secrets=(SECRET,), max_body_bytes=limits.MAX_BODY_BYTES_CEILING)
    with pytest.raises(ValueError, match="max_body_bytes must be between 1 and"):
        GatewaySettings(secrets=(SECRET,), max_body_bytes=limits.MAX_BODY_BYTES_CEILING + 1)


async def test_body_over_the_limit_is_413(store: SqliteStore) -> None:
    app = create_app(GatewaySettings(secrets=(SECRET,)), StorePublisher(store))
    body = user_body("user_big", unsafe_metadata={"pad": "x" * limits.DEFAULT_MAX_BODY_BYTES})
    assert await deliver(app, body, "msg_big") == (413, {"error": "body too large"})
    assert await store.head() == 0


# -- typed event ----------------------------------------------------------------------


async def test_body_whose_typed_event_is_too_large_is_stored_untyped_and_readable(
    store: SqliteStore, relay: str
) -> None:
    """The largest body an operator may allow, whose typed view doubles it: still delivered."""
    settings = GatewaySettings(secrets=(SECRET,), max_body_bytes=limits.MAX_BODY_BYTES_CEILING)
    app = create_app(settings, StorePublisher(store))
    pad = "x" * (limits.MAX_BODY_BYTES_CEILING - 8 * 1024)
    body = user_body("user_wide", unsafe_metadata={"pad": pad})
    assert len(body) <= limits.MAX_BODY_BYTES_CEILING
    assert await deliver(app, body, "msg_wide") == (200, {"sequence": 1})
    [stored] = [row.event() for row in (await store.read(0, 10)).events]
    assert stored.payload_omission == PayloadOmission.PAYLOAD_OMISSION_TOO_LARGE
    assert stored.WhichOneof("payload") is None
    assert stored.raw_body == body
    [read] = await read_all(relay)
    assert read.raw_body == body


# -- gateway → ingest -----------------------------------------------------------------


async def test_largest_event_crosses_from_gateway_to_ingest_with_default_limits(
    store: SqliteStore, relay: str
) -> None:
    settings = GatewaySettings(secrets=(SECRET,), max_body_bytes=limits.MAX_BODY_BYTES_CEILING)
    pad = "x" * (limits.MAX_BODY_BYTES_CEILING - 8 * 1024)
    body = user_body("user_wide", unsafe_metadata={"pad": pad})
    async with grpc.aio.insecure_channel(relay) as channel:  # default message limits
        app = create_app(settings, GrpcPublisher(channel, timeout_s=20))
        assert await deliver(app, body, "msg_wide") == (200, {"sequence": 1})
    [row] = (await store.read(0, 10)).events
    assert row.event().raw_body == body


async def test_ingest_refuses_an_event_over_the_typed_event_limit(
    store: SqliteStore, relay: str
) -> None:
    huge = copy_event(event("user.created", "user_1"))
    huge.raw_body = json.dumps({"type": "user.created", "pad": "x" * (3 << 20)}).encode()
    async with grpc.aio.insecure_channel(relay) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await IngestServiceStub(channel).Publish(PublishRequest(event=huge))
    # Over the typed event limit, under gRPC's 4 MiB receive limit: Publish checks it.
    assert huge.ByteSize() < limits.DEFAULT_CLIENT_RECEIVE_BYTES
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"event is over {limits.MAX_EVENT_BYTES} bytes",
    )
    assert await store.head() == 0


# -- stream messages ------------------------------------------------------------------


def test_stream_batches_never_exceed_a_default_client_limit() -> None:
    wide = copy_event(event("user.updated", "user_1"))
    wide.user_updated.unsafe_metadata_json = json.dumps({"pad": "x" * (2 << 20)})
    events = [copy_event(wide).SerializeToString() for _ in range(4)]
    for message in event_batches(events, max_events=500, max_bytes=limits.MAX_MESSAGE_BYTES):
        assert len(message) <= limits.MAX_MESSAGE_BYTES
    assert (
        sum(
            len(SubscribeResponse.FromString(m).events.events)
            for m in event_batches(events, max_events=500, max_bytes=limits.MAX_MESSAGE_BYTES)
        )
        == 4
    )


def test_stored_event_over_the_typed_limit_is_sent_without_its_payload() -> None:
    """An event stored before the limit existed still reaches a default client."""
    legacy = copy_event(event("user.updated", "user_1"))
    legacy.user_updated.unsafe_metadata_json = "x" * (5 << 20)
    legacy.sequence = 7
    [message] = event_batches([legacy.SerializeToString()], 500, 1 << 20)
    assert event_message(legacy.SerializeToString()) == message  # a live event sent alone
    assert len(message) <= limits.MAX_MESSAGE_BYTES
    [sent] = SubscribeResponse.FromString(message).events.events
    assert sent.WhichOneof("payload") is None
    assert sent.payload_omission == PayloadOmission.PAYLOAD_OMISSION_TOO_LARGE
    assert (sent.sequence, sent.id, sent.raw_body) == (7, legacy.id, legacy.raw_body)


def test_batch_limit_cannot_be_set_past_a_default_client_limit() -> None:
    ServiceSettings(max_batch_bytes=limits.MAX_MESSAGE_BYTES)
    with pytest.raises(ValueError, match="max_batch_bytes must be between 1 and"):
        ServiceSettings(max_batch_bytes=limits.MAX_MESSAGE_BYTES + 1)


# -- state pages ----------------------------------------------------------------------


async def test_state_pages_are_cut_to_fit_a_default_client(store: SqliteStore, relay: str) -> None:
    for n in range(6):  # six users of ~1.5 MiB each: at most two fit in one page
        wide = copy_event(event("user.created", f"user_{n}", webhook_id=f"msg_{n}"))
        wide.user_created.unsafe_metadata_json = json.dumps({"pad": "x" * (3 << 19)})
        await store.append(wide)
    seen: list[str] = []
    token = ""
    async with grpc.aio.insecure_channel(relay) as channel:
        stub = StateServiceStub(channel)
        for _ in range(6):
            page = await stub.ListUsers(ListUsersRequest(page_size=100, page_token=token))
            assert 1 <= len(page.users) <= 2
            seen += [record.user.id for record in page.users]
            token = page.next_page_token
            if not token:
                break
    assert seen == [f"user_{n}" for n in range(6)]


# -- ids ------------------------------------------------------------------------------


async def test_event_type_over_the_limit_is_a_400(store: SqliteStore) -> None:
    app = create_app(GatewaySettings(secrets=(SECRET,)), StorePublisher(store))
    body = body_of(dict(sample("user.created"), type="user." + "x" * 300))
    assert await deliver(app, body, "msg_type") == (400, {"error": "event type over 256 bytes"})
    assert await store.head() == 0
