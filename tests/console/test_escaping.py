"""Event contents are attacker-controlled: every page shows them as text, never as markup."""

from __future__ import annotations

import html

import orjson

from gateway.convert import convert
from service.storage.sqlite import SqliteStore
from tests.console.conftest import ConsoleClient
from tests.history import envelope

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'


async def _hostile(store: SqliteStore) -> bytes:
    env, _ = envelope(
        "user.created",
        "user_x",
        1_700_000_000_000,
        first_name=SCRIPT,
        last_name=ATTRIBUTE,
    )
    body = orjson.dumps(env)
    await store.append(convert(env, body, "msg_<b>bold</b>").event)
    # An unknown type whose name is markup: stored and shown like any other.
    odd = b'{"type":"<i>x</i>.created","data":{"id":"id_1"},"object":"event"}'
    await store.append(convert(orjson.loads(odd), odd, "msg_odd").event)
    # An entity id that is markup (ids come from the sender too).
    env, _ = envelope("user.created", "user_<u>x", 1_700_000_000_000)
    marked = orjson.dumps(env)
    await store.append(convert(env, marked, "msg_marked").event)
    return body


def _no_markup_from_the_event(page: str) -> None:
    for dangerous in (SCRIPT, "<img src=x", "<b>bold</b>", "<i>x</i>", "<u>"):
        assert dangerous not in page, dangerous
    assert "onerror=alert(2)>" not in page.replace("&gt;", "")  # the quote is escaped too


async def test_the_log_shows_markup_as_text(
    store: SqliteStore, console_client: ConsoleClient
) -> None:
    await _hostile(store)
    client = await console_client()
    for path, params in (
        ("/console/", {}),
        ("/console/api/events", {"after": "0"}),
        ("/console/", {"svix_id": "msg_<b>bold</b>"}),
        ("/console/", {"entity": '"><script>x</script>'}),
    ):
        page = (await client.get(path, params=params)).text
        _no_markup_from_the_event(page)
        assert "<script>x</script>" not in page
    log = (await client.get("/console/")).text
    assert "msg_&lt;b&gt;bold&lt;/b&gt;" in log
    assert "&lt;i&gt;x&lt;/i&gt;.created" in log
    assert '<a href="/console/entities/user/user_%3Cu%3Ex">user_&lt;u&gt;x</a>' in log


async def test_the_event_page_shows_markup_as_text(
    store: SqliteStore, console_client: ConsoleClient
) -> None:
    body = await _hostile(store)
    client = await console_client()
    page = (await client.get("/console/events/1")).text
    _no_markup_from_the_event(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    raw = page.split('<pre id="raw">', 1)[1].split("</pre>", 1)[0]
    assert html.unescape(raw) == body.decode()
    assert "<title>Event 1: user.created · clerk-relay</title>" in page
    odd = (await client.get("/console/events/2")).text
    _no_markup_from_the_event(odd)


async def test_the_entity_page_shows_markup_as_text(
    store: SqliteStore, console_client: ConsoleClient
) -> None:
    await _hostile(store)
    client = await console_client()
    page = (await client.get("/console/entities/user/user_x")).text
    _no_markup_from_the_event(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the state's first_name
    marked = (await client.get("/console/entities/user/user_%3Cu%3Ex")).text
    _no_markup_from_the_event(marked)
    assert "<h1>user user_&lt;u&gt;x</h1>" in marked
    assert "&quot;id&quot;: &quot;user_&lt;u&gt;x&quot;" in marked  # the state
