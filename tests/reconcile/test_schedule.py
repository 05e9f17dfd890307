"""When a relay reconciles on its own: at start-up when its log is empty, then every interval."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.reconcile.scheduler import Reconciliation
from service.storage import PASS_RUNNING, KindCheckpoint, PassCheckpoint, Store
from tests.history import event
from tests.reconcile.backend_double import BackendDouble
from tests.reconcile.relay_helpers import StartRelay, eventually, reconcile_settings


def _passes(reconciliation: Reconciliation | None) -> int:
    assert reconciliation is not None
    return reconciliation.passes


async def test_an_empty_mirror_is_backfilled_at_start_up_without_delaying_readiness(
    double: BackendDouble, api_url: str, start_relay: StartRelay, store: Store
) -> None:
    double.add("user", 5)
    double.add("organization", 2)
    listing, release = threading.Event(), threading.Event()

    def hold(path: str, query: object) -> None:
        listing.set()
        release.wait(10)

    double.on_request = hold
    server, channel = await start_relay(reconcile_settings(api_url), schedule=True)
    await asyncio.to_thread(listing.wait, 10)

    health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING  # while the pass waits
    reconciliation = server.reconciliation
    assert reconciliation is not None and reconciliation.active is not None
    assert reconciliation.active.trigger == "startup"

    release.set()

    async def backfilled() -> bool:
        return reconciliation.active is None and _passes(reconciliation) == 1

    await eventually(backfilled)
    assert (await store.get_entity("user", double.objects("user")[0]["id"]))[0] is not None
    assert (await store.get_entity("organization", double.objects("organization")[1]["id"]))[0]


async def test_a_mirror_with_events_is_not_backfilled_and_interval_0_runs_no_pass(
    double: BackendDouble, api_url: str, start_relay: StartRelay, store: Store
) -> None:
    double.add("user", 2)
    await store.append(event("user.created", "user_1"))
    server, _ = await start_relay(reconcile_settings(api_url, interval_s=0), schedule=True)

    await asyncio.sleep(0.3)

    assert _passes(server.reconciliation) == 0
    assert double.statuses() == []


async def test_a_pass_runs_every_interval(
    double: BackendDouble, api_url: str, start_relay: StartRelay, store: Store
) -> None:
    await store.append(event("user.created", "user_1"))
    server, _ = await start_relay(reconcile_settings(api_url, interval_s=0.05), schedule=True)

    async def twice() -> bool:
        return _passes(server.reconciliation) >= 2

    await eventually(twice)


async def test_a_failed_start_up_pass_is_one_line_and_the_relay_serves_on(
    double: BackendDouble,
    api_url: str,
    start_relay: StartRelay,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "sk_live_" + "WrongKeyNotTheDoubles0123456789abcdef"
    caplog.set_level(logging.INFO, "clerk_relay.reconcile")
    server, channel = await start_relay(
        reconcile_settings(api_url, secret_key=wrong), schedule=True
    )

    reconciliation = server.reconciliation
    assert reconciliation is not None

    async def failed() -> bool:
        return reconciliation.passes == 1 and reconciliation.active is None

    await eventually(failed)
    lines = [r.getMessage() for r in caplog.records if "trigger=startup" in r.getMessage()]
    assert len(lines) == 1 and "outcome=failed" in lines[0], lines
    assert "sk_live_Wron…" in lines[0] and wrong not in caplog.text
    health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def _left(kind: str) -> PassCheckpoint:
    """A pass a relay left running when it died, not begun: one kind pending."""
    return PassCheckpoint(
        "left.1", "interval", False, 0.1, PASS_RUNNING, 1, 1, (KindCheckpoint(kind),)
    )


async def test_a_pass_left_unfinished_is_resumed_at_start_up_instead_of_a_backfill(
    double: BackendDouble, api_url: str, start_relay: StartRelay, store: Store
) -> None:
    double.add("user", 3)
    await store.save_pass(_left("user"))
    server, _ = await start_relay(reconcile_settings(api_url), schedule=True)
    reconciliation = server.reconciliation
    assert reconciliation is not None

    async def resumed() -> bool:
        return reconciliation.passes == 1 and reconciliation.active is None

    await eventually(resumed)
    events = [stored.event() for stored in (await store.read(0, 100)).events]
    assert [(e.type, e.reconcile_pass) for e in events] == [("user.created", "left.1")] * 3
    assert await store.unfinished_pass() is None
    labels = {"trigger": "resume", "outcome": "completed"}
    assert (
        reconciliation.metrics.registry.get_sample_value(
            "clerk_relay_reconcile_passes_total", labels
        )
        == 1
    )


async def test_a_pass_left_with_a_kind_no_longer_listable_is_abandoned(
    double: BackendDouble, api_url: str, start_relay: StartRelay, store: Store
) -> None:
    double.add("user", 2)
    await store.save_pass(_left("session"))
    server, _ = await start_relay(reconcile_settings(api_url), schedule=True)
    reconciliation = server.reconciliation
    assert reconciliation is not None

    async def backfilled() -> bool:  # the log is empty: the start-up backfill runs instead
        return reconciliation.passes == 1 and reconciliation.active is None

    await eventually(backfilled)
    events = [stored.event() for stored in (await store.read(0, 100)).events]
    assert len(events) == 2 and "left.1" not in {e.reconcile_pass for e in events}
    assert reconciliation.active is None and await store.unfinished_pass() is None
