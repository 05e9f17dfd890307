"""The console's pages over a real store: the log, an event, an entity, the subscribers."""

from __future__ import annotations

import html
import re
from pathlib import Path

import grpc
import httpx
import orjson
from prometheus_client import CollectorRegistry

from clerkrelay.v1.event_service_pb2 import SubscribeRequest
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from console.app import console_routes
from gateway.convert import convert
from gateway.ops import create_ops_app
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage import Retention
from service.storage.sqlite import SqliteStore
from tests.console.conftest import ConsoleClient
from tests.history import envelope, event, membership


def _sequences(page: str, table: str = "log-rows") -> list[int]:
    body = page.split(f'id="{table}"', 1)[1] if f'id="{table}"' in page else page
    return [int(n) for n in re.findall(r'<tr data-sequence="(\d+)"', body)]


def _pre(page: str, element_id: str) -> str:
    found = re.search(rf'<pre id="{element_id}">(.*?)</pre>', page, re.DOTALL)
    assert found is not None, page
    return html.unescape(found[1])


async def _seed(store: SqliteStore) -> None:
    await store.append(event("user.created", "user_a", webhook_id="msg_a1"))  # 1
    await store.append(event("session.created", "sess_1", user_id="user_a"))  # 2
    await store.append(event("user.created", "user_b", webhook_id="msg_b1"))  # 3
    await store.append(event("user.updated", "user_a", at=1_700_000_000_500))  # 4
    await store.append(
        membership("organizationMembership.created", "orgmem_1", "org_1", "user_a", 1)
    )  # 5


async def test_root_redirects_to_the_console(console_client: ConsoleClient) -> None:
    client = await console_client()
    response = await client.get("/")
    assert (response.status_code, response.headers["location"]) == (307, "/console/")


