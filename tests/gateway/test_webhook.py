"""POST /webhooks/clerk end to end through a real SQLite store: every outcome, exactly.

Each test asserts the exact status and JSON body, and reads the store back to
check that it holds exactly what it should (nothing, for every rejection).
"""

from __future__ import annotations

import asyncio
import copy
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clerkrelay.cli.samples import sample
from clerkrelay.v1.event_pb2 import Event
from gateway.app import create_app
from gateway.publisher import StorePublisher
from gateway.settings import GatewaySettings
from service.storage.sqlite import SqliteStore
from tests.gateway.app_client import PATH, USER_CREATED, client_for
from tests.gateway.signing import (
    OTHER_SECRET,
    SECRET,
    VECTOR_BODY,
    VECTOR_ID,
    VECTOR_SECRET,
    VECTOR_SIGNATURE,
    VECTOR_TIMESTAMP,
    body_of,
    signed_headers,
)


async def post(client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    response = await client.post(PATH, content=body, headers=headers)
    assert response.headers["content-type"] == "application/json"
    return response.status_code, response.json()


async def stored(store: SqliteStore) -> list[Event]:
    return [row.event() for row in (await store.read(0, 1000)).events]


async def assert_nothing_stored(store: SqliteStore) -> None:
    assert await store.head() == 0
    assert await stored(store) == []


# -- accepted ------------------------------------------------------------------------


async def test_accepted_is_stored_with_its_exact_body(
    client: httpx.AsyncClient, store: SqliteStore
) -> None:
    before_ns = time.time_ns()
    status, answer = await post(client, USER_CREATED, signed_headers(USER_CREATED))
    assert (status, answer) == (200, {"sequence": 1})
    [event] = await stored(store)
    assert event.id == "msg_test_1"
    assert event.type == "user.created"
    assert event.sequence == 1
    assert event.raw_body == USER_CREATED
    assert event.WhichOneof("payload") == "user_created"
    assert event.user_created.id == sample("user.created")["data"]["id"]
    assert event.receive_time.ToNanoseconds() >= before_ns


async def test_accepted_events_get_increasing_sequences(
    client: httpx.AsyncClient, store: SqliteStore
) -> None:
    for n, event_type in enumerate(["user.created", "session.created", "email.created"], 1):
        body = body_of(sample(event_type))
        status, answer = await post(client, body, signed_headers(body, webhook_id=f"msg_{n}"))
        assert (status, answer) == (200, {"sequence": n})
    assert [(e.id, e.type) for e in await stored(store)] == [
        ("msg_1", "user.created"),
        ("msg_2", "session.created"),
        ("msg_3", "email.created"),
    ]


async def test_unknown_event_type_is_accepted_and_stored_raw(
    client: httpx.AsyncClient, store: SqliteStore
) -> None:
    body = b'{"type":"spaceship.launched","object":"event","data":{"id":"ship_1"},"timestamp":1}'
    status, answer = await post(client, body, signed_headers(body))
    assert (status, answer) == (200, {"sequence": 1})
    [event] = await stored(store)
    assert event.type == "spaceship.launched"
    assert event.raw_body == body
    assert event.WhichOneof("payload") is None


async def test_stale_event_is_accepted_and_flagged(
    client: httpx.AsyncClient, store: SqliteStore
) -> None:
    older = sample("user.updated")
    newer = copy.deepcopy(older)
    newer["data"]["updated_at"] += 1000
    newer_body, older_body = body_of(newer), body_of(older)
    first = await post(client, newer_body, signed_headers(newer_body, webhook_id="msg_new"))
    assert first == (200, {"sequence": 1})
    second = await post(client, older_body, signed_headers(older_body, webhook_id="msg_old"))
    assert second == (200, {"sequence": 2, "stale": True})
    assert [(e.id, e.stale) for e in await stored(store)] == [("msg_new", False), ("msg_old", True)]


async def test_body_in_several_chunks_is_verified_whole(
    client: httpx.AsyncClient, store: SqliteStore
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(USER_CREATED), 500):
            yield USER_CREATED[start : start + 500]

    headers = signed_headers(USER_CREATED)
    response = await client.post(PATH, content=chunks(), headers=headers)
    assert "content-length" not in response.request.headers
    assert (response.status_code, response.json()) == (200, {"sequence": 1})
    [event] = await stored(store)
    assert event.raw_body == USER_CREATED


# -- duplicates ----------------------------------------------------------------------


async def test_duplicate_changes_nothing(client: httpx.AsyncClient, store: SqliteStore) -> None:
    now = int(time.time())
    first = await post(client, USER_CREATED, signed_headers(USER_CREATED, timestamp=now - 60))
    assert first == (200, {"sequence": 1})
    # A retry: same id and body, signed again at a later time.
    retry = await post(client, USER_CREATED, signed_headers(USER_CREATED, timestamp=now))
    assert retry == (200, {"duplicate": True, "sequence": 1})
    assert [e.id for e in await stored(store)] == ["msg_test_1"]
    assert await store.head() == 1


async def test_concurrent_deliveries_of_one_webhook_store_it_once(
    client: httpx.AsyncClient, store: SqliteStore
) -> None:
    n = 20
    now = int(time.time())
    deliveries = [
        post(
            client,
            USER_CREATED,
            signed_headers(USER_CREATED, webhook_id="msg_twin", timestamp=now - i),
        )
        for i in range(n)
    ]
    answers = await asyncio.gather(*deliveries)
    assert all(status == 200 for status, _ in answers)
    bodies = [body for _, body in answers]
    assert bodies.count({"sequence": 1}) == 1
    assert bodies.count({"duplicate": True, "sequence": 1}) == n - 1
    assert [e.id for e in await stored(store)] == ["msg_twin"]
    assert await store.head() == 1


# -- signature failures --------------------------------------------------------------


async def test_bad_signature(client: httpx.AsyncClient, store: SqliteStore) -> None:
    headers = signed_headers(USER_CREATED, secrets=(OTHER_SECRET,))
    assert await post(client, USER_CREATED, headers) == (401, {"error": "no matching signature"})
    await assert_nothing_stored(store)


async def test_tampered_body(client: httpx.AsyncClient, store: SqliteStore) -> None:
    headers = signed_headers(USER_CREATED)
    tampered = USER_CREATED.replace(b"user_", b"usr__", 1)
    assert await post(client, tampered, headers) == (401, {"error": "no matching signature"})
    await assert_nothing_stored(store)


async def test_no_v1_signature(client: httpx.AsyncClient, store: SqliteStore) -> None:
    headers = {**signed_headers(USER_CREATED), "svix-signature": "v1a,c2lnbmF0dXJl"}
    assert await post(client, USER_CREATED, headers) == (401, {"error": "no v1 signature"})
    await assert_nothing_stored(store)


@pytest.mark.parametrize(
    ("offset", "reason"), [(-301, "timestamp too old"), (301, "timestamp too new")]
)
async def test_timestamp_out_of_tolerance(
    client: httpx.AsyncClient, store: SqliteStore, offset: int, reason: str
) -> None:
    headers = signed_headers(USER_CREATED, timestamp=int(time.time()) + offset)
    assert await post(client, USER_CREATED, headers) == (401, {"error": reason})
    await assert_nothing_stored(store)


@pytest.mark.parametrize(("offset", "status"), [(-61, 401), (-59, 200), (59, 200), (61, 401)])
async def test_tolerance_is_configurable(store: SqliteStore, offset: int, status: int) -> None:
    now = 1_750_000_000
    app = create_app(
        GatewaySettings(secrets=(SECRET,), tolerance_s=60), StorePublisher(store), now=lambda: now
    )
    async with client_for(app) as client:
        got, _ = await post(
            client, USER_CREATED, signed_headers(USER_CREATED, timestamp=now + offset)
        )
    assert got == status
    assert await store.head() == (1 if status == 200 else 0)


@pytest.mark.parametrize("name", ["svix-id", "svix-timestamp", "svix-signature"])
async def test_missing_header(client: httpx.AsyncClient, store: SqliteStore, name: str) -> None:
    headers = signed_headers(USER_CREATED)
    del headers[name]
    assert await post(client, USER_CREATED, headers) == (400, {"error": f"missing {name} header"})
    await assert_nothing_stored(store)


async def test_webhook_prefixed_headers_are_accepted(
    client: httpx.AsyncClient, store: SqliteStore
) -> None:
    headers = signed_headers(USER_CREATED, prefix="webhook")
    assert "svix-id" not in headers
    assert await post(client, USER_CREATED, headers) == (200, {"sequence": 1})
    assert [e.id for e in await stored(store)] == ["msg_test_1"]


@pytest.mark.parametrize("signer", [SECRET, OTHER_SECRET])
async def test_secret_rotation_either_secret_passes(store: SqliteStore, signer: str) -> None:
    app = create_app(GatewaySettings(secrets=(SECRET, OTHER_SECRET)), StorePublisher(store))
    async with client_for(app) as client:
        headers = signed_headers(USER_CREATED, secrets=(signer,))
        assert await post(client, USER_CREATED, headers) == (200, {"sequence": 1})
    assert [e.id for e in await stored(store)] == ["msg_test_1"]


async def test_svix_test_vector_passes_verification(store: SqliteStore) -> None:
    """Svix's published vector, with the clock frozen at its timestamp.

    Its body is not a Clerk event, so it is refused with 400 after the
    signature check; a 401 would mean the signature check failed.
    """
    app = create_app(
        GatewaySettings(secrets=(VECTOR_SECRET,)),
        StorePublisher(store),
        now=lambda: VECTOR_TIMESTAMP,
    )
    headers = {
        "svix-id": VECTOR_ID,
        "svix-timestamp": str(VECTOR_TIMESTAMP),
        "svix-signature": VECTOR_SIGNATURE,
    }
    async with client_for(app) as client:
        assert await post(client, VECTOR_BODY, headers) == (
            400,
            {"error": "body has no event type"},
        )
        tampered = VECTOR_BODY.replace(b"4", b"5")
        assert await post(client, tampered, headers) == (401, {"error": "no matching signature"})
    await assert_nothing_stored(store)


# -- bodies that are not events ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "unexpected character, expected a string key"),
        (b"", "Input is a zero-length, empty document"),
        (b'{"type": "user.created"', "unexpected end of data"),
        (b"\xef\xbb\xbf{}", "UTF-8 byte order mark (BOM) is not supported"),
    ],
)
async def test_invalid_json(
    client: httpx.AsyncClient, store: SqliteStore, body: bytes, reason: str
) -> None:
    answer = await post(client, body, signed_headers(body))
    assert answer == (400, {"error": f"invalid JSON: {reason}"})
    await assert_nothing_stored(store)


