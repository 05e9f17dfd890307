"""The split deployment on one PostgreSQL schema: two `clerk-relay grpc`, two `clerk-relay gateway`.

Gateway 1 publishes to gRPC process A, gateway 2 to gRPC process B. A webhook
posted to either gateway reaches a subscriber on each gRPC process, and both
subscribers see the same events at the same sequences (LISTEN/NOTIFY wakes the
process that did not store it; it reads the shared log). Concurrent webhooks
through both gateways get distinct sequences, in one order everywhere, and the
same webhook id posted to both gateways at once is stored once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import orjson
import pytest

from clerkrelay.v1.event_pb2 import Event
from clerkrelay.v1.event_service_pb2 import SubscribeRequest
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from tests.contract.conftest import drop_schema, postgres_schema_url, require_postgres
from tests.gateway.signing import signed_headers
from tests.history import envelope
from tests.processes import TEST_SECRET, RelayProcess, gateway, grpc_service, running

pytestmark = pytest.mark.postgres

CONCURRENT = 40


@dataclass(frozen=True)
class Deployment:
    """The running processes: gRPC A and B; gateway 1 → A, gateway 2 → B."""

    grpc_a: RelayProcess
    grpc_b: RelayProcess
    gateway_1: RelayProcess
    gateway_2: RelayProcess


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Two gRPC processes and two gateways on a fresh schema, for the module's tests."""
    require_postgres()
    schema, url = postgres_schema_url()
    tmp_path = tmp_path_factory.mktemp("split")
    try:
        grpc_a, grpc_b = grpc_service(tmp_path, url), grpc_service(tmp_path, url)
        with running(grpc_a, grpc_b):
            gateway_1 = gateway(tmp_path, grpc_a.grpc_target)
            gateway_2 = gateway(tmp_path, grpc_b.grpc_target)
            with running(gateway_1, gateway_2):
                yield Deployment(grpc_a, grpc_b, gateway_1, gateway_2)
    finally:
        drop_schema(schema)


class Tail:
    """A Subscribe stream on one gRPC process, collecting events in the background."""

    def __init__(self, target: str, after_sequence: int) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._call = EventServiceStub(self._channel).Subscribe(
            SubscribeRequest(after_sequence=after_sequence)
        )
        self.events: list[Event] = []
        self._live = asyncio.Event()
        self._grew = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for response in self._call:
            kind = response.WhichOneof("response")
            if kind == "caught_up":
                self._live.set()
            elif kind == "events":
                self.events.extend(response.events.events)
                self._grew.set()

    async def live(self) -> None:
        """Waits for `caught_up`: from now on, new events arrive live."""
        async with asyncio.timeout(15):
            await self._live.wait()

    async def until(self, count: int) -> list[Event]:
        """Waits until `count` events arrived; returns them."""
        async with asyncio.timeout(15):
            while len(self.events) < count:
                self._grew.clear()
                await self._grew.wait()
        return self.events

    async def close(self) -> None:
        self._call.cancel()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._channel.close(None)


def _webhook(name: str) -> tuple[str, bytes]:
    env, webhook_id = envelope("user.created", f"user_{name}", 1_700_000_000_000, f"msg_{name}")
    return webhook_id, orjson.dumps(env)


async def _post(
    client: httpx.AsyncClient, via: RelayProcess, webhook_id: str, body: bytes
) -> dict[str, object]:
    headers = signed_headers(body, webhook_id=webhook_id, secrets=(TEST_SECRET,))
    response = await client.post(via.webhook_url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    payload: dict[str, object] = orjson.loads(response.content)
    return payload


def _seen(events: list[Event]) -> list[tuple[int, str, bytes]]:
    return [(event.sequence, event.id, event.raw_body) for event in events]


async def _head(target: str) -> int:
    async with grpc.aio.insecure_channel(target) as channel:
        call = EventServiceStub(channel).Subscribe(SubscribeRequest())  # no start: from the head
        async for response in call:
            if response.WhichOneof("response") == "caught_up":
                call.cancel()
                return response.caught_up.sequence
    raise AssertionError("the stream ended before caught_up")


async def test_webhook_posted_to_a_gateway_reaches_a_subscriber_on_each_grpc_process(
    deployment: Deployment,
) -> None:
    head = await _head(deployment.grpc_a.grpc_target)
    on_a = Tail(deployment.grpc_a.grpc_target, head)
    on_b = Tail(deployment.grpc_b.grpc_target, head)
    try:
        await on_a.live()
        await on_b.live()
        async with httpx.AsyncClient(timeout=15, trust_env=False) as client:
            first_id, first = _webhook("split_first")
            assert await _post(client, deployment.gateway_1, first_id, first) == {
                "sequence": head + 1
            }
            # Stored through A: B hears of it through PostgreSQL, and vice versa.
            expected = [(head + 1, first_id, first)]
            assert _seen(await on_a.until(1)) == expected
            assert _seen(await on_b.until(1)) == expected

            second_id, second = _webhook("split_second")
            assert await _post(client, deployment.gateway_2, second_id, second) == {
                "sequence": head + 2
            }
            expected.append((head + 2, second_id, second))
            assert _seen(await on_a.until(2)) == expected
            assert _seen(await on_b.until(2)) == expected
    finally:
        await on_a.close()
        await on_b.close()


async def test_concurrent_webhooks_through_two_gateways_get_one_order_everywhere(
    deployment: Deployment,
) -> None:
    head = await _head(deployment.grpc_b.grpc_target)
    on_a = Tail(deployment.grpc_a.grpc_target, head)
    on_b = Tail(deployment.grpc_b.grpc_target, head)
    gateways = (deployment.gateway_1, deployment.gateway_2)
    webhooks = [_webhook(f"split_concurrent_{n}") for n in range(CONCURRENT)]
    twin_id, twin = _webhook("split_twin")
    try:
        await on_a.live()
        await on_b.live()
        async with httpx.AsyncClient(timeout=15, trust_env=False) as client:
            answers = await asyncio.gather(
                *(
                    _post(client, gateways[n % 2], webhook_id, body)
                    for n, (webhook_id, body) in enumerate(webhooks)
                ),
                # The same webhook through both gateways at the same moment.
                _post(client, deployment.gateway_1, twin_id, twin),
                _post(client, deployment.gateway_2, twin_id, twin),
            )
        *singles, twin_1, twin_2 = answers
        assert all(set(answer) == {"sequence"} for answer in singles)
        assert sorted([twin_1, twin_2], key=len) == [
            {"sequence": twin_1["sequence"]},
            {"duplicate": True, "sequence": twin_1["sequence"]},
        ]
        sequences = sorted(int(str(answer["sequence"])) for answer in [*singles, twin_1])
        assert sequences == list(range(head + 1, head + CONCURRENT + 2))

        seen_a = _seen(await on_a.until(CONCURRENT + 1))
        seen_b = _seen(await on_b.until(CONCURRENT + 1))
        assert seen_a == seen_b
        assert [sequence for sequence, _, _ in seen_a] == sequences
        bodies = dict([*webhooks, (twin_id, twin)])
        assert {webhook_id: body for _, webhook_id, body in seen_a} == bodies
    finally:
        await on_a.close()
        await on_b.close()
