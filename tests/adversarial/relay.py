"""The relay the adversarial suite attacks, and the readers that check it after every case.

One `clerk-relay grpc` process (SQLite, subscriber, ingest and admin tokens)
and one `clerk-relay gateway` publishing to it with the ingest token: webhooks
and `Publish` calls land in the same store. The readers use default limits:
a plain `grpc.aio` channel, and `clerkrelay.RelayClient` told to receive at
most gRPC's default 4 MiB.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from clerkrelay import Backoff, RelayClient
from clerkrelay.limits import DEFAULT_CLIENT_RECEIVE_BYTES
from clerkrelay.v1.event_pb2 import Event
from clerkrelay.v1.event_service_pb2 import SubscribeRequest
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from clerkrelay.v1.state_service_pb2 import GetUserRequest, ListUsersRequest
from clerkrelay.v1.state_service_pb2_grpc import StateServiceStub
from tests.processes import RelayProcess, gateway, grpc_service, running

SUBSCRIBER_TOKEN = "adv-subscriber-token-0001"
INGEST_TOKEN = "adv-ingest-token-0001"
ADMIN_TOKEN = "adv-admin-token-0001"
READ_TIMEOUT_S = 20.0


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """The metadata that carries a bearer token."""
    return (("authorization", f"Bearer {token}"),)


@dataclass(frozen=True)
class Stored:
    """One event the store should hold: its sequence, webhook id and exact body."""

    sequence: int
    id: str
    raw_body: bytes


@dataclass
class Relay:
    """The running processes, and every event the store holds so far (the ledger)."""

    grpc: RelayProcess
    gateway: RelayProcess
    ledger: list[Stored] = field(default_factory=list)
    seed_user_id: str = ""

    @property
    def webhook_url(self) -> str:
        """Where webhooks are posted."""
        return self.gateway.webhook_url

    @property
    def http_port(self) -> int:
        """The gateway's HTTP port."""
        assert self.gateway.http_port is not None
        return self.gateway.http_port

    @property
    def grpc_target(self) -> str:
        """`host:port` of the gRPC process."""
        return self.grpc.grpc_target

    @property
    def head(self) -> int:
        """The sequence of the newest event in the ledger (0 when empty)."""
        return self.ledger[-1].sequence if self.ledger else 0

    def sequence_of(self, webhook_id: str) -> int:
        """The sequence the event with this webhook id was stored at."""
        [sequence] = [s.sequence for s in self.ledger if s.id == webhook_id]
        return sequence


@contextmanager
def relay_processes(tmp_path: Path) -> Iterator[Relay]:
    """Starts the gRPC process with the three token roles, then a gateway publishing to it."""
    service = grpc_service(tmp_path, f"sqlite:///{tmp_path / 'relay.db'}")
    service.env.update(
        CLERK_RELAY_TOKENS=SUBSCRIBER_TOKEN,
        CLERK_RELAY_INGEST_TOKENS=INGEST_TOKEN,
        CLERK_RELAY_ADMIN_TOKENS=ADMIN_TOKEN,
    )
    with running(service):
        front = gateway(tmp_path, service.grpc_target)
        front.env["CLERK_RELAY_TOKEN"] = INGEST_TOKEN
        with running(front):
            yield Relay(service, front)


async def read_plain(target: str) -> list[Event]:
    """Every event from sequence 0 until `caught_up`: a plain channel with default options."""
    async with grpc.aio.insecure_channel(target) as channel:
        call = EventServiceStub(channel).Subscribe(
            SubscribeRequest(after_sequence=0),
            metadata=bearer(SUBSCRIBER_TOKEN),
            timeout=READ_TIMEOUT_S,
        )
        events: list[Event] = []
        async for response in call:
            kind = response.WhichOneof("response")
            if kind == "events":
                events.extend(response.events.events)
            elif kind == "caught_up":
                call.cancel()
                return events
    raise AssertionError("the stream ended before caught_up")


def python_client(target: str) -> RelayClient:
    """`RelayClient` receiving at most gRPC's default 4 MiB (its own default is 64 MiB)."""
    return RelayClient(
        target,
        token=SUBSCRIBER_TOKEN,
        max_message_bytes=DEFAULT_CLIENT_RECEIVE_BYTES,
        timeout_s=READ_TIMEOUT_S,
    )


async def read_with_client(client: RelayClient) -> list[Event]:
    """Every event from sequence 0 until caught up, through `RelayClient` (no retries)."""
    stream = client.subscribe(
        after_sequence=0, until_caught_up=True, backoff=Backoff(max_attempts=1)
    )
    async with stream:
        return [event async for event in stream]


async def state_answers_plain(target: str, user_id: str) -> tuple[int, str]:
    """`ListUsers` and `GetUser(user_id)` on a plain channel: the user count and the id got."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = StateServiceStub(channel)
        metadata = bearer(SUBSCRIBER_TOKEN)
        listed = await stub.ListUsers(ListUsersRequest(), metadata=metadata, timeout=10)
        got = await stub.GetUser(GetUserRequest(id=user_id), metadata=metadata, timeout=10)
        return len(listed.users), got.record.user.id
