"""Consumer groups' metrics, read from the server's registry after real deliveries."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from tests.service.consumers.conftest import MakeGroupRelay
from tests.service.consumers.members import TestMember, until
from tests.service.consumers.test_delivery import group, settings


async def test_deliveries_settlements_and_gauges_are_counted(
    make_group_relay: MakeGroupRelay,
) -> None:
    registry = CollectorRegistry()
    relay = await make_group_relay(metrics_registry=registry)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"group": "g", **labels})

    member = TestMember(relay.channel, "g", settings())
    await member.start()
    await relay.append("user.created", "user_a", 3)
    first, second, third = [await member.next() for _ in range(3)]
    member.ack(first)
    member.nack(second)
    member.ack("9.9")  # rejected at once
    again = await member.next()
    assert (again.event.sequence, again.attempt) == (second.event.sequence, 2)
    member.ack(again)
    await until(lambda: group(relay, "g"), lambda g: g.acked_count == 2)
    await until(lambda: _sample(value, "clerk_relay_consumer_in_flight"), lambda held: held == 1.0)
    assert value("clerk_relay_consumer_deliveries_total", attempt="first") == 3
    assert value("clerk_relay_consumer_deliveries_total", attempt="again") == 1
    assert value("clerk_relay_consumer_settlements_total", outcome="ack") == 2
    assert value("clerk_relay_consumer_settlements_total", outcome="nack") == 1
    assert value("clerk_relay_consumer_settlements_total", outcome="rejected") == 1
    assert value("clerk_relay_consumer_members") == 1
    # The third is in flight: the position is 2 of 3.
    await until(lambda: _sample(value, "clerk_relay_consumer_lag"), lambda v: v == 1.0)
    member.ack(third)
    await until(lambda: _sample(value, "clerk_relay_consumer_lag"), lambda v: v == 0.0)
    await member.close()


async def _sample(value: object, name: str) -> float | None:
    assert callable(value)
    found: float | None = value(name)
    return found
