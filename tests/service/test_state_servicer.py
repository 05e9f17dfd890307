"""StateService over a real channel to a real server and a real SQLite store."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable

import grpc
import pytest
from google.protobuf.message import Message

import service.state_servicer
from clerkrelay.cli.samples import sample_types
from clerkrelay.kinds import KIND_BY_NAME
from clerkrelay.v1.event_pb2 import Event
from clerkrelay.v1.state_service_pb2 import (
    GetUserRequest,
    ListOrganizationMembershipsRequest,
    ListRolesRequest,
    ListUsersRequest,
)
from clerkrelay.v1.state_service_pb2_grpc import StateServiceStub
from service.page_tokens import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from service.state_servicer import SERVICE_NAME, STATE_METHODS, StateMethod
from service.storage.sqlite import SqliteStore
from tests.history import event, membership

T0 = 1_700_000_000_000

GET_METHODS = [m for m in STATE_METHODS.values() if not m.is_list]
LIST_METHODS = [m for m in STATE_METHODS.values() if m.is_list]


DELETABLE = [m for m in GET_METHODS if f"{m.kind.family}.deleted" in sample_types()]


def payload_of(message: Event) -> Message:
    payload: Message = getattr(message, message.WhichOneof("payload") or "")
    return payload


async def call(channel: grpc.aio.Channel, method: StateMethod, request: Message) -> Message:
    """Calls one StateService RPC by name (the table drives the tests as it drives the server)."""
    rpc = channel.unary_unary(
        f"/{SERVICE_NAME}/{method.name}",
        request_serializer=method.request_class.SerializeToString,
        response_deserializer=method.response_class.FromString,
    )
    response: Message = await rpc(request, timeout=10)
    return response


async def rpc_error(pending: Awaitable[object]) -> grpc.aio.AioRpcError:
    """The error an RPC ends with (fails the test if it succeeds)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pending
    return caught.value


# -- the table ----------------------------------------------------------------------


def test_every_entity_kind_has_a_get_and_a_list() -> None:
    assert sorted(m.kind.name for m in GET_METHODS) == sorted(KIND_BY_NAME)
    assert sorted(m.kind.name for m in LIST_METHODS) == sorted(KIND_BY_NAME)
    assert len(STATE_METHODS) == 2 * len(KIND_BY_NAME)


def test_kinds_with_a_delete_event_are_tested_for_tombstones() -> None:
    assert {m.kind.name for m in DELETABLE} >= {
        "user",
        "organization",
        "organization_membership",
        "organization_domain",
        "role",
        "permission",
    }


