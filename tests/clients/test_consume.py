"""`RelayClient.consume` and the group helpers against real servers, both stores."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from clerkrelay import ConsumerMessage, ConsumerStream, NotFoundError, RelayClient, RelayError
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage import Store, open_consumer_state, open_store
from tests.contract.conftest import backend
from tests.history import event
from tests.processes import free_port
from tests.service.consumers.conftest import GroupRelay, MakeGroupRelay, make_group_relay
from tests.service.consumers.members import until

__all__ = ["backend", "make_group_relay"]  # fixtures


@pytest.fixture
async def relay(make_group_relay: MakeGroupRelay) -> GroupRelay:
    return await make_group_relay()


async def _next(stream: ConsumerStream) -> ConsumerMessage:
    async with asyncio.timeout(10):
        return await anext(stream)


async def test_consume_acks_on_a_normal_exit(relay: GroupRelay) -> None:
    await relay.append("user.created", "user_a")
    await relay.append("session.created", "sess_a")
    await relay.append("user.created", "user_b")
    async with RelayClient(relay.target) as client:
        stream = client.consume(
            "welcome-emails", event_types=["user.created"], after_sequence=0, member_name="pod-1"
        )
        async with stream:
            seen = []
            for _ in range(2):
                msg = await _next(stream)
                async with msg:
                    seen.append((msg.event.user_created.id, msg.attempt, msg.event.sequence))
            assert seen == [("user_a", 1, 1), ("user_b", 1, 3)]
            group = await client.consumer_group("welcome-emails")
            assert [m.member_name for m in group.members] == ["pod-1"]
        await until(lambda: client.consumer_group("welcome-emails"), lambda g: g.acked_count == 2)
        assert [g.name for g in await client.consumer_groups()] == ["welcome-emails"]


async def test_an_exception_nacks_and_term_parks(relay: GroupRelay) -> None:
    await relay.append("user.created", "user_a")
    async with RelayClient(relay.target) as client:
        async with client.consume("g", after_sequence=0, max_deliveries=3) as stream:
            msg = await _next(stream)
            with pytest.raises(ValueError, match="smtp down"):
                async with msg:
                    raise ValueError("smtp down")
            assert msg.settled
            again = await _next(stream)
            assert (again.event.sequence, again.attempt) == (1, 2)
            await again.term("bad address")
            with pytest.raises(RuntimeError, match="already settled"):
                await again.ack()
            (parked,) = await until(lambda: client.parked_events("g"), bool)
            assert (parked.event.sequence, parked.attempts, parked.reason) == (1, 2, "bad address")
            assert await client.replay_parked_events("g") == 1
            replayed = await _next(stream)
            assert (replayed.event.sequence, replayed.attempt) == (1, 1)
            await replayed.ack()
        with pytest.raises(NotFoundError):
            await client.consumer_group("nope")
        await client.delete_consumer_group("g")
        assert await client.consumer_groups() == []


async def test_joining_with_other_settings_raises(relay: GroupRelay) -> None:
    async with RelayClient(relay.target) as client:
        await client.create_consumer_group("g", event_types=["user.*"])
        with pytest.raises(RelayError) as refused:
            async with client.consume("g", event_types=["session.*"]) as stream:
                await _next(stream)
        assert refused.value.code.name == "FAILED_PRECONDITION"


async def test_consume_rejoins_after_a_server_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    port = free_port()
    settings = ServiceSettings(grpc_addr=f"127.0.0.1:{port}", database_url=url, shutdown_grace_s=1)

    async def start() -> RelayServer:
        store = await open_store(url)
        server = RelayServer(
            settings, store, consumers=open_consumer_state(url), consumer_poll_interval_s=0.05
        )
        await server.start()
        server_stores.append(store)
        return server

    server_stores: list[Store] = []
    server = await start()
    client = RelayClient(f"127.0.0.1:{port}")
    async with client, client.consume("g", after_sequence=0) as stream:
        await server_stores[0].append(event("user.created", "user_a"))
        first = await _next(stream)
        await first.ack()
        await asyncio.sleep(0.2)
        await server.stop()
        await server_stores[0].close()
        server = await start()
        await server_stores[1].append(event("user.created", "user_b"))
        second = await _next(stream)
        assert (second.event.user_created.id, second.attempt) == ("user_b", 1)
        await second.ack()
        assert stream.reconnects >= 1
    await server.stop()
    await server_stores[1].close()