async def test_the_log_lists_the_newest_first_with_its_columns(
    store: SqliteStore, console_client: ConsoleClient
) -> None:
    await _seed(store)
    client = await console_client()
    response = await client.get("/console/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page = response.text
    assert _sequences(page) == [5, 4, 3, 2, 1]
    first = page.split('<tr data-sequence="3">', 1)[1].split("</tr>", 1)[0]
    assert '<td class="type">user.created</td>' in first
    assert '<a href="/console/entities/user/user_b">user_b</a>' in first
    assert "<td>webhook</td>" in first
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[\d:.]+Z">\d+[smhd] ago</time>', first)
    assert '<td class="svix">msg_b1</td>' in first
    assert 'data-after="5"' in page


async def test_the_log_filters(store: SqliteStore, console_client: ConsoleClient) -> None:
    await _seed(store)
    client = await console_client()
    by_type = await client.get("/console/", params={"type": "user.*"})
    assert _sequences(by_type.text) == [4, 3, 1]
    assert 'data-query="type=user.%2A"' in by_type.text
    by_two = await client.get("/console/", params={"type": "session.created, user.updated"})
    assert _sequences(by_two.text) == [4, 2]
    by_entity = await client.get("/console/", params={"entity": "user_a"})
    assert _sequences(by_entity.text) == [5, 4, 2, 1]
    by_svix = await client.get("/console/", params={"svix_id": "msg_b1"})
    assert _sequences(by_svix.text) == [3]
    none = await client.get("/console/", params={"svix_id": "msg_b1", "type": "session.*"})
    assert _sequences(none.text) == []
    future = await client.get("/console/", params={"since": "2999-01-01T00:00:00"})
    assert _sequences(future.text) == []
    past = await client.get("/console/", params={"since": "2000-01-01T00:00:00Z"})
    assert _sequences(past.text) == [5, 4, 3, 2, 1]


async def test_a_bad_filter_is_400_and_reads_nothing(console_client: ConsoleClient) -> None:
    client = await console_client()
    for params, said in (
        ({"type": "user.**"}, "invalid event type pattern"),
        ({"since": "yesterday"}, "since: not a time"),
    ):
        response = await client.get("/console/", params=params)
        assert response.status_code == 400, params
        assert said in html.unescape(response.text), params
    for after in ("x", "-1", str(2**64)):
        response = await client.get("/console/api/events", params={"after": after})
        assert response.status_code == 400, after


async def test_newer_rows_for_the_live_log(
    store: SqliteStore, console_client: ConsoleClient
) -> None:
    await _seed(store)
    client = await console_client()
    nothing = await client.get("/console/api/events", params={"after": "5"})
    assert (nothing.status_code, nothing.text, nothing.headers["x-last-sequence"]) == (200, "", "5")
    await store.append(event("user.deleted", "user_b"))  # 6
    await store.append(event("session.ended", "sess_1", user_id="user_a"))  # 7
    rows = await client.get("/console/api/events", params={"after": "5", "type": "user.*"})
    assert _sequences(rows.text) == [6]
    assert rows.headers["x-last-sequence"] == "7"
    every = await client.get("/console/api/events", params={"after": "5"})
    assert _sequences(every.text) == [7, 6]


async def test_newer_rows_after_retention_trimmed_the_page_s_start(
    tmp_path: Path, servers: list[RelayServer]
) -> None:
    trimmed = await SqliteStore.open(tmp_path / "trimmed.db", Retention(max_count=2))
    try:
        for n in range(5):
            await trimmed.append(event("user.created", f"user_{n}"))
        assert await trimmed.trim() == 3
        settings = ServiceSettings(grpc_addr="127.0.0.1:0", shutdown_grace_s=1.0)
        server = RelayServer(settings, trimmed)
        await server.start()
        servers.append(server)
        app = create_ops_app(
            CollectorRegistry(), {}, timeout_s=5, routes=console_routes(trimmed, server, settings)
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://ops.test"
        ) as client:
            rows = await client.get("/console/api/events", params={"after": "1"})
            assert rows.status_code == 200
            assert _sequences(rows.text) == [5, 4]
            assert rows.headers["x-last-sequence"] == "5"
        await server.stop()
    finally:
        await trimmed.close()


async def test_an_event_by_sequence_and_by_svix_id(
    store: SqliteStore, console_client: ConsoleClient
) -> None:
    env, webhook_id = envelope("user.created", "user_d", 1_700_000_000_000, "msg_detail")
    env["data"]["favourite_colour"] = "teal"  # not in the contract: drift
    body = orjson.dumps(env)
    await store.append(convert(env, body, webhook_id).event)
    client = await console_client()
    by_sequence = await client.get("/console/events/1")
    by_id = await client.get("/console/events/msg_detail")
    assert by_sequence.status_code == by_id.status_code == 200
    page = by_id.text
    assert _pre(page, "raw") == body.decode()
    typed = orjson.loads(_pre(page, "typed"))
    assert (typed["id"], typed["first_name"]) == ("user_d", env["data"]["first_name"])
    assert "<tr><th>svix-id</th><td>msg_detail</td></tr>" in page
    assert "<tr><th>Sequence</th><td>1</td></tr>" in page
    assert "<tr><th>Drift (untyped fields)</th><td>User.favourite_colour</td></tr>" in page
    assert "<tr><th>Typed view withheld</th><td>no</td></tr>" in page
    assert re.search(r"<tr><th>Received</th><td>\d{4}-[\d-]+T[\d:.]+Z</td></tr>", page)
    raw = await client.get("/console/events/1/raw")
    assert (raw.status_code, raw.content) == (200, body)
    assert raw.headers["content-type"] == "application/json"


async def test_an_event_whose_typed_view_was_withheld(
    store: SqliteStore, console_client: ConsoleClient
) -> None:
    body = b'{"type":"user.created","data":"not an object","object":"event"}'
    await store.append(convert(orjson.loads(body), body, "msg_omitted").event)
    client = await console_client()
    page = (await client.get("/console/events/msg_omitted")).text
    assert '<p id="typed">No typed view: PAYLOAD_OMISSION_DATA_NOT_OBJECT</p>' in page
    assert "<tr><th>Typed view withheld</th><td>PAYLOAD_OMISSION_DATA_NOT_OBJECT</td></tr>" in page
    assert _pre(page, "raw") == body.decode()


async def test_an_absent_event_is_404(store: SqliteStore, console_client: ConsoleClient) -> None:
    client = await console_client()
    for path in ("/console/events/7", "/console/events/msg_never", "/console/events/7/raw"):
        response = await client.get(path)
        assert response.status_code == 404, path
    assert (
        "no event with id &#x27;msg_never&#x27;"
        in (await client.get("/console/events/msg_never")).text
    )


async def test_an_entity_with_its_state_and_history(
    store: SqliteStore, console_client: ConsoleClient
) -> None:
    await _seed(store)
    await store.append(event("user.created", "user_c"))  # 6: not about user_a
    client = await console_client()
    page = (await client.get("/console/entities/user/user_a")).text
    state = orjson.loads(_pre(page, "state"))
    assert state["id"] == "user_a"
    assert 'State (current) as of event <a href="/console/events/4">4</a>' in page
    assert _sequences(page, "history") == [1, 2, 4, 5]  # oldest first: the history
    gone = (await client.get("/console/entities/user/user_never")).text
    assert '<p id="state">The mirror has never seen it.</p>' in gone
    assert _sequences(gone, "history") == []
    anything = (await client.get("/console/entities/any/sess_1")).text
    assert _sequences(anything, "history") == [2]
    assert (await client.get("/console/entities/users/user_a")).status_code == 400


async def test_the_subscribers_page(
    store: SqliteStore,
    console_client: ConsoleClient,
    servers: list[RelayServer],
) -> None:
    await _seed(store)
    client = await console_client()
    empty = (await client.get("/console/subscribers")).text
    assert "0 streams open in this process." in empty
    (server,) = servers  # a real stream through the console's own gRPC server
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stream = EventServiceStub(channel).Subscribe(
            SubscribeRequest(event_types=["user.*"], after_sequence=0)
        )
        async for response in stream:
            if response.WhichOneof("response") == "caught_up":
                break
        page = (await client.get("/console/subscribers")).text
        stream.cancel()
    row = page.split('<tr data-stream="1">', 1)[1].split("</tr>", 1)[0]
    assert '<td class="filter">types=user.*</td>' in row
    assert '<td class="position">5</td>' in row
    assert '<td class="lag">0</td>' in row
    assert '<td class="fell-behind">0</td>' in row
    assert "1 stream open in this process." in page
