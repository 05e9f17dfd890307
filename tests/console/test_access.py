"""Who may see the console: an admin token (header or login cookie) when authentication is on."""

from __future__ import annotations

import pytest

from service.storage.sqlite import SqliteStore
from tests.console.conftest import ADMIN, SUBSCRIBER, TOKENS, ConsoleClient
from tests.history import event

PAGES = (
    "/console/",
    "/console/api/events?after=0",
    "/console/events/1",
    "/console/events/1/raw",
    "/console/entities/user/user_a",
    "/console/subscribers",
)


@pytest.fixture(autouse=True)
async def _one_event(store: SqliteStore) -> None:
    await store.append(event("user.created", "user_a", first_name="Secret"))


async def test_without_tokens_the_console_is_open(console_client: ConsoleClient) -> None:
    client = await console_client()
    for path in PAGES:
        assert (await client.get(path)).status_code == 200, path


@pytest.mark.parametrize("path", PAGES)
async def test_no_credential_is_401_and_shows_nothing(
    console_client: ConsoleClient, path: str
) -> None:
    client = await console_client(TOKENS)
    response = await client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="clerk-relay console"'
    assert '<form method="post" action="/console/login">' in response.text
    assert "Secret" not in response.text and "user_a" not in response.text


async def test_bearer_tokens(console_client: ConsoleClient) -> None:
    client = await console_client(TOKENS)
    for header, status in (
        (f"Bearer {ADMIN}", 200),
        (f"bearer {ADMIN}", 200),
        (f"Bearer {SUBSCRIBER}", 403),
        ("Bearer not-a-token", 401),
        (f"Basic {ADMIN}", 401),
        ("Bearer ", 401),
    ):
        response = await client.get("/console/events/1", headers={"authorization": header})
        assert response.status_code == status, header
        assert ("Secret" in response.text) is (status == 200), header


async def test_login_sets_an_httponly_cookie_that_opens_the_console(
    console_client: ConsoleClient,
) -> None:
    client = await console_client(TOKENS)
    form = await client.get("/console/login")
    assert form.status_code == 200 and 'name="token"' in form.text
    response = await client.post("/console/login", data={"token": ADMIN})
    assert (response.status_code, response.headers["location"]) == (303, "/console/")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("clerk_relay_console=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert ADMIN not in cookie  # an HMAC of it, not the token
    page = await client.get("/console/events/1")
    assert page.status_code == 200 and "Secret" in page.text
    logged_out = await client.post("/console/logout")
    assert logged_out.status_code == 303
    assert (await client.get("/console/events/1")).status_code == 401


async def test_login_refuses_other_tokens(console_client: ConsoleClient) -> None:
    client = await console_client(TOKENS)
    wrong = await client.post("/console/login", data={"token": "not-a-token"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    subscriber = await client.post("/console/login", data={"token": SUBSCRIBER})
    assert subscriber.status_code == 403 and "set-cookie" not in subscriber.headers
    assert "not an admin token" in subscriber.text
    huge = await client.post("/console/login", content=b"token=" + b"a" * 5000)
    assert huge.status_code == 400
    assert (await client.get("/console/")).status_code == 401


async def test_a_forged_cookie_is_401(console_client: ConsoleClient) -> None:
    client = await console_client(TOKENS)
    for value in ("", "0" * 64, ADMIN):
        client.cookies.set("clerk_relay_console", value, path="/console")
        assert (await client.get("/console/")).status_code == 401, value
    # A cookie from another process's console (another key) opens nothing here.
    other = await console_client(TOKENS)
    login = await other.post("/console/login", data={"token": ADMIN})
    stolen = login.cookies["clerk_relay_console"]
    client.cookies.set("clerk_relay_console", stolen, path="/console")
    assert (await client.get("/console/")).status_code == 401


async def test_the_script_and_style_need_no_credential(console_client: ConsoleClient) -> None:
    client = await console_client(TOKENS)
    script = await client.get("/console/console.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    style = await client.get("/console/console.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    health = await client.get("/healthz")
    assert health.status_code == 200  # the ops listener's probes stay open
