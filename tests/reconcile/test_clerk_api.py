"""`ClerkApi` against the Backend API double on loopback: complete listings and every failure."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping

import orjson
import pytest

import service.reconcile
from service.reconcile import (
    LIST_ENDPOINTS,
    UNLISTABLE_KINDS,
    ApiObject,
    ApiSettings,
    ApiUnavailable,
    BadKey,
    ClerkApi,
    RequestRejected,
    RetryPolicy,
    UnexpectedResponse,
    key_hint,
)
from tests.reconcile.backend_double import BackendDouble, Faults
from tests.reconcile.conftest import FAST_RETRY, list_all, settings


def _ids(items: list[ApiObject]) -> list[str]:
    return [str(item["id"]) for item in items]


@pytest.mark.parametrize("kind", sorted(LIST_ENDPOINTS))
async def test_lists_every_kind_completely(kind: str) -> None:
    double = BackendDouble(record_bodies=False)
    expected = _ids(double.add(kind, 1234))
    with double.serve() as url:
        async with ClerkApi(settings(url)) as api:
            listed = await list_all(api, kind)
    assert sorted(_ids(listed)) == sorted(expected)
    assert len(set(_ids(listed))) == len(listed)
    assert api.counters.listed[kind] == 1234
    queries = [dict(exchange.query) for exchange in double.exchanges]
    assert all(query["limit"] == "500" for query in queries)
    if LIST_ENDPOINTS[kind].cursor:
        assert _ids(listed) == expected  # created_at order, oldest first
        assert len(queries) == 3 and "offset" not in queries[-1]
        assert queries[-1]["starting_after"] == expected[999]
    else:
        assert [query["offset"] for query in queries] == ["0", "490", "980"]
        assert api.counters.totals[kind] == 1234
    assert api.counters.requests == {200: 3}


async def test_an_empty_kind_is_one_request(double: BackendDouble, api_url: str) -> None:
    async with ClerkApi(settings(api_url)) as api:
        assert await list_all(api, "permission") == []
    assert double.statuses() == [200]


async def test_users_created_during_the_listing_are_listed_once(
    double: BackendDouble, api_url: str
) -> None:
    before = _ids(double.add("user", 1234))
    added: list[str] = []

    def during(path: str, query: Mapping[str, str]) -> None:
        if "starting_after" in query and not added:
            added.extend(_ids(double.add("user", 7)))
            double.update("user", before[3], first_name="Changed")

    double.on_request = during
    async with ClerkApi(settings(api_url)) as api:
        listed = _ids(await list_all(api, "user"))
    assert len(added) == 7
    assert listed == before + added
    assert api.counters.duplicates["user"] == 0


async def test_a_cursor_whose_user_was_deleted_goes_on_from_the_one_before(
    double: BackendDouble, api_url: str
) -> None:
    users = _ids(double.add("user", 25))

    def during(path: str, query: Mapping[str, str]) -> None:
        if query.get("starting_after") == users[9]:
            double.remove("user", users[9])

    double.on_request = during
    async with ClerkApi(settings(api_url, page_size=10)) as api:
        listed = _ids(await list_all(api, "user"))
    assert listed == users[:10] + users[10:]
    assert 422 in double.statuses()


async def test_offset_pages_drop_duplicates_when_objects_shift(
    double: BackendDouble, api_url: str
) -> None:
    before = _ids(double.add("organization", 1234))
    oldest = double.objects("organization")[0]["created_at"]

    def during(path: str, query: Mapping[str, str]) -> None:
        if query.get("offset") == "490":  # five older ones: the rest shifts by five
            for n in range(5):
                double.add("organization", created_at=oldest - 100 + n)

    double.on_request = during
    async with ClerkApi(settings(api_url)) as api:
        listed = _ids(await list_all(api, "organization"))
    assert len(set(listed)) == len(listed)
    assert set(before) <= set(listed)
    # the overlaps (10 on each later page) and the shift (5, once)
    assert api.counters.duplicates["organization"] == 2 * 10 + 5


async def test_objects_deleted_behind_an_offset_listing_do_not_hide_others(
    double: BackendDouble, api_url: str
) -> None:
    before = _ids(double.add("organization_membership", 1234))
    deleted = before[100:130]  # more than the overlap: the next page would skip 20

    def during(path: str, query: Mapping[str, str]) -> None:
        if query.get("offset") == "490" and deleted[0] in _ids(double.objects(kind)):
            for object_id in deleted:
                double.remove(kind, object_id)

    kind = "organization_membership"
    double.on_request = during
    async with ClerkApi(settings(api_url)) as api:
        listed = _ids(await list_all(api, kind))
    assert set(listed) >= set(before) - set(deleted)
    assert len(set(listed)) == len(listed)
    assert api.counters.rewinds == 1


async def test_a_short_page_is_not_the_end_while_total_count_says_more(
    double: BackendDouble, api_url: str
) -> None:
    organizations = double.add("organization", 5)
    double.answer_next(orjson.dumps({"data": organizations[:3], "total_count": 5}))
    async with ClerkApi(settings(api_url)) as api:
        listed = _ids(await list_all(api, "organization"))
    assert listed == _ids(organizations)
    assert [dict(exchange.query)["offset"] for exchange in double.exchanges] == ["0", "1"]


async def test_a_total_count_that_is_never_reached_ends_without_progress(
    double: BackendDouble, api_url: str
) -> None:
    organizations = double.add("organization", 3)
    double.answer_next(orjson.dumps({"data": organizations, "total_count": 9}))
    double.answer_next(orjson.dumps({"data": organizations[1:], "total_count": 9}))
    async with ClerkApi(settings(api_url)) as api:
        listed = _ids(await list_all(api, "organization"))
    assert listed == _ids(organizations)
    assert len(double.exchanges) == 2


async def test_429_waits_retry_after_then_completes(double: BackendDouble, api_url: str) -> None:
    users = _ids(double.add("user", 30))
    double.fail_next(429, times=2, retry_after_s=1)
    started = time.monotonic()
    async with ClerkApi(settings(api_url, page_size=10)) as api:
        listed = _ids(await list_all(api, "user"))
    elapsed = time.monotonic() - started
    assert listed == users
    assert double.statuses() == [429, 429, 200, 200, 200, 200]
    assert api.counters.rate_limited_waits == 2
    assert api.counters.rate_limited_wait_s == 2.0
    assert elapsed >= 2.0  # a lower bound only: it cannot flake on a slow machine


async def test_retry_after_is_capped(double: BackendDouble, api_url: str) -> None:
    double.add("user", 3)
    double.fail_next(429, retry_after_s=3600)
    retry = RetryPolicy(max_retry_after_s=0.05)
    async with ClerkApi(settings(api_url, retry=retry)) as api:
        assert len(await list_all(api, "user")) == 3
    assert api.counters.rate_limited_wait_s == 0.05


async def test_429_without_end_is_api_unavailable(double: BackendDouble, api_url: str) -> None:
    double.fail_next(429, times=4, retry_after_s=0)
    retry = RetryPolicy(rate_limited_waits=3)
    async with ClerkApi(settings(api_url, retry=retry)) as api:
        with pytest.raises(ApiUnavailable, match="HTTP 429"):
            await list_all(api, "role")
    assert double.statuses() == [429] * 4


async def test_random_429_and_5xx_still_list_everything() -> None:
    double = BackendDouble(
        faults=Faults(rate_limit_rate=0.2, retry_after_s=0, error_rate=0.1, seed=7)
    )
    expected = _ids(double.add("waitlist_entry", 600))
    with double.serve() as url:
        async with ClerkApi(settings(url, page_size=50)) as api:
            listed = _ids(await list_all(api, "waitlist_entry"))
    assert sorted(listed) == sorted(expected)
    statuses = double.statuses()
    assert api.counters.rate_limited_waits == statuses.count(429) > 0
    assert api.counters.retries == statuses.count(503) > 0


async def test_5xx_is_retried_then_succeeds(double: BackendDouble, api_url: str) -> None:
    roles = _ids(double.add("role", 5))
    double.fail_next(500)
    double.fail_next(502)
    async with ClerkApi(settings(api_url)) as api:
        assert _ids(await list_all(api, "role")) == roles
    assert double.statuses() == [500, 502, 200]
    assert api.counters.retries == 2
    assert api.counters.requests == {500: 1, 502: 1, 200: 1}


async def test_persistent_5xx_is_api_unavailable(double: BackendDouble, api_url: str) -> None:
    double.fail_next(503, times=10)
    async with ClerkApi(settings(api_url)) as api:
        with pytest.raises(ApiUnavailable, match=r"/organizations answered HTTP 503.*4 attempts"):
            await list_all(api, "organization")
    assert double.statuses() == [503] * FAST_RETRY.attempts


async def test_an_unreachable_api_is_api_unavailable() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with ClerkApi(settings(f"http://127.0.0.1:{port}/v1")) as api:
        with pytest.raises(ApiUnavailable, match="ConnectError"):
            await list_all(api, "user")
    assert api.counters.network_errors == FAST_RETRY.attempts
    assert api.counters.requests == {}


@pytest.mark.parametrize("status", [401, 403])
async def test_a_bad_key_names_its_prefix_only(
    double: BackendDouble, api_url: str, status: int
) -> None:
    key = "sk_live_Zq9xHIDDENPART0123456789abcdefghijkl"
    if status == 403:
        double.forbidden_keys.add(key)
    async with ClerkApi(settings(api_url, secret_key=key)) as api:
        with pytest.raises(BadKey) as caught:
            await list_all(api, "user")
    message = str(caught.value)
    assert "sk_live_Zq9x…" in message and f"HTTP {status}" in message
    assert "HIDDEN" not in message + repr(caught.value) + repr(api.settings)
    assert caught.value.status == status
    assert double.statuses() == [status]


def test_key_hint_never_gives_a_key_away() -> None:
    assert key_hint("sk_test_abcdEFGHijklMNOPqrst") == "sk_test_abcd…"
    assert key_hint("sk_live_short") == "sk_live_…"
    assert key_hint("not-a-clerk-key-at-all") == "a key without the sk_live_/sk_test_ prefix"


async def test_another_4xx_is_request_rejected(double: BackendDouble, api_url: str) -> None:
    async with ClerkApi(settings(api_url + "/elsewhere")) as api:
        with pytest.raises(RequestRejected, match="HTTP 404 to GET /users: resource_not_found"):
            await list_all(api, "user")
    assert double.statuses() == [404]


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("user", b'{"data": []}'),
        ("organization", b"[]"),
        ("organization", b'{"data": [{"name": "no id"}], "total_count": 1}'),
        ("role", b"<html>"),
    ],
)
async def test_a_body_of_the_wrong_shape_is_unexpected(
    double: BackendDouble, api_url: str, kind: str, body: bytes
) -> None:
    double.answer_next(body)
    async with ClerkApi(settings(api_url)) as api:
        with pytest.raises(UnexpectedResponse):
            await list_all(api, kind)


@pytest.mark.parametrize("kind", sorted(UNLISTABLE_KINDS) + ["no_such_kind"])
async def test_unlistable_kinds_are_refused(kind: str) -> None:
    async with ClerkApi(settings("http://127.0.0.1:9/v1")) as api:
        with pytest.raises(ValueError, match="cannot be listed"):
            await list_all(api, kind)


@pytest.mark.parametrize("page_size", [0, 501])
def test_page_size_is_1_to_500(page_size: int) -> None:
    with pytest.raises(ValueError, match="page_size"):
        ApiSettings(secret_key="sk_test_x", page_size=page_size)


async def test_the_key_is_sent_as_a_bearer_token_and_the_budget_is_shared(
    double: BackendDouble, api_url: str
) -> None:
    double.add("permission", 2)
    async with (
        ClerkApi(settings(api_url)) as first,
        ClerkApi(settings(api_url), budget=first.budget) as second,
    ):
        lists = await asyncio.gather(list_all(first, "permission"), list_all(second, "permission"))
    assert [len(items) for items in lists] == [2, 2]
    assert second.budget is first.budget


def test_public_surface_is_pinned() -> None:
    assert sorted(service.reconcile.__all__) == [
        "ApiCounters",
        "ApiObject",
        "ApiSettings",
        "ApiUnavailable",
        "BadKey",
        "Change",
        "ClerkApi",
        "ClerkApiError",
        "DEFAULT_API_URL",
        "DEFAULT_MAX_DELETE_SHARE",
        "DEFAULT_SHARE",
        "InstanceLimit",
        "KindReport",
        "LIST_ENDPOINTS",
        "ListEndpoint",
        "Outcome",
        "PassReport",
        "PassSettings",
        "RECONCILE_ID_PREFIX",
        "RequestBudget",
        "RequestRejected",
        "RetryPolicy",
        "Snapshot",
        "UNLISTABLE_KINDS",
        "UnexpectedResponse",
        "decide",
        "deleted_event",
        "instance_limit",
        "key_hint",
        "run_pass",
        "snapshot",
    ]
