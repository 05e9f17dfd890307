"""State helpers and `snapshot_then_subscribe` against a real `clerk-relay serve`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from clerkrelay import Event, InvalidArgumentError, RelayClient
from clerkrelay.calls import UnaryCalls
from clerkrelay.state import StateQueries
from clerkrelay.v1.organizations_pb2 import OrganizationMembership
from clerkrelay.v1.state_service_pb2_grpc import StateServiceStub
from tests.clients.webhooks import WebhookSender
from tests.processes import RelayProcess


async def test_get_returns_the_record_or_none(relay: RelayProcess, sender: WebhookSender) -> None:
    await sender.send("user.created", "user_a")
    await sender.send("user.created", "user_b")
    await sender.send("user.deleted", "user_b")
    async with RelayClient(relay.grpc_target) as client:
        alive = await client.get_user("user_a")
        deleted = await client.get_user("user_b")
        assert alive is not None and deleted is not None
        assert (alive.user.id, alive.deleted, alive.event_sequence) == ("user_a", False, 1)
        assert (deleted.deleted, deleted.event_sequence) == (True, 3)
        assert await client.get_user("user_never_seen") is None
        assert await client.get_organization("user_a") is None  # another kind
        with pytest.raises(InvalidArgumentError, match="id is required"):
            await client.get_user("")
        assert await client.head_sequence() == 3


async def test_list_walks_every_page(relay: RelayProcess, sender: WebhookSender) -> None:
    await sender.users(7)
    await sender.send("user.deleted", "user_3")
    async with RelayClient(relay.grpc_target) as client:
        listing = client.list_users(page_size=3)
        assert listing.snapshot_sequence is None  # nothing fetched yet
        pages = [page async for page in listing.pages()]
        assert [len(page.records) for page in pages] == [3, 3]
        assert [page.snapshot_sequence for page in pages] == [8, 8]
        assert listing.snapshot_sequence == 8
        ids = [record.user.id async for record in listing]
        assert ids == ["user_0", "user_1", "user_2", "user_4", "user_5", "user_6"]

        everything = await client.list_users(show_deleted=True, page_size=2).collect()
        assert everything.sequence == 8
        assert [(r.user.id, r.deleted) for r in everything.records] == [
            (f"user_{i}", i == 3) for i in range(7)
        ]
        assert (await client.list_roles().collect()).records == []


async def test_list_filters(relay: RelayProcess, sender: WebhookSender) -> None:
    await sender.membership("organizationMembership.created", "orgmem_1", "org_a", "user_1")
    await sender.membership("organizationMembership.created", "orgmem_2", "org_a", "user_2")
    await sender.membership("organizationMembership.created", "orgmem_3", "org_b", "user_1")
    async with RelayClient(relay.grpc_target) as client:
        by_org = client.list_organization_memberships(organization_id="org_a")
        assert [r.organization_membership.id async for r in by_org] == ["orgmem_1", "orgmem_2"]
        by_user = client.list_organization_memberships(user_id="user_1")
        assert [r.organization_membership.id async for r in by_user] == ["orgmem_1", "orgmem_3"]
        both = client.list_organization_memberships(organization_id="org_b", user_id="user_2")
        assert [r async for r in both] == []


def _membership(event: Event) -> OrganizationMembership:
    case = event.WhichOneof("payload")
    assert case in ("organization_membership_created", "organization_membership_updated")
    payload = getattr(event, case)
    assert isinstance(payload, OrganizationMembership)
    return payload


async def test_snapshot_then_subscribe_misses_nothing_under_concurrent_writes(
    relay: RelayProcess, sender: WebhookSender
) -> None:
    accepted: list[tuple[int, str, str]] = []  # (sequence, membership id, organization id)
    head_start = asyncio.Event()

    async def write() -> None:
        for i in range(60):
            organization = "org_2" if i % 5 == 4 else "org_1"
            _, sequence = await sender.membership(
                "organizationMembership.created", f"orgmem_{i:03d}", organization, f"user_{i}"
            )
            accepted.append((sequence, f"orgmem_{i:03d}", organization))
            if i >= 10:  # promote an earlier member: updates land during the listing too
                j = i - 10
                _, sequence = await sender.membership(
                    "organizationMembership.updated",
                    f"orgmem_{j:03d}",
                    "org_2" if j % 5 == 4 else "org_1",
                    f"user_{j}",
                    role="org:admin",
                )
                accepted.append((sequence, f"orgmem_{j:03d}", "org_2" if j % 5 == 4 else "org_1"))
            if i == 20:
                head_start.set()
            await asyncio.sleep(0.005)

    async with RelayClient(relay.grpc_target) as client, asyncio.timeout(60):
        writer = asyncio.create_task(write())
        await head_start.wait()
        snapshot, stream = await client.snapshot_then_subscribe(
            client.list_organization_memberships(organization_id="org_1", page_size=2),
            event_types="organizationMembership.*",
            organization_id="org_1",
        )
        assert not writer.done()  # the writes really were concurrent
        await writer

        expected = [s for s, _, org in accepted if org == "org_1" and s > snapshot.sequence]
        assert expected  # some org_1 writes came after the snapshot
        got: list[Event] = []
        async with stream:
            async for received in stream:
                got.append(received)
                if received.sequence == expected[-1]:
                    break
        final = await client.list_organization_memberships(organization_id="org_1").collect()

    # Exactly the org_1 events after the snapshot, in order: none missing, none extra.
    assert [e.sequence for e in got] == expected
    # Everything up to the snapshot is in it.
    listed = {r.organization_membership.id for r in snapshot.records}
    assert {m for s, m, org in accepted if org == "org_1" and s <= snapshot.sequence} <= listed
    assert all(r.organization_membership.organization.id == "org_1" for r in snapshot.records)

    # Snapshot + newer events rebuild the state the relay holds at the end.
    state = {
        r.organization_membership.id: (r.organization_membership.role, r.event_sequence)
        for r in snapshot.records
    }
    for received in got:
        membership = _membership(received)
        held = state.get(membership.id)
        if held is None or received.sequence > held[1]:
            state[membership.id] = (membership.role, received.sequence)
    assert {k: role for k, (role, _) in state.items()} == {
        r.organization_membership.id: r.organization_membership.role for r in final.records
    }
    assert len(state) == 48  # every org_1 membership


async def test_state_helpers_need_no_relay_client(
    relay: RelayProcess, sender: WebhookSender
) -> None:
    """`StateQueries` is given a stub and a `UnaryCalls`; it calls back into nothing else."""
    await sender.send("user.created", "user_a")
    channel = grpc.aio.insecure_channel(relay.grpc_target)
    try:
        stub = StateServiceStub(channel)
        queries = StateQueries(lambda: stub, UnaryCalls((), 10.0))
        record = await queries.get_user("user_a")
        assert record is not None and record.user.id == "user_a"
        assert await queries.get_user("user_never_seen") is None
        snapshot = await queries.list_users().collect()
        assert ([r.user.id for r in snapshot.records], snapshot.sequence) == (["user_a"], 1)
    finally:
        await channel.close(None)


def test_generated_state_helpers_are_fresh() -> None:
    """`clerkrelay/state.py` is what `make gen`'s generator writes from the contract."""
    root = Path(__file__).resolve().parents[2]
    source = subprocess.run(
        [sys.executable, str(root / "clients/python/codegen/state_queries.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    ruff = Path(sys.executable).with_name("ruff")
    formatted = subprocess.run(
        [str(ruff), "format", "-", "--stdin-filename", "clients/python/clerkrelay/state.py"],
        input=source,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=root,
    ).stdout
    assert formatted == (root / "clients/python/clerkrelay/state.py").read_text()
