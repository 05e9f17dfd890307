"""Bad input to ConsumerService gets a clear status (or a rejection) and changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from clerkrelay.v1.consumer_service_pb2 import (
    AckDeliveries,
    ConsumeRequest,
    ConsumerGroupSettings,
    CreateConsumerGroupRequest,
    DeleteConsumerGroupRequest,
    GetConsumerGroupRequest,
    ListConsumerGroupsRequest,
    ListParkedEventsRequest,
    NackDelivery,
    UpdateConsumerGroupRequest,
)
from clerkrelay.v1.consumer_service_pb2_grpc import ConsumerServiceStub
from service.auth import AuthInterceptor, Role
from service.consumers import ConsumerEngine, ConsumerServicer, add_to_server
from service.errors import ErrorInterceptor
from service.settings import ServiceSettings
from service.storage import open_consumer_state
from tests.service.consumers.conftest import GroupRelay, MakeGroupRelay
from tests.service.consumers.members import TestMember, until
from tests.service.consumers.test_delivery import group, settings


async def _join_fails(relay: GroupRelay, member: TestMember) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await member.start()
    await member.close()
    return failed.value


async def _group_names(relay: GroupRelay) -> list[str]:
    listed = await relay.stub.ListConsumerGroups(ListConsumerGroupsRequest())
    return [g.name for g in listed.groups]


@pytest.mark.parametrize(
    ("name", "group_settings", "code", "message"),
    [
        ("Bad Name", settings(), grpc.StatusCode.INVALID_ARGUMENT, "invalid consumer group name"),
        ("x" * 64, settings(), grpc.StatusCode.INVALID_ARGUMENT, "invalid consumer group name"),
        ("ok", None, grpc.StatusCode.NOT_FOUND, "consumer group 'ok' does not exist"),
        ("ok", settings(max_in_flight=10_001), grpc.StatusCode.INVALID_ARGUMENT, "max_in_flight"),
        ("ok", settings(max_deliveries=1001), grpc.StatusCode.INVALID_ARGUMENT, "max_deliveries"),
        ("ok", settings(ack_wait_s=0.001), grpc.StatusCode.INVALID_ARGUMENT, "ack_wait"),
        ("ok", settings(event_types=["user."]), grpc.StatusCode.INVALID_ARGUMENT, "pattern"),
    ],
)
async def test_joins_that_fail_create_nothing(
    group_relay: GroupRelay,
    name: str,
    group_settings: ConsumerGroupSettings | None,
    code: grpc.StatusCode,
    message: str,
) -> None:
    error = await _join_fails(group_relay, TestMember(group_relay.channel, name, group_settings))
    assert error.code() == code
    assert message in (error.details() or "")
    assert await _group_names(group_relay) == []


async def test_a_first_message_that_is_not_join(group_relay: GroupRelay) -> None:
    member = TestMember(group_relay.channel, "ok", settings())
    member._requests.get_nowait()  # drop the join
    member.send(ConsumeRequest(ack=AckDeliveries(delivery_ids=["1.1"])))
    error = await _join_fails(group_relay, member)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "the first message of Consume must be `join`"


async def test_other_settings_are_refused_and_the_group_is_unchanged(
    group_relay: GroupRelay,
) -> None:
    first = TestMember(group_relay.channel, "g", settings(event_types=["user.*"]))
    await first.start()
    other = TestMember(group_relay.channel, "g", settings(event_types=["session.*"]))
    error = await _join_fails(group_relay, other)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "exists with other settings" in (error.details() or "")
    assert list((await group(group_relay, "g")).settings.event_types) == ["user.*"]
    # The same settings (another start aside) join fine, as do none.
    same = settings(event_types=["user.*"])
    same.ClearField("start")
    for joining in (
        TestMember(group_relay.channel, "g", same),
        TestMember(group_relay.channel, "g"),
    ):
        await joining.start()
        await joining.close()
    await first.close()


async def test_settlements_that_cannot_apply_are_rejected(group_relay: GroupRelay) -> None:
    owner = TestMember(group_relay.channel, "g", settings(), "owner")
    await owner.start()
    other = TestMember(group_relay.channel, "g", name="other")
    await other.start()
    await group_relay.append("user.created", "user_a")
    delivery = await owner.next()
    other.ack(delivery)  # not the other member's
    other.ack("garbage")
    owner.send(ConsumeRequest(nack=NackDelivery(delivery_id=delivery.delivery_id, delay=_days(2))))
    rejected = await until(lambda: _rejections(other), lambda r: len(r) == 2)
    assert rejected[0][0] == delivery.delivery_id
    assert "not in flight for this member" in rejected[0][1]
    assert rejected[1] == ("garbage", "not a delivery id")
    owner_rejected = await until(lambda: _rejections(owner), bool)
    assert owner_rejected == [(delivery.delivery_id, "a nack's delay must be from 0 to 24 h")]
    info = await group(group_relay, "g")
    assert (info.acked_count, info.in_flight_count) == (0, 1)
    owner.ack(delivery)  # the owner's ack still applies
    info = await until(lambda: group(group_relay, "g"), lambda g: g.acked_count == 1)
    assert info.in_flight_count == 0
    await owner.close()
    await other.close()


async def _rejections(member: TestMember) -> list[tuple[str, str]]:
    return list(member.rejections)


def _days(days: int) -> Duration:
    return Duration(seconds=days * 86400)


async def test_management_errors(group_relay: GroupRelay) -> None:
    stub = group_relay.stub
    await stub.CreateConsumerGroup(CreateConsumerGroupRequest(name="g", settings=settings()))
    cases: list[tuple[Awaitable[object], str]] = [
        (stub.CreateConsumerGroup(CreateConsumerGroupRequest(name="g")), "ALREADY_EXISTS"),
        (stub.CreateConsumerGroup(CreateConsumerGroupRequest(name="-g")), "INVALID_ARGUMENT"),
        (stub.GetConsumerGroup(GetConsumerGroupRequest(name="nope")), "NOT_FOUND"),
        (stub.UpdateConsumerGroup(UpdateConsumerGroupRequest(name="nope")), "NOT_FOUND"),
        (stub.DeleteConsumerGroup(DeleteConsumerGroupRequest(name="nope")), "NOT_FOUND"),
        (
            stub.ListParkedEvents(ListParkedEventsRequest(name="g", page_token="x")),
            "INVALID_ARGUMENT",
        ),
        (stub.ListParkedEvents(ListParkedEventsRequest(name="nope")), "NOT_FOUND"),
        (
            stub.UpdateConsumerGroup(
                UpdateConsumerGroupRequest(name="g", settings=settings(max_in_flight=99_999))
            ),
            "INVALID_ARGUMENT",
        ),
    ]
    for call, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await call
        assert failed.value.code().name == code
    assert await _group_names(group_relay) == ["g"]
    assert (await group(group_relay, "g")).settings.max_in_flight == 100


async def test_update_changes_the_filter_and_keeps_the_start(group_relay: GroupRelay) -> None:
    stub = group_relay.stub
    await group_relay.append("user.created", "user_a", 3)
    await stub.CreateConsumerGroup(CreateConsumerGroupRequest(name="g", settings=settings()))
    new = settings(event_types=["session.*"])
    new.after_sequence = 2  # ignored: the group keeps its start
    update = UpdateConsumerGroupRequest(name="g", settings=new)
    updated = (await stub.UpdateConsumerGroup(update)).group
    assert list(updated.settings.event_types) == ["session.*"]
    assert (updated.settings.after_sequence, updated.position) == (0, 0)
    member = TestMember(group_relay.channel, "g")
    await member.start()
    assert await member.nothing_for(0.3)  # the user events no longer match
    (sequence,) = await group_relay.append("session.created", "sess_a")
    assert (await member.next()).event.sequence == sequence
    await member.close()


async def test_deleting_a_group_ends_its_members_streams(group_relay: GroupRelay) -> None:
    member = TestMember(group_relay.channel, "g", settings())
    await member.start()
    await group_relay.stub.DeleteConsumerGroup(DeleteConsumerGroupRequest(name="g"))
    assert await member.ended == grpc.StatusCode.NOT_FOUND
    assert await _group_names(group_relay) == []


async def test_managing_needs_an_admin_and_consuming_a_subscriber(
    make_group_relay: MakeGroupRelay,
) -> None:
    tokens = {"sub-token": Role.SUBSCRIBER, "admin-token": Role.ADMIN}
    relay = await make_group_relay(ServiceSettings(tokens=tokens))
    subscriber = (("authorization", "Bearer sub-token"),)
    admin = (("authorization", "Bearer admin-token"),)
    create = CreateConsumerGroupRequest(name="g", settings=settings())
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await relay.stub.CreateConsumerGroup(create, metadata=subscriber)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await _names_as(relay, admin) == []
    await relay.stub.CreateConsumerGroup(create, metadata=admin)
    member = TestMember(relay.channel, "g", metadata=subscriber)
    await member.start()
    await member.close()
    anonymous = TestMember(relay.channel, "g")
    assert (await _join_fails(relay, anonymous)).code() == grpc.StatusCode.UNAUTHENTICATED


async def _names_as(relay: GroupRelay, metadata: tuple[tuple[str, str], ...]) -> list[str]:
    listed = await relay.stub.ListConsumerGroups(ListConsumerGroupsRequest(), metadata=metadata)
    return [g.name for g in listed.groups]


async def test_with_auth_off_only_callers_on_this_host_may_manage_groups(
    group_relay: GroupRelay,
) -> None:
    """The same ConsumerService, behind an interceptor that takes every caller for a remote one."""
    engine = ConsumerEngine(group_relay.store, open_consumer_state(group_relay.url))
    server = grpc.aio.server(
        interceptors=[AuthInterceptor({}, is_local=lambda peer: False), ErrorInterceptor()]
    )
    add_to_server(ConsumerServicer(engine), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    create = CreateConsumerGroupRequest(name="g", settings=settings())
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = ConsumerServiceStub(channel)
            for call in (
                stub.CreateConsumerGroup(create),
                stub.ListConsumerGroups(ListConsumerGroupsRequest()),
                stub.DeleteConsumerGroup(DeleteConsumerGroupRequest(name="g")),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as denied:
                    await call
                assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
                assert "only callers on the relay's host" in (denied.value.details() or "")
    finally:
        await server.stop(None)
        await engine.close()
    assert await _group_names(group_relay) == []  # nothing was created
