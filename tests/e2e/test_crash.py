"""A `clerk-relay serve` SIGKILLed under webhook load loses nothing it acknowledged.

Many signed webhooks (distinct `svix-id`s) are posted concurrently; once some
have been acknowledged, the process is SIGKILLed with requests still in
flight. After a restart on the same database, read back with a Subscribe from
0: every webhook that got a 2xx is stored exactly once, at the sequence its
answer named. Re-sending every webhook that did not get a 2xx stores each
exactly once (answering `duplicate` for those whose commit landed before the
kill), and re-sending the acknowledged ones answers `duplicate` with their
original sequence. Run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import orjson
import pytest

from clerkrelay.v1.event_service_pb2 import SubscribeRequest
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from tests.contract.conftest import fresh_schema
from tests.gateway.signing import signed_headers
from tests.history import envelope
from tests.processes import TEST_SECRET, RelayProcess, serve

pytestmark = pytest.mark.slow

WEBHOOKS = 600
CONCURRENCY = 32
KILL_AFTER_ACKS = 150

Answers = dict[str, tuple[int, bool]]
"""Webhook id → (sequence, duplicate) of its 2xx answer."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The relay's database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'relay.db'}"
        return
    with fresh_schema() as url:
        yield url


def _webhooks() -> dict[str, bytes]:
    """Distinct user.created webhooks, by webhook id."""
    bodies: dict[str, bytes] = {}
    for n in range(WEBHOOKS):
        env, webhook_id = envelope(
            "user.created", f"user_crash_{n}", 1_700_000_000_000 + n, f"msg_crash_{n:04d}"
        )
        bodies[webhook_id] = orjson.dumps(env)
    return bodies


async def _post(
    client: httpx.AsyncClient, relay: RelayProcess, webhook_id: str, body: bytes
) -> httpx.Response:
    headers = signed_headers(body, webhook_id=webhook_id, secrets=(TEST_SECRET,))
    return await client.post(relay.webhook_url, content=body, headers=headers)


async def _post_all_and_kill(
    relay: RelayProcess, webhooks: dict[str, bytes], kill_delay_s: float
) -> tuple[Answers, int]:
    """Posts every webhook concurrently; SIGKILLs the relay mid-load.

    The kill comes `kill_delay_s` after the `KILL_AFTER_ACKS`-th answer, so it
    can land anywhere: mid-transaction, between a commit and its answers, or
    while answers are on their way.

    Returns:
        The 2xx answers, and how many requests were in flight at the kill.
    """
    answers: Answers = {}
    pending = iter(webhooks.items())
    in_flight = 0
    enough = asyncio.Event()
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:

        async def worker() -> None:
            nonlocal in_flight
            for webhook_id, body in pending:
                in_flight += 1
                try:
                    response = await _post(client, relay, webhook_id, body)
                except httpx.TransportError:
                    continue  # the relay is gone: not acknowledged
                finally:
                    in_flight -= 1
                if response.status_code == 200:
                    payload = orjson.loads(response.content)
                    answers[webhook_id] = (payload["sequence"], payload.get("duplicate", False))
                    if len(answers) >= KILL_AFTER_ACKS:
                        enough.set()

        async def killer() -> int:
            async with asyncio.timeout(60):
                await enough.wait()
            await asyncio.sleep(kill_delay_s)
            in_flight_at_kill = in_flight
            relay.kill()
            return in_flight_at_kill

        async with asyncio.TaskGroup() as group:
            kill = group.create_task(killer())
            for _ in range(CONCURRENCY):
                group.create_task(worker())
    return answers, kill.result()


async def _stored(relay: RelayProcess) -> list[tuple[int, str]]:
    """(sequence, webhook id) of every stored event: a Subscribe from 0, read until caught up."""
    stored: list[tuple[int, str]] = []
    async with grpc.aio.insecure_channel(relay.grpc_target) as channel:
        call = EventServiceStub(channel).Subscribe(SubscribeRequest(after_sequence=0))
        async with asyncio.timeout(30):
            async for response in call:
                if response.WhichOneof("response") == "caught_up":
                    break
                stored += [(event.sequence, event.id) for event in response.events.events]
        call.cancel()
    return stored


async def test_sigkill_under_load_loses_no_acknowledged_webhook(
    tmp_path: Path, database_url: str
) -> None:
    webhooks = _webhooks()
    relay = serve(tmp_path, database_url)
    await asyncio.to_thread(relay.start)
    try:
        kill_delay_s = random.uniform(0, 0.02)
        answers, in_flight_at_kill = await _post_all_and_kill(relay, webhooks, kill_delay_s)
        assert relay.process is not None and relay.process.returncode == -9
        assert len(answers) >= KILL_AFTER_ACKS
        assert in_flight_at_kill > 0, "the kill must happen with requests in flight"
        assert not any(duplicate for _, duplicate in answers.values())
        unacknowledged = [wid for wid in webhooks if wid not in answers]
        assert unacknowledged, "the kill must leave webhooks unacknowledged"

        await asyncio.to_thread(relay.start)
        stored = await _stored(relay)
        stored_at = {wid: sequence for sequence, wid in stored}
        assert [sequence for sequence, _ in stored] == list(range(1, len(stored) + 1))
        assert len(stored_at) == len(stored), "a webhook id is stored twice"
        assert {wid: stored_at.get(wid) for wid in answers} == {
            wid: sequence for wid, (sequence, _) in answers.items()
        }
        assert set(stored_at) <= set(webhooks)
        # Unacknowledged webhooks may have been committed just before the kill.
        landed = {wid: stored_at[wid] for wid in unacknowledged if wid in stored_at}

        next_sequence = len(stored) + 1
        async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
            for webhook_id in unacknowledged:
                response = await _post(client, relay, webhook_id, webhooks[webhook_id])
                assert response.status_code == 200, response.text
                payload = orjson.loads(response.content)
                if webhook_id in landed:
                    assert payload == {"duplicate": True, "sequence": landed[webhook_id]}
                else:
                    assert payload == {"sequence": next_sequence}
                    next_sequence += 1
            for webhook_id, (sequence, _) in answers.items():
                response = await _post(client, relay, webhook_id, webhooks[webhook_id])
                assert orjson.loads(response.content) == {"duplicate": True, "sequence": sequence}

        final = await _stored(relay)
        assert [sequence for sequence, _ in final] == list(range(1, WEBHOOKS + 1))
        assert sorted(wid for _, wid in final) == sorted(webhooks)
        assert final[: len(stored)] == stored
    finally:
        relay.stop()
        relay.kill()
