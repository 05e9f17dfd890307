"""A group survives losing its PostgreSQL connection: a settlement made meanwhile still applies."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from service.storage.postgres.consumer_db import PostgresConsumerDatabase
from tests.contract.conftest import POSTGRES_URL, require_postgres
from tests.service.consumers.conftest import MakeGroupRelay
from tests.service.consumers.members import TestMember, until
from tests.service.consumers.test_delivery import group, settings

_SETTLED = "clerk_relay_consumer_settlements_total"


@pytest.fixture
def backend() -> str:
    """PostgreSQL only: its connection is the one to lose."""
    require_postgres()
    return "postgres"


@pytest.mark.postgres
async def test_an_ack_across_a_lost_connection_applies_once(
    make_group_relay: MakeGroupRelay,
) -> None:
    registry = CollectorRegistry()
    # A long poll: the ack's own round is the first to find the connection dead.
    relay = await make_group_relay(metrics_registry=registry, consumer_poll_interval_s=5.0)
    member = TestMember(relay.channel, "g", settings())
    await member.start()
    await relay.append("user.created", "user_a")
    delivery = await member.next()
    database = relay.server._consumers._state._db  # type: ignore[union-attr]
    assert isinstance(database, PostgresConsumerDatabase)
    assert database._conn is not None
    backend_pid = database._conn.info.backend_pid
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend_pid,))
    member.ack(delivery)  # its round fails on the dead connection, the next one applies it
    labels = {"group": "g", "outcome": "ack"}
    await until(
        lambda: asyncio.sleep(0, registry.get_sample_value(_SETTLED, labels)),
        lambda acks: acks == 1.0,
    )
    info = await group(relay, "g")
    assert info.acked_count == 1
    assert (info.position, info.in_flight_count, info.redelivered_count) == (1, 0, 0)
    assert member.rejections == []
    assert await member.nothing_for(0.5)
    await member.close()
