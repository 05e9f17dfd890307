"""`run_pass`'s rules, one test each, on SQLite and PostgreSQL against the Backend API double.

Newest wins (a snapshot never overwrites newer state or resurrects a newer
tombstone), deletions only after a complete listing, the mass-delete guard,
entities changed during the pass, and the errors that stop a pass or a kind.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from clerkrelay.kinds import ListFilters
from clerkrelay.v1.users_pb2 import User
from service.reconcile import PassSettings, key_hint, run_pass
from service.storage import EntityQuery, Store
from tests.history import event
from tests.reconcile.backend_double import BackendDouble
from tests.reconcile.conftest import FAST_RETRY
from tests.reconcile.pass_helpers import NOW_MS, DuringListing, log, reconcile, record


async def test_newer_webhook_state_survives_an_older_snapshot(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    newer, same_age = double.add("user", 2)
    await mirror.append(
        event("user.updated", newer["id"], at=newer["updated_at"] + 1000, first_name="Webhook")
    )
    await mirror.append(
        event("user.updated", same_age["id"], at=same_age["updated_at"], first_name="Same age")
    )
    head = await mirror.head()
    report = await reconcile(api_url, mirror)
    assert report.completed
    assert (report.kinds["user"].kept, report.kinds["user"].appended) == (2, 0)
    assert await mirror.head() == head
    for user, name in ((newer, "Webhook"), (same_age, "Same age")):
        kept = await record(mirror, "user", user["id"])
        assert User.FromString(kept.state).first_name == name


async def test_an_older_webhook_state_is_updated(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    (user,) = double.add("user", first_name="Snapshot")
    await mirror.append(event("user.updated", user["id"], at=user["updated_at"] - 1000))
    report = await reconcile(api_url, mirror)
    assert report.kinds["user"].updated == 1
    (repair,) = await log(mirror, after=1)
    assert repair.type == "user.updated" and not repair.stale
    assert repair.user_updated.first_name == "Snapshot"
    assert User.FromString((await record(mirror, "user", user["id"])).state).first_name == (
        "Snapshot"
    )


async def test_a_subscription_item_keeps_the_subscription_the_mirror_linked_it_to(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    (item,) = double.add("subscription_item")
    assert "subscription_id" not in item  # the Backend API's item has no link to it
    await mirror.append(
        event(
            "subscriptionItem.active",
            item["id"],
            at=item["updated_at"] - 1000,
            subscription_id="csub_from_webhook",
        )
    )
    report = await reconcile(api_url, mirror, kinds=("subscription_item",))
    assert report.kinds["subscription_item"].updated == 1
    (repair,) = await log(mirror, after=1)
    assert repair.type == "subscriptionItem.updated"
    assert repair.subscription_item_updated.subscription_id == "csub_from_webhook"
    assert orjson.loads(repair.raw_body)["data"]["subscription_id"] == "csub_from_webhook"
    linked = EntityQuery("subscription_item", ListFilters(subscription_id="csub_from_webhook"))
    assert [r.id for r in (await mirror.list_entities(linked)).records] == [item["id"]]
    again = await reconcile(api_url, mirror, kinds=("subscription_item",), pass_id="p2")
    assert (again.kinds["subscription_item"].unchanged, await mirror.head()) == (1, 2)


async def test_a_newer_tombstone_is_not_resurrected(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    (user,) = double.add("user")
    await mirror.append(event("user.deleted", user["id"], at=user["updated_at"] + 1000))
    report = await reconcile(api_url, mirror)
    assert (report.kinds["user"].kept, report.kinds["user"].appended) == (1, 0)
    assert await mirror.head() == 1
    assert (await record(mirror, "user", user["id"])).deleted


async def test_a_tombstone_older_than_the_snapshot_gives_way(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    (user,) = double.add("user")
    await mirror.append(event("user.deleted", user["id"], at=user["updated_at"] - 1000))
    report = await reconcile(api_url, mirror)
    assert report.kinds["user"].created == 1
    assert [e.type for e in await log(mirror)] == ["user.deleted", "user.created"]
    assert not (await record(mirror, "user", user["id"])).deleted


async def test_a_missing_entity_is_deleted_after_a_complete_listing(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    users = double.add("user", 20)
    await reconcile(api_url, mirror, pass_id="backfill")
    head = await mirror.head()
    double.remove("user", users[7]["id"])
    report = await reconcile(api_url, mirror, api_overrides={"page_size": 5})
    kind = report.kinds["user"]
    assert (kind.complete, kind.missing, kind.deleted, kind.unchanged) == (True, 1, 1, 19)
    (deletion,) = await log(mirror, after=head)
    assert deletion.type == "user.deleted"
    assert deletion.user_deleted.id == users[7]["id"] and deletion.user_deleted.deleted
    assert deletion.timestamp == NOW_MS
    assert (await record(mirror, "user", users[7]["id"])).deleted


async def test_a_listing_that_fails_midway_deletes_nothing_and_stops_the_pass(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    users = double.add("user", 20)
    await reconcile(api_url, mirror, pass_id="backfill")
    head = await mirror.head()
    double.remove("user", users[0]["id"])

    def fail_after_the_first_page(path: str, query: Mapping[str, str]) -> None:
        if "starting_after" in query and double.on_request is not None:
            double.on_request = None
            double.fail_next(503, times=FAST_RETRY.attempts)

    double.on_request = fail_after_the_first_page
    report = await reconcile(
        api_url,
        mirror,
        ("user", "organization"),
        api_overrides={"page_size": 5},
        allow_mass_delete=True,  # not even then: 15 of 20 went unlisted
    )
    kind = report.kinds["user"]
    assert report.error is not None and "503" in report.error
    assert not report.completed and "organization" not in report.kinds
    assert (kind.complete, kind.scanned, kind.deleted) == (False, 5, 0)
    assert kind.error == report.error
    assert await mirror.head() == head
    assert not (await record(mirror, "user", users[0]["id"])).deleted


async def test_a_rejected_listing_fails_its_kind_only(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    organizations = double.add("organization", 20)
    double.add("user", 3)
    await reconcile(api_url, mirror, ("organization",), pass_id="backfill")
    double.remove("organization", organizations[-1]["id"])

    def reject_the_second_page(path: str, query: Mapping[str, str]) -> None:
        if query.get("offset", "0") != "0" and double.on_request is not None:
            double.on_request = None
            double.fail_next(422)

    double.on_request = reject_the_second_page
    report = await reconcile(
        api_url, mirror, ("organization", "user"), api_overrides={"page_size": 5}
    )
    assert report.error is None and not report.completed
    failed = report.kinds["organization"]
    assert failed.error is not None and "HTTP 422" in failed.error
    assert (failed.complete, failed.deleted) == (False, 0)
    assert not (await record(mirror, "organization", organizations[-1]["id"])).deleted
    assert report.kinds["user"].complete and report.kinds["user"].created == 3


async def test_a_refused_key_stops_the_pass_naming_its_prefix_only(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    double.add("user", 3)
    wrong_key = "sk_live_" + "WrongKeyWrongKeyWrongKey0123"
    report = await reconcile(
        api_url, mirror, ("user", "organization"), api_overrides={"secret_key": wrong_key}
    )
    assert report.error is not None
    assert key_hint(wrong_key) in report.error and wrong_key not in report.error
    assert list(report.kinds) == ["user"]
    assert await mirror.head() == 0


async def test_the_mass_delete_guard_refuses_reports_and_yields_to_the_flag(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    users = double.add("user", 20)
    await reconcile(api_url, mirror, pass_id="backfill")
    head = await mirror.head()
    for user in users[:3]:  # 15% of them
        double.remove("user", user["id"])

    refused = await reconcile(api_url, mirror, pass_id="p2")
    kind = refused.kinds["user"]
    assert (kind.missing, kind.refused, kind.deleted) == (3, 3, 0)
    assert refused.refusals == {"user": kind.refusal}
    assert kind.refusal is not None and "3 of 20 live users" in kind.refusal
    assert "over the 10% limit" in kind.refusal
    assert await mirror.head() == head

    wider = await reconcile(api_url, mirror, pass_id="p3", max_delete_share=0.2)
    assert wider.kinds["user"].deleted == 3
    users = double.add("user", 17)
    await reconcile(api_url, mirror, pass_id="p4")
    for user in users[:4]:  # 4 of 34 live: 11.8%
        double.remove("user", user["id"])
    allowed = await reconcile(api_url, mirror, pass_id="p5", allow_mass_delete=True)
    assert (allowed.kinds["user"].deleted, allowed.refusals) == (4, {})
    for user in users[:4]:
        assert (await record(mirror, "user", user["id"])).deleted


async def test_entities_changed_during_the_pass_are_not_deleted(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    users = double.add("user", 20)
    await reconcile(api_url, mirror, pass_id="backfill")
    gone = users[5]["id"]
    double.remove("user", gone)

    async def webhooks_arrive() -> None:
        # A user the listing has passed by, and an update to one it will not list.
        await mirror.append(event("user.created", "user_created_meanwhile", at=NOW_MS))
        await mirror.append(event("user.updated", gone, at=NOW_MS, first_name="Meanwhile"))

    async with DuringListing(api_url, webhooks_arrive) as api:
        report = await run_pass(mirror, api, ["user"], "p2", PassSettings(clock_ms=lambda: NOW_MS))
    kind = report.kinds["user"]
    assert (kind.complete, kind.missing, kind.spared, kind.deleted) == (True, 2, 2, 0)
    assert not (await record(mirror, "user", "user_created_meanwhile")).deleted
    assert not (await record(mirror, "user", gone)).deleted
