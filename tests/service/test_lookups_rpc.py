"""EventService.GetEvent and ListEntityEvents over a real server and a real SQLite store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest

from clerkrelay.v1.event_service_pb2 import GetEventRequest, ListEntityEventsRequest
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from service.storage.sqlite import SqliteStore
from tests.history import event

if TYPE_CHECKING:
    from clerkrelay.v1.event_service_pb2_grpc import EventServiceAsyncStub


@pytest.fixture
async def stub(channel: grpc.aio.Channel) -> EventServiceAsyncStub:
    return EventServiceStub(channel)


async def test_get_event_by_sequence_and_by_id(
    store: SqliteStore, stub: EventServiceAsyncStub
) -> None:
    written = event("user.created", "user_a", webhook_id="msg_get_a")
    await store.append(event("user.created", "user_0"))
    await store.append(written)
    by_sequence = await stub.GetEvent(GetEventRequest(sequence=2), timeout=10)
    by_id = await stub.GetEvent(GetEventRequest(id="msg_get_a"), timeout=10)
    assert by_sequence == by_id
    assert (by_id.event.id, by_id.event.sequence) == ("msg_get_a", 2)
    assert by_id.event.raw_body == written.raw_body
    assert by_id.event.user_created.id == "user_a"


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (GetEventRequest(), grpc.StatusCode.INVALID_ARGUMENT, "a sequence (1 or more) or an id"),
        (GetEventRequest(sequence=0), grpc.StatusCode.INVALID_ARGUMENT, "sequence must be 1"),
        (GetEventRequest(id=""), grpc.StatusCode.INVALID_ARGUMENT, "a sequence (1 or more)"),
        (GetEventRequest(id="x" * 257), grpc.StatusCode.INVALID_ARGUMENT, "longer than 256"),
        (GetEventRequest(sequence=5), grpc.StatusCode.NOT_FOUND, "no event with sequence 5"),
        (GetEventRequest(sequence=2**64 - 1), grpc.StatusCode.NOT_FOUND, "no event has sequence"),
        (GetEventRequest(id="msg_never"), grpc.StatusCode.NOT_FOUND, "'msg_never'"),
    ],
)
async def test_get_event_errors(
    store: SqliteStore,
    stub: EventServiceAsyncStub,
    request_: GetEventRequest,
    code: grpc.StatusCode,
    message: str,
) -> None:
    await store.append(event("user.created", "user_a"))
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.GetEvent(request_, timeout=10)
    assert error.value.code() == code
    assert message in (error.value.details() or "")
    assert await store.head() == 1


async def test_entity_events_page_through_the_history(
    store: SqliteStore, stub: EventServiceAsyncStub
) -> None:
    for n in range(5):
        await store.append(event("user.updated", "user_h", at=1_700_000_000_000 + n))
        await store.append(event("session.created", f"sess_{n}", user_id="user_h"))
    await store.append(event("user.created", "user_other"))
    seen: list[tuple[int, str]] = []
    token = ""
    pages = 0
    while True:
        page = await stub.ListEntityEvents(
            ListEntityEventsRequest(entity_id="user_h", page_size=4, page_token=token), timeout=10
        )
        pages += 1
        assert page.snapshot_sequence == 11
        seen += [(e.sequence, e.type) for e in page.events]
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    assert [s for s, _ in seen] == list(range(1, 11))
    users = await stub.ListEntityEvents(
        ListEntityEventsRequest(entity_id="user_h", kind="user"), timeout=10
    )
    assert [e.sequence for e in users.events] == [1, 3, 5, 7, 9]
    assert users.next_page_token == ""


async def test_entity_events_errors(store: SqliteStore, stub: EventServiceAsyncStub) -> None:
    await store.append(event("user.updated", "user_h"))
    await store.append(event("user.updated", "user_h", at=1_700_000_000_001))
    first = await stub.ListEntityEvents(
        ListEntityEventsRequest(entity_id="user_h", page_size=1), timeout=10
    )
    cases = [
        (ListEntityEventsRequest(), "entity_id is required"),
        (ListEntityEventsRequest(entity_id="user_h", kind="users"), "unknown kind 'users'"),
        (ListEntityEventsRequest(entity_id="user_h", page_size=-1), "must not be negative"),
        (ListEntityEventsRequest(entity_id="user_h", page_token="!!"), "invalid page_token"),
        (
            ListEntityEventsRequest(entity_id="user_x", page_token=first.next_page_token),
            "does not match this request",
        ),
        (
            ListEntityEventsRequest(
                entity_id="user_h", kind="user", page_token=first.next_page_token
            ),
            "does not match this request",
        ),
    ]
    for request, message in cases:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.ListEntityEvents(request, timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert message in (error.value.details() or ""), request
    second = await stub.ListEntityEvents(
        ListEntityEventsRequest(entity_id="user_h", page_size=1, page_token=first.next_page_token),
        timeout=10,
    )
    assert [e.sequence for e in second.events] == [2]
