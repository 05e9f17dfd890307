"""The double and the client against Clerk's Backend API spec, so that neither drifts from it.

Every body the double sends is validated against the response schema the
spec gives its path and status; every query the client sends, against the
parameters the spec declares; the client's table of endpoints, against the
spec's paths, shapes and parameters. The double's paging rules (Clerk's, as
its spec and docs state them) are checked one by one over plain HTTP.
"""

from __future__ import annotations

import httpx
import pytest

from service.reconcile import LIST_ENDPOINTS, ClerkApi
from service.reconcile.endpoints import MAX_PAGE_SIZE
from tests.reconcile.backend_double import DOUBLE_PATHS, SECRET_KEY, BackendDouble, Exchange
from tests.reconcile.conftest import list_all, settings
from tests.reconcile.openapi_check import load_spec

AUTH = {"Authorization": f"Bearer {SECRET_KEY}"}


def _validate(exchange: Exchange) -> list[str]:
    spec = load_spec()
    schema = spec.response_schema(exchange.path, exchange.status)
    return spec.errors(schema, exchange.json()) + spec.parameter_errors(
        exchange.path, exchange.query
    )


def test_the_endpoints_table_matches_the_spec() -> None:
    spec = load_spec()
    for endpoint in LIST_ENDPOINTS.values():
        operation = spec.operation(endpoint.path)
        names = {spec.resolve(p)["name"] for p in operation["parameters"]}
        assert {"limit", "offset"} <= names, endpoint.path
        assert set(endpoint.params) <= names, endpoint.path
        assert ("starting_after" in names) == endpoint.cursor, endpoint.path
        body = spec.response_schema(endpoint.path, 200)
        assert (body.get("type") == "array") != endpoint.enveloped, endpoint.path
    assert spec.parameter_errors("/users", [("limit", str(MAX_PAGE_SIZE))]) == []
    assert spec.parameter_errors("/users", [("limit", str(MAX_PAGE_SIZE + 1))]) != []
    assert set(DOUBLE_PATHS) == {endpoint.path for endpoint in LIST_ENDPOINTS.values()}


def test_the_validator_can_fail() -> None:
    spec = load_spec()
    user = spec.resolve({"$ref": "#/components/schemas/User"})
    assert spec.errors(user, {"id": "user_1"})  # most required fields missing
    organizations = spec.response_schema("/organizations", 200)
    assert spec.errors(organizations, {"data": [], "total_count": 0}) == []
    assert spec.errors(organizations, {"data": [], "total_count": 0, "extra": 1})
    assert spec.errors(organizations, {"data": [{"object": "user"}], "total_count": 1})
    assert spec.parameter_errors("/organizations", [("starting_after", "org_1")])


async def test_every_listing_is_valid_against_the_spec(double: BackendDouble, api_url: str) -> None:
    for kind, _ in DOUBLE_PATHS.values():
        double.add(kind, 23)
    async with ClerkApi(settings(api_url, page_size=10)) as api:
        for kind in LIST_ENDPOINTS:
            assert len(await list_all(api, kind)) == 23
    assert len(double.exchanges) >= 3 * len(LIST_ENDPOINTS)
    for exchange in double.exchanges:
        assert exchange.status == 200
        assert _validate(exchange) == [], exchange.path


async def test_error_answers_are_valid_against_the_spec(
    double: BackendDouble, api_url: str
) -> None:
    double.forbidden_keys.add("sk_test_revoked")
    async with httpx.AsyncClient(base_url=api_url) as http:
        await http.get("/users", headers={"Authorization": "Bearer sk_test_wrong"})
        await http.get("/users", headers={"Authorization": "Bearer sk_test_revoked"})
        await http.get("/organizations", params={"limit": "0"}, headers=AUTH)
        double.fail_next(429, retry_after_s=3)
        double.fail_next(503)
        await http.get("/users", headers=AUTH)
        await http.get("/users", headers=AUTH)
    assert [exchange.status for exchange in double.exchanges] == [401, 403, 422, 429, 503]
    assert double.exchanges[3].headers["Retry-After"] == "3"
    spec = load_spec()
    for exchange in double.exchanges:
        schema = spec.response_schema(exchange.path, exchange.status)
        assert spec.errors(schema, exchange.json()) == [], exchange


async def _get(url: str, path: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
        return await http.get(path, params=params)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, 10),  # Clerk's default page
        ({"limit": "500"}, 500),
        ({"limit": "501"}, 10),  # the pitfall: silently ten
        ({"limit": "3", "offset": "598"}, 2),
    ],
)
async def test_limit_and_offset(
    double: BackendDouble, api_url: str, params: dict[str, str], expected: int
) -> None:
    double.add("organization", 600)
    response = await _get(api_url, "/organizations", **params)
    assert response.status_code == 200
    assert len(response.json()["data"]) == expected
    assert response.json()["total_count"] == 600


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "ten"},
        {"offset": "-1"},
        {"order_by": "favourite_colour"},
        {"starting_after": "user_missing"},
        {"starting_after": "FIRST", "order_by": "username"},
        {"starting_after": "FIRST", "offset": "1"},
    ],
)
async def test_refused_paging_is_422(
    double: BackendDouble, api_url: str, params: dict[str, str]
) -> None:
    first = double.add("user", 3)[0]["id"]
    query = {name: first if value == "FIRST" else value for name, value in params.items()}
    response = await _get(api_url, "/users", **query)
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"].startswith("form_param_")


@pytest.mark.parametrize(
    ("order_by", "expected"), [("created_at", [3, 4]), ("-created_at", [1, 0])]
)
async def test_starting_after_follows_the_order(
    double: BackendDouble, api_url: str, order_by: str, expected: list[int]
) -> None:
    users = [user["id"] for user in double.add("user", 5)]
    response = await _get(api_url, "/users", order_by=order_by, starting_after=users[2], limit="2")
    assert response.status_code == 200
    assert [user["id"] for user in response.json()] == [users[i] for i in expected]


async def test_default_order_is_newest_first(double: BackendDouble, api_url: str) -> None:
    roles = [role["id"] for role in double.add("role", 4)]
    response = await _get(api_url, "/organization_roles")
    assert [role["id"] for role in response.json()["data"]] == roles[::-1]


async def test_a_wrong_key_is_401(double: BackendDouble, api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as http:
        missing = await http.get("/users")
        wrong = await http.get("/users", headers={"Authorization": f"Bearer {SECRET_KEY}x"})
    assert missing.status_code == wrong.status_code == 401
    assert wrong.json()["errors"][0]["code"] == "authentication_invalid"