# -- Get ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", GET_METHODS, ids=lambda m: m.name)
async def test_get_found(
    method: StateMethod, channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    await store.append(event(f"{method.kind.family}.created", f"{method.kind.name}_1", T0))
    await store.append(event("user.created", "user_unrelated", T0))
    response = await call(channel, method, method.request_class(id=f"{method.kind.name}_1"))
    record = getattr(response, "record")  # noqa: B009
    assert getattr(record, method.state_field).id == f"{method.kind.name}_1"
    assert record.deleted is False
    assert record.event_sequence == 1
    assert getattr(response, "snapshot_sequence") == 2  # noqa: B009


@pytest.mark.parametrize("method", GET_METHODS, ids=lambda m: m.name)
async def test_get_unknown_id_is_not_found(
    method: StateMethod, channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    await store.append(event("user.created", "user_1", T0))
    error = await rpc_error(call(channel, method, method.request_class(id="nope_1")))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == f"no {method.kind.name} with id 'nope_1' has been seen"


@pytest.mark.parametrize("method", GET_METHODS, ids=lambda m: m.name)
async def test_get_empty_id_is_invalid(method: StateMethod, channel: grpc.aio.Channel) -> None:
    error = await rpc_error(call(channel, method, method.request_class()))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "id is required"


@pytest.mark.parametrize("method", DELETABLE, ids=lambda m: m.name)
async def test_get_deleted_returns_tombstone_with_last_state(
    method: StateMethod, channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    entity_id = f"{method.kind.name}_1"
    created = event(f"{method.kind.family}.created", entity_id, T0)
    deleted = event(f"{method.kind.family}.deleted", entity_id, T0 + 1000)
    await store.append(created)
    await store.append(deleted)
    response = await call(channel, method, method.request_class(id=entity_id))
    record = getattr(response, "record")  # noqa: B009
    assert record.deleted is True
    assert record.event_sequence == 2
    # A delete that carries the full object (memberships) is the last state;
    # a `DeletedObject` (only ids) leaves the state seen before it.
    last = deleted if isinstance(payload_of(deleted), method.kind.state) else created
    assert getattr(record, method.state_field) == payload_of(last)


async def test_get_through_the_generated_stub(
    channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    await store.append(event("user.created", "user_1", T0, first_name="Ada"))
    await store.append(event("user.updated", "user_1", T0 + 5, first_name="Grace"))
    response = await StateServiceStub(channel).GetUser(GetUserRequest(id="user_1"))
    assert response.record.user.first_name == "Grace"
    assert response.record.event_sequence == 2
    assert response.snapshot_sequence == 2


# -- List -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", LIST_METHODS, ids=lambda m: m.name)
async def test_list_every_kind(
    method: StateMethod, channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    for n in (3, 1, 2):
        await store.append(event(f"{method.kind.family}.created", f"{method.kind.name}_{n}", T0))
    response = await call(channel, method, method.request_class())
    records = getattr(response, method.records_field)
    assert [getattr(r, method.state_field).id for r in records] == [
        f"{method.kind.name}_{n}" for n in (1, 2, 3)
    ]
    assert getattr(response, "next_page_token") == ""  # noqa: B009
    assert getattr(response, "snapshot_sequence") == 3  # noqa: B009


@pytest.mark.parametrize("method", LIST_METHODS, ids=lambda m: m.name)
async def test_list_empty(method: StateMethod, channel: grpc.aio.Channel) -> None:
    response = await call(channel, method, method.request_class())
    assert list(getattr(response, method.records_field)) == []
    assert getattr(response, "next_page_token") == ""  # noqa: B009
    assert getattr(response, "snapshot_sequence") == 0  # noqa: B009


async def test_list_hides_tombstones_unless_show_deleted(
    channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    for n in (1, 2):
        await store.append(event("user.created", f"user_{n}", T0))
    await store.append(event("user.deleted", "user_1", T0 + 1000))
    stub = StateServiceStub(channel)
    alive = await stub.ListUsers(ListUsersRequest())
    assert [r.user.id for r in alive.users] == ["user_2"]
    every = await stub.ListUsers(ListUsersRequest(show_deleted=True))
    assert [(r.user.id, r.deleted) for r in every.users] == [("user_1", True), ("user_2", False)]


async def test_list_filters_by_organization_and_user(
    channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    await store.append(membership("organizationMembership.created", "orgmem_1", "org_a", "u1", T0))
    await store.append(membership("organizationMembership.created", "orgmem_2", "org_b", "u1", T0))
    await store.append(membership("organizationMembership.created", "orgmem_3", "org_a", "u2", T0))
    stub = StateServiceStub(channel)

    async def ids(**filters: str) -> list[str]:
        response = await stub.ListOrganizationMemberships(
            ListOrganizationMembershipsRequest(**filters)  # type: ignore[arg-type]
        )
        return [r.organization_membership.id for r in response.organization_memberships]

    assert await ids() == ["orgmem_1", "orgmem_2", "orgmem_3"]
    assert await ids(organization_id="org_a") == ["orgmem_1", "orgmem_3"]
    assert await ids(user_id="u1") == ["orgmem_1", "orgmem_2"]
    assert await ids(organization_id="org_a", user_id="u2") == ["orgmem_3"]
    assert await ids(organization_id="org_zzz") == []


async def test_page_size_default_is_100(channel: grpc.aio.Channel, store: SqliteStore) -> None:
    for n in range(DEFAULT_PAGE_SIZE + 1):
        await store.append(event("role.created", f"role_{n:04d}", T0))
    stub = StateServiceStub(channel)
    first = await stub.ListRoles(ListRolesRequest())
    assert len(first.roles) == DEFAULT_PAGE_SIZE
    assert first.next_page_token
    second = await stub.ListRoles(ListRolesRequest(page_token=first.next_page_token))
    assert [r.role.id for r in second.roles] == [f"role_{DEFAULT_PAGE_SIZE:04d}"]
    assert second.next_page_token == ""


async def test_page_size_is_capped_at_1000(channel: grpc.aio.Channel, store: SqliteStore) -> None:
    await asyncio.gather(
        *(
            store.append(event("role.created", f"role_{n:05d}", T0))
            for n in range(MAX_PAGE_SIZE + 5)
        )
    )
    stub = StateServiceStub(channel)
    first = await stub.ListRoles(ListRolesRequest(page_size=5000))
    assert len(first.roles) == MAX_PAGE_SIZE
    second = await stub.ListRoles(
        ListRolesRequest(page_size=5000, page_token=first.next_page_token)
    )
    assert len(second.roles) == 5
    assert second.next_page_token == ""


async def test_exact_last_page_has_no_next_token(
    channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    for n in range(4):
        await store.append(event("role.created", f"role_{n}", T0))
    stub = StateServiceStub(channel)
    first = await stub.ListRoles(ListRolesRequest(page_size=2))
    second = await stub.ListRoles(ListRolesRequest(page_size=2, page_token=first.next_page_token))
    assert [r.role.id for r in second.roles] == ["role_2", "role_3"]
    assert second.next_page_token == ""


async def test_paging_across_concurrent_appends(
    channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    """Every user that existed at the first page is listed once; the snapshot is carried."""
    before = [f"user_{n:04d}" for n in range(0, 600, 2)]  # even ids; odd ones arrive later
    for user_id in before:
        await store.append(event("user.created", user_id, T0))
    head_at_start = await store.head()

    stop = asyncio.Event()

    async def keep_appending() -> int:
        n = 0
        while not stop.is_set():
            await store.append(event("user.created", f"user_{2 * n + 1:04d}", T0 + n))
            await store.append(event("user.updated", before[n % len(before)], T0 + 10_000 + n))
            n += 1
            await asyncio.sleep(0)
        return n

    stub = StateServiceStub(channel)
    listed: list[str] = []
    snapshots: set[int] = set()
    token = ""
    pages = 0
    writer: asyncio.Task[int] | None = None
    while True:
        page = await stub.ListUsers(ListUsersRequest(page_size=25, page_token=token))
        listed += [r.user.id for r in page.users]
        snapshots.add(page.snapshot_sequence)
        pages += 1
        writer = writer or asyncio.create_task(keep_appending())  # from the first page on
        token = page.next_page_token
        if not token:
            break
        await asyncio.sleep(0.001)
    stop.set()
    appended = await writer

    assert appended > 0 and pages > 10
    assert len(listed) == len(set(listed)), "an entity was listed twice"
    assert listed == sorted(listed)
    assert set(before) <= set(listed), "an entity that existed at the snapshot was skipped"
    assert snapshots == {head_at_start}
    assert await store.head() > head_at_start


# -- page tokens over the wire --------------------------------------------------------


async def roles_token(channel: grpc.aio.Channel, store: SqliteStore) -> str:
    for n in range(3):
        await store.append(event("role.created", f"role_{n}", T0))
    first = await StateServiceStub(channel).ListRoles(ListRolesRequest(page_size=1))
    assert first.next_page_token
    return first.next_page_token


def tamper(token: str) -> str:
    middle = len(token) // 2
    replacement = "A" if token[middle] != "A" else "B"
    return token[:middle] + replacement + token[middle + 1 :]


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (tamper, "altered"),
        (lambda t: t[:-3], r"altered|canonical|base64"),
        (lambda t: "not-a-token!", "base64"),
        (lambda t: t + "A", r"altered|canonical|base64"),
        (lambda t: "", None),  # empty is the first page, not an error
    ],
    ids=["flipped", "truncated", "garbage", "extended", "empty"],
)
async def test_tampered_page_token_is_invalid_argument(
    make_token: object, reason: str | None, channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    token = make_token(await roles_token(channel, store))  # type: ignore[operator]
    request = ListRolesRequest(page_size=1, page_token=token)
    if reason is None:
        response = await StateServiceStub(channel).ListRoles(request)
        assert [r.role.id for r in response.roles] == ["role_0"]
        return
    error = await rpc_error(StateServiceStub(channel).ListRoles(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert re.search(reason, error.details() or "")


async def test_token_of_another_kind_is_invalid_argument(
    channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    token = await roles_token(channel, store)
    error = await rpc_error(
        StateServiceStub(channel).ListPermissions(
            STATE_METHODS["ListPermissions"].request_class(page_token=token)  # type: ignore[arg-type]
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "does not match this request" in (error.details() or "")


async def test_token_with_other_filters_is_invalid_argument(
    channel: grpc.aio.Channel, store: SqliteStore
) -> None:
    for n in range(3):
        await store.append(
            membership("organizationMembership.created", f"orgmem_{n}", "org_a", f"u{n}", T0)
        )
    stub = StateServiceStub(channel)
    first = await stub.ListOrganizationMemberships(
        ListOrganizationMembershipsRequest(organization_id="org_a", page_size=1)
    )
    for changed in (
        ListOrganizationMembershipsRequest(organization_id="org_b"),
        ListOrganizationMembershipsRequest(),
        ListOrganizationMembershipsRequest(organization_id="org_a", user_id="u1"),
        ListOrganizationMembershipsRequest(organization_id="org_a", show_deleted=True),
    ):
        changed.page_token = first.next_page_token
        error = await rpc_error(stub.ListOrganizationMemberships(changed))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, changed
    same = ListOrganizationMembershipsRequest(
        organization_id="org_a", page_size=5, page_token=first.next_page_token
    )
    rest = await stub.ListOrganizationMemberships(same)
    assert [r.organization_membership.id for r in rest.organization_memberships] == [
        "orgmem_1",
        "orgmem_2",
    ]


def test_public_surface_is_pinned() -> None:
    assert sorted(service.state_servicer.__all__) == [
        "SERVICE_NAME",
        "STATE_METHODS",
        "StateMethod",
        "StateServicer",
    ]
