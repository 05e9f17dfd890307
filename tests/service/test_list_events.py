"""`EventService.ListEvents`: the log as paged rows, filtered as Subscribe filters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

import service.event_listing
from clerkrelay import RelayClient
from clerkrelay.limits import DEFAULT_CLIENT_RECEIVE_BYTES
from clerkrelay.v1.event_service_pb2 import (
    ListEntityEventsRequest,
    ListEventsRequest,
    ListEventsResponse,
)
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from service.event_listing import list_events
from service.storage import BeforeRetention, Retention
from service.storage.sqlite import SqliteStore
from tests.history import event
from tests.service.conftest import OpenChannel, StartServer

if TYPE_CHECKING:
    from clerkrelay.v1.event_service_pb2_grpc import EventServiceAsyncStub

TYPES = ["user.created", "session.created", "user.updated", "organization.created"]


async def _seed(store: SqliteStore, count: int) -> None:
    for number in range(count):
        await store.append(event(TYPES[number % 4], f"id_{number % 4}_{number}"))


async def _all_pages(
    stub: EventServiceAsyncStub, request: ListEventsRequest
) -> list[ListEventsResponse]:
    pages = [await stub.ListEvents(request)]
    while pages[-1].next_page_token:
        request.page_token = pages[-1].next_page_token
        pages.append(await stub.ListEvents(request))
    return pages


async def test_pages_hold_the_matching_events_once_in_order_up_to_the_snapshot(
    store: SqliteStore, start_server: StartServer, open_channel: OpenChannel
) -> None:
    await _seed(store, 25)
    _, target = await start_server()
    stub: EventServiceAsyncStub = EventServiceStub(open_channel(target))
    first = await stub.ListEvents(ListEventsRequest(event_types=["user.*"], page_size=4))
    assert [e.sequence for e in first.events] == [1, 3, 5, 7]
    assert first.snapshot_sequence == 25
    await store.append(event("user.created", "user_late"))  # 26: after the listing began
    request = ListEventsRequest(event_types=["user.*"], page_size=4)
    request.page_token = first.next_page_token
    rest = await _all_pages(stub, request)
    sequences = [e.sequence for page in [first, *rest] for e in page.events]
    assert sequences == list(range(1, 26, 2))
    assert all(page.snapshot_sequence == 25 for page in rest)
    assert rest[-1].next_page_token == ""
    assert {e.type for page in rest for e in page.events} == {"user.created", "user.updated"}


async def test_start_and_until_bound_the_listing(
    store: SqliteStore, start_server: StartServer, open_channel: OpenChannel
) -> None:
    await _seed(store, 4)
    await asyncio.sleep(0.01)
    middle = Timestamp()
    middle.GetCurrentTime()
    await asyncio.sleep(0.01)
    await _seed(store, 4)  # 5…8, received after `middle`
    _, target = await start_server()
    stub: EventServiceAsyncStub = EventServiceStub(open_channel(target))
    before = await stub.ListEvents(ListEventsRequest(until=middle))
    assert [e.sequence for e in before.events] == [1, 2, 3, 4]
    assert before.next_page_token == ""
    since = await stub.ListEvents(ListEventsRequest(since=middle))
    assert [e.sequence for e in since.events] == [5, 6, 7, 8]
    after = await stub.ListEvents(ListEventsRequest(after_sequence=6, entity_ids=["id_3_3"]))
    assert [(e.sequence, e.type) for e in after.events] == [(8, "organization.created")]


async def test_a_sparse_filter_returns_short_pages_with_a_token(
    store: SqliteStore,
    start_server: StartServer,
    open_channel: OpenChannel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service.event_listing, "SCAN_ROWS", 5)
    await _seed(store, 12)
    await store.append(event("waitlistEntry.created", "wait_1"))  # 13: the only match
    _, target = await start_server()
    stub: EventServiceAsyncStub = EventServiceStub(open_channel(target))
    pages = await _all_pages(stub, ListEventsRequest(event_types=["waitlistEntry.*"]))
    assert [[e.sequence for e in page.events] for page in pages] == [[], [], [13]]


async def test_large_events_are_split_over_pages_a_default_client_can_receive(
    store: SqliteStore, start_server: StartServer, open_channel: OpenChannel
) -> None:
    for number in range(3):
        await store.append(event("user.updated", "user_big", note="x" * 1_500_000 + str(number)))
    _, target = await start_server()
    channel = open_channel(target)  # gRPC's default receive limit
    stub: EventServiceAsyncStub = EventServiceStub(channel)
    pages = await _all_pages(stub, ListEventsRequest())
    assert [[e.sequence for e in page.events] for page in pages] == [[1, 2], [3]]
    assert all(page.ByteSize() < DEFAULT_CLIENT_RECEIVE_BYTES for page in pages)
    history = [await stub.ListEntityEvents(ListEntityEventsRequest(entity_id="user_big"))]
    while history[-1].next_page_token:
        history.append(
            await stub.ListEntityEvents(
                ListEntityEventsRequest(
                    entity_id="user_big", page_token=history[-1].next_page_token
                )
            )
        )
    assert [[e.sequence for e in page.events] for page in history] == [[1, 2], [3]]


async def _code(call: Awaitable[object]) -> tuple[grpc.StatusCode, str]:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    raise AssertionError("the call succeeded")


async def test_bad_requests_are_refused(
    store: SqliteStore, start_server: StartServer, open_channel: OpenChannel
) -> None:
    await _seed(store, 6)
    _, target = await start_server()
    stub: EventServiceAsyncStub = EventServiceStub(open_channel(target))
    code, details = await _code(stub.ListEvents(ListEventsRequest(event_types=["user.*.x"])))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "invalid event type pattern" in details
    code, _ = await _code(stub.ListEvents(ListEventsRequest(page_size=-1)))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    page = await stub.ListEvents(ListEventsRequest(event_types=["user.*"], page_size=1))
    other = ListEventsRequest(event_types=["session.*"], page_token=page.next_page_token)
    code, details = await _code(stub.ListEvents(other))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token does not match this request" in details
    forged = ListEventsRequest(event_types=["user.*"], page_token=page.next_page_token[:-2] + "AA")
    code, details = await _code(stub.ListEvents(forged))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "invalid page_token" in details
    out_of_range = Timestamp(seconds=2**62)
    code, details = await _code(stub.ListEvents(ListEventsRequest(since=out_of_range)))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "invalid since" in details


async def test_the_python_client_pages_through_a_listing(
    store: SqliteStore, start_server: StartServer
) -> None:
    await _seed(store, 9)
    _, target = await start_server()
    async with RelayClient(target) as client:
        users = [e.sequence async for e in client.list_events(event_types=["user.*"], page_size=2)]
        assert users == [1, 3, 5, 7, 9]
        later = [e.sequence async for e in client.list_events(after_sequence=6)]
        assert later == [7, 8, 9]
        upcoming = datetime.now(UTC) + timedelta(hours=1)
        assert [e async for e in client.list_events(since=upcoming)] == []
        everything = [e.sequence async for e in client.list_events(until=upcoming)]
        assert everything == list(range(1, 10))


async def test_a_start_before_the_retained_log_is_out_of_range_as_for_subscribe(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "trimmed.db", Retention(max_count=3))
    try:
        await _seed(store, 6)
        assert await store.trim() == 3
        long_ago = Timestamp(seconds=946_684_800)  # 2000-01-01
        for request in (ListEventsRequest(since=long_ago), ListEventsRequest(after_sequence=1)):
            with pytest.raises(BeforeRetention):
                await list_events(store, request)
        everything = await list_events(store, ListEventsRequest(after_sequence=0))
        assert [e.sequence for e in everything.events] == [4, 5, 6]
        unset = await list_events(store, ListEventsRequest())
        assert [e.sequence for e in unset.events] == [4, 5, 6]
    finally:
        await store.close()
