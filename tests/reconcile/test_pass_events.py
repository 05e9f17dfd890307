"""The events a pass appends: their type, origin, pass, id and raw body, on both stores.

Also: an unchanged object appends nothing, ids are deterministic (the same
pass appends each change once), and the shapes that differ by kind (objects
the converter cannot type, memberships' full `.deleted`, invitations' status
types, kinds Clerk never deletes).
"""

from __future__ import annotations

import orjson

from clerkrelay.kinds import KIND_BY_NAME, ListFilters
from clerkrelay.v1.event_pb2 import Event, EventOrigin, PayloadOmission
from clerkrelay.v1.organizations_pb2 import OrganizationInvitation
from service.reconcile import LIST_ENDPOINTS, RECONCILE_ID_PREFIX
from service.storage import EntityQuery, Store
from tests.contract.conftest import StoreFactory
from tests.history import copy_event, event
from tests.reconcile.backend_double import BackendDouble
from tests.reconcile.pass_helpers import NOW_MS, log, reconcile, record

ALL_KINDS = tuple(LIST_ENDPOINTS)


def _payload_id(stored: Event) -> str:
    case = stored.WhichOneof("payload")
    assert case is not None, stored.type
    payload_id: str = getattr(stored, case).id
    return payload_id


async def test_a_backfill_appends_created_events_marked_with_their_origin_and_pass(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    listed = {kind: double.add(kind, 2) for kind in ALL_KINDS}
    accepted = double.add("organization_invitation", status="accepted")[0]

    report = await reconcile(api_url, mirror, ALL_KINDS, pass_id="backfill-1")
    assert report.completed and report.appended == 2 * len(ALL_KINDS) + 1
    assert {kind: report.kinds[kind].created for kind in ALL_KINDS} == {
        kind: 3 if kind == "organization_invitation" else 2 for kind in ALL_KINDS
    }

    by_id = {_payload_id(e): e for e in await log(mirror)}
    for kind, items in listed.items():
        family = KIND_BY_NAME[kind].family
        for item in items + ([accepted] if kind == "organization_invitation" else []):
            repair = by_id[item["id"]]
            expected_type = f"{family}.{'accepted' if item is accepted else 'created'}"
            assert repair.type == expected_type
            assert repair.origin == EventOrigin.EVENT_ORIGIN_RECONCILIATION
            assert repair.reconcile_pass == "backfill-1"
            assert repair.id == f"{RECONCILE_ID_PREFIX}backfill-1_{kind}_{item['id']}_" + str(
                item["updated_at"]
            )
            assert orjson.loads(repair.raw_body) == {
                "data": item,
                "object": "event",
                "type": expected_type,
                "timestamp": NOW_MS,
            }
            assert repair.timestamp == NOW_MS and repair.object == "event"
            assert repair.payload_omission == PayloadOmission.PAYLOAD_OMISSION_UNSPECIFIED
            case = repair.WhichOneof("payload")
            assert case is not None
            state = getattr(repair, case).SerializeToString(deterministic=True)
            assert (await record(mirror, kind, item["id"])).state == state


async def test_a_webhook_leaves_origin_and_pass_unset(mirror: Store) -> None:
    webhook = event("user.created", "user_from_a_webhook")
    assert webhook.origin == EventOrigin.EVENT_ORIGIN_UNSPECIFIED
    await mirror.append(copy_event(webhook))
    (stored,) = await log(mirror)
    # Unset, so not encoded: a webhook's bytes are what they were before these fields.
    assert {field.name for field, _ in stored.ListFields()}.isdisjoint({"origin", "reconcile_pass"})
    assert stored.id.startswith("msg_")


async def test_an_unchanged_object_appends_nothing(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    for kind in ALL_KINDS:
        double.add(kind, 3)
    first = await reconcile(api_url, mirror, ALL_KINDS, pass_id="p1")
    head = await mirror.head()
    assert first.appended == head == 3 * len(ALL_KINDS)
    second = await reconcile(api_url, mirror, ALL_KINDS, pass_id="p2")
    assert second.completed and second.appended == 0
    assert all(report.unchanged == report.scanned == 3 for report in second.kinds.values())
    assert await mirror.head() == head


async def test_a_changed_object_is_updated_and_an_invitation_takes_its_status_type(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    (user,) = double.add("user")
    (invitation,) = double.add("organization_invitation")
    await reconcile(api_url, mirror, ("user", "organization_invitation"), pass_id="p1")
    double.update("user", user["id"], first_name="Changed")
    double.update("organization_invitation", invitation["id"], status="revoked")
    report = await reconcile(api_url, mirror, ("user", "organization_invitation"), pass_id="p2")
    assert (report.kinds["user"].updated, report.kinds["organization_invitation"].updated) == (
        1,
        1,
    )
    changed, revoked = await log(mirror, after=2)
    assert (changed.type, changed.user_updated.first_name) == ("user.updated", "Changed")
    assert changed.id.startswith(f"{RECONCILE_ID_PREFIX}p2_user_{user['id']}_")
    assert revoked.type == "organizationInvitation.revoked"
    state = (await record(mirror, "organization_invitation", invitation["id"])).state
    assert OrganizationInvitation.FromString(state).status == "revoked"


async def test_ids_are_deterministic_and_the_same_pass_dedups(
    double: BackendDouble, api_url: str, store_factory: StoreFactory
) -> None:
    double.add("user", 3)
    double.add("organization", 2)
    first, second = await store_factory(fresh=True), await store_factory(fresh=True)
    await reconcile(api_url, first, ("user", "organization"), pass_id="p1")
    await reconcile(api_url, second, ("user", "organization"), pass_id="p1")
    first_ids = [e.id for e in await log(first)]
    assert first_ids == [e.id for e in await log(second)]
    assert all(i.startswith(f"{RECONCILE_ID_PREFIX}p1_") for i in first_ids)
    # The same events appended again (the same pass, run twice at once): nothing new.
    for again in await log(first):
        assert (await second.append(copy_event(again))).duplicate
    assert await second.head() == 5


async def test_an_object_the_converter_cannot_type_is_stored_raw_once(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    (huge,) = double.add("user", private_metadata={"blob": "x" * 1_700_000})
    first = await reconcile(api_url, mirror, pass_id="p1")
    assert (first.kinds["user"].created, first.kinds["user"].untyped) == (1, 1)
    (raw,) = await log(mirror)
    assert raw.type == "user.created" and raw.WhichOneof("payload") is None
    assert raw.payload_omission == PayloadOmission.PAYLOAD_OMISSION_TOO_LARGE
    assert raw.id.startswith(f"{RECONCILE_ID_PREFIX}raw_user_{huge['id']}_")
    assert raw.reconcile_pass == "p1"
    assert orjson.loads(raw.raw_body)["data"] == huge
    assert (await mirror.get_entity("user", huge["id"]))[0] is None
    second = await reconcile(api_url, mirror, pass_id="p2")
    assert (second.kinds["user"].untyped, second.kinds["user"].duplicates) == (1, 1)
    assert await mirror.head() == 1


async def test_a_deleted_membership_carries_its_last_state(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    (membership,) = double.add("organization_membership")
    await reconcile(api_url, mirror, ("organization_membership",), pass_id="p1")
    double.remove("organization_membership", membership["id"])
    report = await reconcile(
        api_url, mirror, ("organization_membership",), pass_id="p2", max_delete_share=1.0
    )
    assert report.kinds["organization_membership"].deleted == 1
    _, deletion = await log(mirror)
    assert deletion.type == "organizationMembership.deleted"
    expected_id = f"{RECONCILE_ID_PREFIX}p2_organization_membership_{membership['id']}_deleted"
    assert deletion.id == expected_id
    gone = deletion.organization_membership_deleted
    organization_id = membership["organization"]["id"]
    assert (gone.organization.id, gone.public_user_data.user_id) == (
        organization_id,
        membership["public_user_data"]["user_id"],
    )
    data = orjson.loads(deletion.raw_body)["data"]
    assert data["created_at"] == membership["created_at"]  # a number, as Clerk sends it
    page = await mirror.list_entities(
        EntityQuery(
            "organization_membership",
            ListFilters(organization_id=organization_id),
            show_deleted=True,
        )
    )
    assert [(r.id, r.deleted) for r in page.records] == [(membership["id"], True)]


async def test_kinds_clerk_never_deletes_are_reported_not_deleted(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    (entry,) = double.add("waitlist_entry")
    await reconcile(api_url, mirror, ("waitlist_entry",), pass_id="p1")
    double.remove("waitlist_entry", entry["id"])
    report = await reconcile(
        api_url, mirror, ("waitlist_entry",), pass_id="p2", allow_mass_delete=True
    )
    kind = report.kinds["waitlist_entry"]
    assert (kind.missing, kind.undeletable, kind.deleted) == (1, 1, 0)
    assert await mirror.head() == 1
