"""EventService.Subscribe filters: by type, entity, organization; each subscriber gets its own."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clerkrelay.v1.event_service_pb2 import SubscribeRequest
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from service.filters import EventFilter
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage.sqlite import SqliteStore
from service.subscription import StreamLimits
from tests.history import event, membership
from tests.service.conftest import MakeRelay
from tests.service.subscribing import Call, Received, caught_up, collect, until_count

FAMILIES = ["user", "organization", "session", "role"]


async def test_filters_by_type_entity_and_organization(make_relay: MakeRelay) -> None:
    relay = await make_relay()
    store = relay.store
    await store.append(event("user.created", "user_a"))
    await store.append(event("organization.created", "org_1"))
    await store.append(membership("organizationMembership.created", "mem_1", "org_1", "user_a", 1))
    await store.append(membership("organizationMembership.created", "mem_2", "org_2", "user_b", 2))
    await store.append(event("session.created", "sess_1", user_id="user_a"))

    async def sequences(request: SubscribeRequest) -> list[int]:
        call = relay.stub.Subscribe(request)
        received = await collect(call, Received(), caught_up)
        call.cancel()
        return received.sequences

    assert await sequences(SubscribeRequest(event_types=["user.*"], after_sequence=0)) == [1]
    assert await sequences(
        SubscribeRequest(event_types=["organizationMembership.created"], after_sequence=0)
    ) == [3, 4]
    assert await sequences(SubscribeRequest(organization_id="org_1", after_sequence=0)) == [2, 3]
    assert await sequences(SubscribeRequest(entity_ids=["user_a"], after_sequence=0)) == [1, 3, 5]
    assert await sequences(
        SubscribeRequest(event_types=["session.*", "user.created"], after_sequence=0)
    ) == [1, 5]


async def test_invalid_pattern_is_invalid_argument(make_relay: MakeRelay) -> None:
    relay = await make_relay()
    call = relay.stub.Subscribe(SubscribeRequest(event_types=["user.*", "*.created"]))
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call.read()
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'*.created'" in (error.value.details() or "")


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("publish"), st.sampled_from(FAMILIES), st.integers(1, 6)),
            st.tuples(
                st.just("subscribe"),
                st.lists(st.sampled_from([f + ".*" for f in FAMILIES]), max_size=2),
                st.integers(0, 30),
            ),
        ),
        min_size=2,
        max_size=12,
    )
)
async def test_every_subscriber_gets_exactly_its_events_in_order(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, Any, int]]
) -> None:
    """Publishes and subscriptions interleaved at random, each from a random start."""
    store = await SqliteStore.open(tmp_path_factory.mktemp("prop") / "relay.db")
    server = RelayServer(
        ServiceSettings(grpc_addr="127.0.0.1:0", shutdown_grace_s=1.0),
        store,
        stream_limits=StreamLimits(max_batch_events=7),
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{await server.start()}")
    stub = EventServiceStub(channel)
    published: list[tuple[int, str]] = []
    subscribers: list[tuple[list[str], int, Call]] = []
    try:
        for step in steps:
            if step[0] == "publish":
                _, family, count = step
                for _ in range(count):
                    result = await store.append(
                        event(f"{family}.created", f"{family}_{len(published)}")
                    )
                    published.append((result.sequence, f"{family}.created"))
            else:
                _, patterns, after = step
                call = stub.Subscribe(SubscribeRequest(event_types=patterns, after_sequence=after))
                subscribers.append((patterns, after, call))
        for patterns, after, call in subscribers:
            matches = EventFilter(patterns).matches_type
            expected = [s for s, t in published if s > after and matches(t)]
            received = await collect(call, Received(), until_count(len(expected)))
            assert received.sequences == expected
            call.cancel()
    finally:
        await server.stop()
        await channel.close(None)
        await store.close()
