"""Hostile HTTP and gRPC inputs against one real relay; after each, every reader still works.

Each case asserts its exact answer and what the store holds afterwards. After
every case, the whole log is read from sequence 0 by a plain `grpc.aio` channel
and by `clerkrelay.RelayClient` (both with gRPC's default 4 MiB receive limit):
every stored event arrives once, in order, byte for byte; `ListUsers` and
`GetUser` still answer. The TypeScript client reads the whole log once, last.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from clerkrelay import RelayClient
from clerkrelay.v1.event_pb2 import Event
from tests.adversarial.cases import Case, resolve
from tests.adversarial.grpc_cases import grpc_cases
from tests.adversarial.http_cases import big_http_cases, http_cases
from tests.adversarial.relay import (
    SUBSCRIBER_TOKEN,
    Relay,
    Stored,
    python_client,
    read_plain,
    read_with_client,
    relay_processes,
    state_answers_plain,
)
from tests.gateway.signing import signed_headers
from tests.history import sample_envelope
from tests.processes import TEST_SECRET

CASES: list[Case] = [*http_cases(), *grpc_cases(), *big_http_cases()]
TS_DIR = Path(__file__).resolve().parents[2] / "clients" / "typescript"
TSX = TS_DIR / "node_modules" / ".bin" / "tsx"
SEED_USER = "user_adv_seed"


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    """The suite's relay, with one ordinary user stored first (for GetUser after each case)."""
    with relay_processes(tmp_path_factory.mktemp("adversarial")) as running_relay:
        body = orjson.dumps(sample_envelope("user.created", SEED_USER, 1_700_000_000_000))
        headers = signed_headers(body, webhook_id="msg_adv_seed", secrets=(TEST_SECRET,))
        answer = httpx.post(running_relay.webhook_url, content=body, headers=headers, timeout=20)
        assert (answer.status_code, answer.json()) == (200, {"sequence": 1})
        running_relay.ledger.append(Stored(1, "msg_adv_seed", body))
        running_relay.seed_user_id = SEED_USER
        yield running_relay


@pytest.fixture
async def client(relay: Relay) -> AsyncIterator[RelayClient]:
    async with python_client(relay.grpc_target) as opened:
        yield opened


def test_there_are_at_least_60_distinct_cases() -> None:
    names = [case.name for case in CASES]
    assert len(set(names)) == len(names)
    assert len(names) >= 60


def _seen(events: list[Event]) -> list[Stored]:
    return [Stored(e.sequence, e.id, e.raw_body) for e in events]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_hostile_input(case: Case, relay: Relay, client: RelayClient) -> None:
    head = relay.head
    answer = await case.send(relay)
    expected = (case.answer.status, resolve(case.answer.body, relay, head))
    assert (answer.status, answer.body) == expected, case.stores

    # What the store holds now: the ledger, plus what this case added.
    plain = await read_plain(relay.grpc_target)
    added = [event for event in plain if event.sequence > head]
    case.check(added)
    relay.ledger.extend(_seen(added))
    sequences = [event.sequence for event in plain]
    assert sequences == list(range(1, len(plain) + 1))  # in order, exactly once, no gap
    assert _seen(plain) == relay.ledger
    assert _seen(await read_with_client(client)) == relay.ledger

    # The state RPCs still answer, on both readers.
    users, got = await state_answers_plain(relay.grpc_target, relay.seed_user_id)
    assert (users >= 1, got) == (True, relay.seed_user_id)
    record = await client.get_user(relay.seed_user_id)
    assert record is not None and record.user.id == relay.seed_user_id
    snapshot = await client.list_users(show_deleted=True).collect()
    assert snapshot.sequence == relay.head


async def test_typescript_client_reads_everything_stored(relay: Relay) -> None:
    """Last in the module: the TypeScript client, default limits, reads the whole log."""
    if not (TS_DIR / "node_modules" / ".installed").exists():
        pytest.fail("TypeScript dependencies missing: run `make test` (it runs `npm ci`)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_")}
    env.update(CLERK_RELAY_TARGET=relay.grpc_target, CLERK_RELAY_TOKEN=SUBSCRIBER_TOKEN)
    process = await asyncio.create_subprocess_exec(
        str(TSX),
        "examples/read_all.ts",
        "--user",
        relay.seed_user_id,
        cwd=TS_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    [line] = stdout.decode().rstrip("\n").split("\n")  # not splitlines: ids hold U+0085
    summary = json.loads(line)
    ledger = relay.ledger
    assert summary["count"] == len(ledger)
    assert summary["last_sequence"] == str(ledger[-1].sequence)
    assert summary["sequences"] == [str(stored.sequence) for stored in ledger]
    assert summary["ids"] == [stored.id for stored in ledger]
    assert summary["raw_body_bytes"] == [len(stored.raw_body) for stored in ledger]
    assert summary["get_user"] == relay.seed_user_id
    assert summary["snapshot_sequence"] == str(ledger[-1].sequence)
    assert summary["users"] >= 1