@pytest.mark.parametrize("body", [b"[1, 2]", b'"user.created"', b"null", b"42"])
async def test_not_an_object(client: httpx.AsyncClient, store: SqliteStore, body: bytes) -> None:
    answer = await post(client, body, signed_headers(body))
    assert answer == (400, {"error": "body is not a JSON object"})
    await assert_nothing_stored(store)


@pytest.mark.parametrize(
    "body",
    [b"{}", b'{"data": {"id": "user_1"}}', b'{"type": ""}', b'{"type": 7}', b'{"type": null}'],
)
async def test_no_type(client: httpx.AsyncClient, store: SqliteStore, body: bytes) -> None:
    answer = await post(client, body, signed_headers(body))
    assert answer == (400, {"error": "body has no event type"})
    await assert_nothing_stored(store)


# -- size limit ----------------------------------------------------------------------


class Chunks:
    """A streamed request body that counts how much of it the server pulled."""

    def __init__(self, size: int, count: int) -> None:
        self.size = size
        self.count = count
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            self.pulled += 1
            yield b" " * self.size


async def test_too_large_by_content_length_is_refused_unread(
    client: httpx.AsyncClient, store: SqliteStore
) -> None:
    body = Chunks(64 * 1024, 17)  # 1 MiB + 64 KiB
    headers = {**signed_headers(b"{}"), "content-length": str(17 * 64 * 1024)}
    response = await client.post(PATH, content=body, headers=headers)
    assert (response.status_code, response.json()) == (413, {"error": "body too large"})
    assert body.pulled == 0
    await assert_nothing_stored(store)


