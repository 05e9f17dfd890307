"""A whole backfill through a running relay: 2,000 users, 50 organizations, 2,000 memberships.

A subscriber that started before the pass sees every repair exactly once,
marked with its origin and pass; afterwards the state RPCs answer every entity.
"""

from __future__ import annotations

import asyncio

from clerkrelay import Event, RelayClient
from clerkrelay.v1.event_pb2 import EventOrigin
from tests.reconcile.backend_double import BackendDouble
from tests.reconcile.double_objects import TEMPLATES
from tests.reconcile.relay_helpers import StartRelay, reconcile_settings

USERS, ORGANIZATIONS, MEMBERS_EACH = 2000, 50, 40


def _fill(double: BackendDouble) -> dict[str, set[str]]:
    """The double's objects; the ids of each kind."""
    users = double.add("user", USERS)
    organizations = double.add("organization", ORGANIZATIONS)
    template = TEMPLATES["organization_membership"]["public_user_data"]
    for index, organization in enumerate(organizations):
        for user in users[index * MEMBERS_EACH : (index + 1) * MEMBERS_EACH]:
            double.add(
                "organization_membership",
                organization=organization,
                public_user_data=dict(template, user_id=user["id"]),
            )
    return {
        kind: {item["id"] for item in double.objects(kind)}
        for kind in ("user", "organization", "organization_membership")
    }


async def test_a_backfill_reaches_a_subscriber_once_and_the_state_rpcs(
    double: BackendDouble, api_url: str, start_relay: StartRelay
) -> None:
    double.record_bodies = False
    ids = _fill(double)
    expected = sum(len(each) for each in ids.values())
    server, _ = await start_relay(reconcile_settings(api_url))
    async with RelayClient(f"127.0.0.1:{server.port}") as client:
        seen: list[Event] = []
        stream = client.subscribe(after_sequence=0)

        async def follow() -> None:
            async with stream:
                async for event in stream:
                    seen.append(event)
                    if len(seen) == expected:
                        return

        subscriber = asyncio.create_task(follow())
        responses = [r async for r in client.reconcile()]
        summary = responses[-1].summary
        async with asyncio.timeout(30):
            await subscriber

        assert summary.completed and summary.appended == expected
        created = {p.kind: p.created for p in summary.kinds}
        assert created["user"] == USERS and created["organization"] == ORGANIZATIONS
        assert created["organization_membership"] == ORGANIZATIONS * MEMBERS_EACH
        assert len({event.id for event in seen}) == expected  # each once
        assert {event.reconcile_pass for event in seen} == {summary.pass_id}
        assert all(e.origin == EventOrigin.EVENT_ORIGIN_RECONCILIATION for e in seen)
        types = {event.type for event in seen}
        assert types == {"user.created", "organization.created", "organizationMembership.created"}

        users = {r.user.id async for r in client.list_users()}
        organizations = {r.organization.id async for r in client.list_organizations()}
        memberships = {
            r.organization_membership.id async for r in client.list_organization_memberships()
        }
        assert (users, organizations, memberships) == (
            ids["user"],
            ids["organization"],
            ids["organization_membership"],
        )
        every = sorted(ids["user"])
        for start in range(0, len(every), 100):
            chunk = every[start : start + 100]
            found = await asyncio.gather(*(client.get_user(user_id) for user_id in chunk))
            assert all(record is not None and not record.deleted for record in found)
