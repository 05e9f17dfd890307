"""Consumer-group fixtures: a real `RelayServer` over a real store of each backend.

`group_relay` starts a server on 127.0.0.1:0 serving `ConsumerService`, over
a SQLite file or a fresh PostgreSQL schema, with a short dispatch poll.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from clerkrelay.v1.consumer_service_pb2_grpc import ConsumerServiceStub
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage import Store, open_consumer_state, open_store
from tests.contract.conftest import backend, drop_schema, postgres_schema_url
from tests.history import event

if TYPE_CHECKING:
    from clerkrelay.v1.consumer_service_pb2_grpc import ConsumerServiceAsyncStub


@dataclasses.dataclass
class GroupRelay:
    """A started server with `ConsumerService`, its store and a stub."""

    url: str
    store: Store
    server: RelayServer
    channel: grpc.aio.Channel
    stub: ConsumerServiceAsyncStub
    target: str

    async def append(self, event_type: str, entity_id: str, count: int = 1) -> list[int]:
        """Appends events; their sequences."""
        sequences = []
        for _ in range(count):
            result = await self.store.append(event(event_type, entity_id))
            sequences.append(result.sequence)
        return sequences


__all__ = ["GroupRelay", "MakeGroupRelay", "backend"]  # `backend` is the contract suite's fixture

MakeGroupRelay = Callable[..., Awaitable[GroupRelay]]


@pytest.fixture
async def make_group_relay(backend: str, tmp_path: Path) -> AsyncIterator[MakeGroupRelay]:
    """Starts servers over one database of the backend under test; stops them after."""
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'relay.db'}"
    else:
        schema, url = postgres_schema_url()
    started: list[tuple[GroupRelay, grpc.aio.Channel]] = []

    async def make(settings: ServiceSettings | None = None, **kwargs: Any) -> GroupRelay:
        base = settings or ServiceSettings()
        store = await open_store(url)
        server = RelayServer(
            dataclasses.replace(
                base, grpc_addr="127.0.0.1:0", shutdown_grace_s=1.0, database_url=url
            ),
            store,
            consumers=open_consumer_state(url),
            consumer_poll_interval_s=kwargs.pop("consumer_poll_interval_s", 0.05),
            **kwargs,
        )
        port = await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        stub: ConsumerServiceAsyncStub = ConsumerServiceStub(channel)
        relay = GroupRelay(url, store, server, channel, stub, f"127.0.0.1:{port}")
        started.append((relay, channel))
        return relay

    yield make
    for relay, channel in started:
        await channel.close(None)
        await relay.server.stop()
        await relay.store.close()
    if schema is not None:
        drop_schema(schema)


@pytest.fixture
async def group_relay(make_group_relay: MakeGroupRelay) -> GroupRelay:
    """One server over a fresh database."""
    return await make_group_relay()