async def test_too_large_while_streaming_stops_at_the_limit(
    client: httpx.AsyncClient, store: SqliteStore
) -> None:
    body = Chunks(64 * 1024, 100)  # 6.25 MiB, no Content-Length
    response = await client.post(PATH, content=body, headers=signed_headers(b"{}"))
    assert "content-length" not in response.request.headers
    assert (response.status_code, response.json()) == (413, {"error": "body too large"})
    assert body.pulled == 17  # 16 chunks make exactly 1 MiB; the 17th crosses the limit
    await assert_nothing_stored(store)


async def test_body_exactly_at_the_limit_is_read(store: SqliteStore) -> None:
    envelope = sample("user.created")
    body = body_of(envelope)
    app = create_app(
        GatewaySettings(secrets=(SECRET,), max_body_bytes=len(body)), StorePublisher(store)
    )
    async with client_for(app) as client:
        assert await post(client, body, signed_headers(body)) == (200, {"sequence": 1})
        longer = body_of({**envelope, "pad": "x"})
        assert await post(client, longer, signed_headers(longer, webhook_id="msg_2")) == (
            413,
            {"error": "body too large"},
        )
    assert [e.id for e in await stored(store)] == ["msg_test_1"]


# -- store unavailable ---------------------------------------------------------------


async def test_closed_store_is_unavailable(
    client: httpx.AsyncClient, store: SqliteStore, tmp_path: Path
) -> None:
    await store.close()
    answer = await post(client, USER_CREATED, signed_headers(USER_CREATED))
    assert answer == (503, {"error": "store unavailable"})
    reopened = await SqliteStore.open(tmp_path / "relay.db")
    try:
        await assert_nothing_stored(reopened)
    finally:
        await reopened.close()


async def test_store_timeout_is_503_and_the_retry_stores_once(
    store: SqliteStore, tmp_path: Path
) -> None:
    """A store that cannot commit in time: 503 (Svix retries), then the retry is not doubled."""
    app = create_app(
        GatewaySettings(secrets=(SECRET,), publish_timeout_s=0.2), StorePublisher(store)
    )
    blocker = sqlite3.connect(tmp_path / "relay.db", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: appends wait
        async with client_for(app) as client:
            answer = await post(client, USER_CREATED, signed_headers(USER_CREATED))
            assert answer == (503, {"error": "store unavailable"})
            assert await stored(store) == []
            blocker.execute("ROLLBACK")
            retry = await post(client, USER_CREATED, signed_headers(USER_CREATED))
    finally:
        blocker.close()
    # The timed-out append may still have committed; either way there is one event.
    assert retry in [(200, {"sequence": 1}), (200, {"duplicate": True, "sequence": 1})]
    assert [e.id for e in await stored(store)] == ["msg_test_1"]
