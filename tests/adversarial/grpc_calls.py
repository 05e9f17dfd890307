"""Makes hostile gRPC calls: bearer metadata, Publish, Subscribe and StateService senders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import Message

from clerkrelay.v1.event_pb2 import Event
from clerkrelay.v1.event_service_pb2 import SubscribeRequest
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from clerkrelay.v1.ingest_service_pb2 import PublishRequest
from clerkrelay.v1.ingest_service_pb2_grpc import IngestServiceStub
from clerkrelay.v1.state_service_pb2_grpc import StateServiceStub
from tests.adversarial.cases import NEXT, Answer, Case, stores_nothing, wid
from tests.adversarial.relay import ADMIN_TOKEN, INGEST_TOKEN, SUBSCRIBER_TOKEN, Relay
from tests.history import copy_event, event

if TYPE_CHECKING:
    from clerkrelay.v1.state_service_pb2_grpc import StateServiceAsyncStub

Metadata = tuple[tuple[str, str], ...]
T0 = 1_700_000_000_000


def auth(value: str | None) -> Metadata:
    """`authorization` metadata with this exact value (none for None)."""
    return () if value is None else (("authorization", value),)


AS_INGEST = auth(f"Bearer {INGEST_TOKEN}")
AS_SUBSCRIBER = auth(f"Bearer {SUBSCRIBER_TOKEN}")
AS_ADMIN = auth(f"Bearer {ADMIN_TOKEN}")


async def _unary(call: Awaitable[Message]) -> Answer:
    try:
        response = await call
    except grpc.aio.AioRpcError as error:
        return Answer(error.code().name, error.details())
    fields = {f.name: v for f, v in response.ListFields() if f.name != "users"}
    return Answer("OK", fields)


def publish(request: PublishRequest, metadata: Metadata = AS_INGEST) -> Any:
    """A sender calling `Publish` on the gRPC process."""

    async def send(relay: Relay) -> Answer:
        async with grpc.aio.insecure_channel(relay.grpc_target) as channel:
            stub = IngestServiceStub(channel)
            return await _unary(stub.Publish(request, metadata=metadata, timeout=20))

    return send


def subscribe(request: SubscribeRequest, metadata: Metadata = AS_SUBSCRIBER) -> Any:
    """A sender opening `Subscribe`; answers with its error, or OK at `caught_up`."""

    async def send(relay: Relay) -> Answer:
        async with grpc.aio.insecure_channel(relay.grpc_target) as channel:
            call = EventServiceStub(channel).Subscribe(request, metadata=metadata, timeout=20)
            try:
                async for response in call:
                    if response.WhichOneof("response") == "caught_up":
                        call.cancel()
                        return Answer("OK", {"caught_up": response.caught_up.sequence})
            except grpc.aio.AioRpcError as error:
                return Answer(error.code().name, error.details())
        raise AssertionError("the stream ended before caught_up")

    return send


StateCall = Callable[["StateServiceAsyncStub"], Awaitable[Message]]


def state(call: StateCall) -> Callable[[Relay], Awaitable[Answer]]:
    """A sender making one StateService call."""

    async def send(relay: Relay) -> Answer:
        async with grpc.aio.insecure_channel(relay.grpc_target) as channel:
            stub = StateServiceStub(channel)
            return await _unary(call(stub))

    return send


def user_event(name: str) -> Event:
    """A `user.created` about `user_adv_<name>` with the case's webhook id, received at T0."""
    built = event("user.created", f"user_adv_{name}", T0, webhook_id=wid(name))
    built.receive_time.FromMilliseconds(T0)  # a fixed size, whatever the clock says
    return built


def forged(name: str, change: Callable[[Event], None]) -> PublishRequest:
    """A request carrying the case's `user.created`, altered by `change`."""
    altered = copy_event(user_event(name))
    change(altered)
    return PublishRequest(event=altered)


def refused(name: str, change: Callable[[Event], None], details: str) -> Case:
    """A forged Publish (ingest token) refused with INVALID_ARGUMENT and `details`."""
    return stores_nothing(name, publish(forged(name, change)), Answer("INVALID_ARGUMENT", details))


def published(name: str, request: PublishRequest, metadata: Metadata, check: Any) -> Case:
    """A Publish that is stored at the next sequence."""
    return Case(
        name, publish(request, metadata), Answer("OK", {"sequence": NEXT}), "1 event", check
    )
