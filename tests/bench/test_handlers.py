"""The ingest baselines that keep webhooks (`bench.handlers`) and the bench's per-webhook costs.

The hand-written handlers run in process on a real SQLite file, signed by the
real `svix` library; the bytes-written reading is checked on a child process
that writes and fsyncs a known amount.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from bench.handlers import WebhookDatabase, handler_app
from bench.payloads import typical_user_created
from bench.procs import written_bytes
from bench.workers import PhaseResult
from clerkrelay.cli.samples import sample
from tests.gateway.signing import OTHER_SECRET, SECRET, body_of, signed_headers

BASE_URL = "http://handler.test"
PATH = "/webhooks/clerk"
MIB = 1 << 20


@pytest.fixture(params=[False, True], ids=["handler", "handler+upsert"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WebhookDatabase]:
    db = WebhookDatabase(tmp_path / "handler.db", upsert=request.param)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
async def client(database: WebhookDatabase) -> AsyncIterator[httpx.AsyncClient]:
    app = handler_app(database, SECRET)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL) as c:
        yield c


def _rows(tmp_path: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "handler.db") as conn:
        return conn.execute(query).fetchall()


def _user_event(user_id: str, updated_at: int, name: str) -> bytes:
    envelope = sample("user.updated")
    envelope["data"].update(id=user_id, updated_at=updated_at, first_name=name)
    return body_of(envelope)


async def test_signed_webhook_is_stored_once_even_when_delivered_twice(
    client: httpx.AsyncClient, database: WebhookDatabase, tmp_path: Path
) -> None:
    body = body_of(typical_user_created())
    headers = signed_headers(body, webhook_id="msg_handler_1")
    first = await client.post(PATH, content=body, headers=headers)
    assert (first.status_code, first.json()) == (200, {"ok": True})
    again = await client.post(PATH, content=body, headers=headers)
    assert (again.status_code, again.json()) == (200, {"duplicate": True})
    assert _rows(tmp_path, "SELECT svix_id, body FROM webhooks") == [("msg_handler_1", body)]
    users = _rows(tmp_path, "SELECT id, updated_at, data FROM users")
    if database.upsert:
        data = typical_user_created()["data"]
        assert [(u[0], u[1], orjson.loads(u[2])) for u in users] == [
            (data["id"], data["updated_at"], data)
        ]
    else:
        assert users == []
    assert _rows(tmp_path, "PRAGMA journal_mode") == [("wal",)]


@pytest.mark.parametrize(
    "case", ["other secret", "tampered body", "no signature", "stale timestamp"]
)
async def test_bad_signature_answers_401_and_stores_nothing(
    client: httpx.AsyncClient, tmp_path: Path, case: str
) -> None:
    body = body_of(typical_user_created())
    headers = signed_headers(body, secrets=(OTHER_SECRET,) if case == "other secret" else (SECRET,))
    if case == "tampered body":
        body = body.replace(b"ada0", b"eve0")
    elif case == "no signature":
        del headers["svix-signature"]
    elif case == "stale timestamp":
        headers = signed_headers(body, timestamp=1_600_000_000)
    answer = await client.post(PATH, content=body, headers=headers)
    assert answer.status_code == 401
    assert _rows(tmp_path, "SELECT count(*) FROM webhooks") == [(0,)]
    assert _rows(tmp_path, "SELECT count(*) FROM users") == [(0,)]


async def test_signed_body_that_is_not_a_json_object_answers_400(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    for body in (b"{not json", b"[1, 2]"):
        answer = await client.post(PATH, content=body, headers=signed_headers(body))
        assert answer.status_code == 400
    assert _rows(tmp_path, "SELECT count(*) FROM webhooks") == [(0,)]


async def test_upsert_keeps_the_newest_updated_at(tmp_path: Path) -> None:
    database = WebhookDatabase(tmp_path / "handler.db", upsert=True)
    try:
        app = handler_app(database, SECRET)
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            for index, (updated_at, name) in enumerate(
                [(200, "second"), (100, "first"), (300, "third"), (250, "late")]
            ):
                body = _user_event("user_upsert", updated_at, name)
                headers = signed_headers(body, webhook_id=f"msg_upsert_{index}")
                answer = await client.post(PATH, content=body, headers=headers)
                assert (answer.status_code, answer.json()) == (200, {"ok": True})
    finally:
        database.close()
    assert _rows(tmp_path, "SELECT count(*) FROM webhooks") == [(4,)]
    ((user_id, updated_at, data),) = _rows(tmp_path, "SELECT id, updated_at, data FROM users")
    assert (user_id, updated_at, orjson.loads(data)["first_name"]) == ("user_upsert", 300, "third")


_WRITER = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.write(fd, os.urandom(1 << 20))
os.fsync(fd)
os.close(fd)
print("written", flush=True)
sys.stdin.read()
"""


def test_written_bytes_counts_what_a_process_writes(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path / "mib")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"written\n"
        assert written_bytes(child.pid) >= MIB
    finally:
        child.communicate(timeout=10)


def test_phase_result_costs_per_request() -> None:
    phase = PhaseResult(
        {"requests": 2000, "seconds": 2.0, "rate": 1000.0}, 0.5, [], write_bytes=8_000_000
    )
    assert phase.requests == 2000
    assert phase.bytes_per_request == 4000.0
    assert phase.cpu_us_per_request == pytest.approx(500.0)  # 0.5 core × 2 s ÷ 2,000
    empty = PhaseResult({"requests": 0, "seconds": 2.0, "rate": 0.0}, 0.1, [], write_bytes=10)
    assert (empty.bytes_per_request, empty.cpu_us_per_request) == (0.0, 0.0)
