"""Hostile gRPC calls: wrong tokens and roles, forged and contradictory Publish calls, bad reads."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from clerkrelay.limits import DEFAULT_CLIENT_RECEIVE_BYTES
from clerkrelay.v1.event_pb2 import Event, PayloadOmission
from clerkrelay.v1.event_service_pb2 import SubscribeRequest
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from clerkrelay.v1.ingest_service_pb2 import PublishRequest
from clerkrelay.v1.ingest_service_pb2_grpc import IngestServiceStub
from clerkrelay.v1.state_service_pb2 import (
    GetUserRequest,
    ListOrganizationsRequest,
    ListUsersRequest,
)
from clerkrelay.v1.state_service_pb2_grpc import StateServiceStub
from service.page_tokens import PageToken, Selection, encode_page_token
from tests.adversarial.cases import HEAD, NEXT, Answer, Case, SequenceOf, nothing, one
from tests.adversarial.relay import ADMIN_TOKEN, INGEST_TOKEN, SUBSCRIBER_TOKEN, Relay
from tests.history import copy_event, event

if TYPE_CHECKING:
    from clerkrelay.v1.state_service_pb2_grpc import StateServiceAsyncStub

Metadata = tuple[tuple[str, str], ...]
T0 = 1_700_000_000_000
NOT_OF_TYPE = "event.raw_body is not the JSON of an event of event.type"
MISSING_TOKEN = "missing bearer token: send metadata 'authorization: Bearer <token>'"
WRONG_ROLE = "this token's role may not call this method"


def wid(name: str) -> str:
    """The webhook id of a case."""
    return f"msg_adv_{name}"


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


def _list_users_as(metadata: Metadata) -> StateCall:
    return lambda stub: stub.ListUsers(ListUsersRequest(), metadata=metadata)


def _get_user_as(metadata: Metadata, user_id: str) -> StateCall:
    return lambda stub: stub.GetUser(GetUserRequest(id=user_id), metadata=metadata)


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
    return Case(
        name, publish(forged(name, change)), Answer("INVALID_ARGUMENT", details), "nothing", nothing
    )


def published(name: str, request: PublishRequest, metadata: Metadata, check: Any) -> Case:
    """A Publish that is stored at the next sequence."""
    return Case(
        name, publish(request, metadata), Answer("OK", {"sequence": NEXT}), "1 event", check
    )


def _set(**fields: Any) -> Callable[[Event], None]:
    def change(e: Event) -> None:
        for key, value in fields.items():
            setattr(e, key, value)

    return change


def _other_payload(e: Event) -> None:
    e.organization_deleted.id = "org_adv_1"


def _other_entity(e: Event) -> None:
    e.user_created.id = "user_adv_someone_else"


def _no_payload(e: Event) -> None:
    e.ClearField("payload")


def _raw_of(event_type: str) -> Callable[[Event], None]:
    def change(e: Event) -> None:
        e.raw_body = json.dumps({"type": event_type, "data": {"id": e.user_created.id}}).encode()

    return change


def _lying_omission(e: Event) -> None:
    e.ClearField("payload")
    e.payload_omission = PayloadOmission.PAYLOAD_OMISSION_TOO_DEEP


def _unknown_omission(e: Event) -> None:
    e.ClearField("payload")
    e.payload_omission = 99  # type: ignore[assignment] # not in the enum: kept as a number


def _payload_on_unknown_type(e: Event) -> None:
    e.type = "user.exploded"
    e.raw_body = e.raw_body.replace(b'"user.created"', b'"user.exploded"')


def _auth_cases() -> list[Case]:
    cases: list[Case] = []
    for label, metadata, code, details in (
        ("no-token", auth(None), "UNAUTHENTICATED", MISSING_TOKEN),
        ("subscriber-token", AS_SUBSCRIBER, "PERMISSION_DENIED", WRONG_ROLE),
        (
            "unknown-token",
            auth("Bearer adv-not-a-token"),
            "UNAUTHENTICATED",
            "invalid bearer token",
        ),
        ("basic-scheme", auth(f"Basic {INGEST_TOKEN}"), "UNAUTHENTICATED", "invalid bearer token"),
        ("bare-token", auth(INGEST_TOKEN), "UNAUTHENTICATED", "invalid bearer token"),
        (
            "token-with-suffix",
            auth(f"Bearer {INGEST_TOKEN}x"),
            "UNAUTHENTICATED",
            "invalid bearer token",
        ),
    ):
        name = f"publish-with-{label}"
        cases.append(
            Case(
                name,
                publish(PublishRequest(event=user_event(name)), metadata),
                Answer(code, details),
                "nothing",
                nothing,
            )
        )
    for label, metadata in (
        ("ingest-token", AS_INGEST),
        ("admin-token", AS_ADMIN),
        ("lower-case-bearer", auth(f"bearer {INGEST_TOKEN}")),
    ):
        name = f"publish-with-{label}"
        cases.append(
            published(
                name,
                PublishRequest(event=user_event(name)),
                metadata,
                one(wid(name), "user.created", payload="user_created"),
            )
        )
    for label, metadata, code, details in (
        ("ingest-token", AS_INGEST, "PERMISSION_DENIED", WRONG_ROLE),
        ("no-token", auth(None), "UNAUTHENTICATED", MISSING_TOKEN),
    ):
        cases.append(
            Case(
                f"subscribe-with-{label}",
                subscribe(SubscribeRequest(after_sequence=0), metadata),
                Answer(code, details),
                "nothing",
                nothing,
            )
        )
        cases.append(
            Case(
                f"list-users-with-{label}",
                state(_list_users_as(metadata)),
                Answer(code, details),
                "nothing",
                nothing,
            )
        )
        cases.append(
            Case(
                f"get-user-with-{label}",
                state(_get_user_as(metadata, "user_x")),
                Answer(code, details),
                "nothing",
                nothing,
            )
        )
    return cases


def _forged_publish_cases() -> list[Case]:
    oversized = forged("publish-message-over-4-mib", _set(raw_body=b" " * (4 << 20)))
    return [
        Case(
            "publish-without-an-event",
            publish(PublishRequest()),
            Answer("INVALID_ARGUMENT", "event is required"),
            "nothing",
            nothing,
        ),
        refused("publish-without-an-id", _set(id=""), "event.id (the webhook id) is required"),
        refused("publish-type-of-another-event", _set(type="organization.deleted"), NOT_OF_TYPE),
        refused(
            "publish-payload-of-another-type",
            _other_payload,
            "payload organization_deleted does not match event.type user.created",
        ),
        refused(
            "publish-raw-body-not-json", _set(raw_body=b"not json"), "event.raw_body is not JSON"
        ),
        refused(
            "publish-raw-body-not-utf-8",
            _set(raw_body=b'{"type":"user.created\xff"}'),
            "event.raw_body is not JSON",
        ),
        refused("publish-raw-body-an-array", _set(raw_body=b"[1]"), NOT_OF_TYPE),
        refused("publish-raw-body-of-another-type", _raw_of("user.deleted"), NOT_OF_TYPE),
        refused(
            "publish-payload-of-another-entity",
            _other_entity,
            "the payload's id is not the raw body's data.id",
        ),
        refused(
            "publish-known-type-without-payload",
            _no_payload,
            "event of type user.created needs its payload (user_created) "
            "or the reason it is left out (payload_omission)",
        ),
        refused(
            "publish-omission-and-payload",
            _set(payload_omission=PayloadOmission.PAYLOAD_OMISSION_TOO_LARGE),
            "payload_omission is set, but so is the payload",
        ),
        refused(
            "publish-payload-on-an-unknown-type",
            _payload_on_unknown_type,
            "payload user_created does not match event.type user.exploded",
        ),
        refused(
            "publish-with-sequence-set",
            _set(sequence=2**64 - 1),
            "event.sequence must be 0: the store assigns it (got 18446744073709551615)",
        ),
        refused(
            "publish-with-stale-set",
            _set(stale=True),
            "event.stale must be false: the store decides it",
        ),
        refused("publish-id-of-257-bytes", _set(id="m" * 257), "event.id is over 256 bytes"),
        refused(
            "publish-id-of-129-two-byte-characters",
            _set(id="é" * 129),
            "event.id is over 256 bytes",
        ),
        refused("publish-type-of-257-bytes", _set(type="t" * 257), "event.type is over 256 bytes"),
        refused(
            "publish-event-over-3-mib",
            _set(raw_body=b" " * (3 << 20)),
            "event is over 3145728 bytes",
        ),
        Case(
            "publish-message-over-4-mib",
            publish(oversized),
            Answer(
                "RESOURCE_EXHAUSTED",
                "SERVER: Received message larger than max "
                f"({oversized.ByteSize()} vs. {DEFAULT_CLIENT_RECEIVE_BYTES})",
            ),
            "nothing",
            nothing,
        ),
        published(
            "publish-known-type-with-a-lying-omission",
            forged("publish-known-type-with-a-lying-omission", _lying_omission),
            AS_INGEST,
            one(
                wid("publish-known-type-with-a-lying-omission"),
                "user.created",
                payload=None,
                omission=PayloadOmission.PAYLOAD_OMISSION_TOO_DEEP,
            ),
        ),
        published(
            "publish-omission-outside-the-enum",
            forged("publish-omission-outside-the-enum", _unknown_omission),
            AS_INGEST,
            one(
                wid("publish-omission-outside-the-enum"),
                "user.created",
                payload=None,
                omission=PayloadOmission.ValueType(99),
            ),
        ),
        Case(
            "publish-duplicate-of-a-webhook-with-another-body",
            publish(
                forged(
                    "publish-duplicate-of-a-webhook-with-another-body",
                    _set(id=wid("standard-webhooks-header-names")),
                )
            ),
            Answer(
                "OK",
                {"sequence": SequenceOf(wid("standard-webhooks-header-names")), "duplicate": True},
            ),
            "nothing new (the webhook's body stays)",
            nothing,
        ),
    ]


def _forged_token(snapshot: int) -> str:
    """A page token with a valid checksum (it is not keyed): anyone can make one."""
    return encode_page_token(PageToken(Selection("user"), "", snapshot))


def _list_users(**fields: Any) -> StateCall:
    return lambda stub: stub.ListUsers(ListUsersRequest(**fields), metadata=AS_SUBSCRIBER)


def _read_cases() -> list[Case]:
    invalid_pattern = (
        "invalid event type pattern {}: "
        "use '*', a family such as 'user.*', or a type such as 'user.created'"
    )
    huge = "u" * 1_000_000
    return [
        Case(
            "subscribe-bad-pattern",
            subscribe(SubscribeRequest(event_types=["user.**"])),
            Answer("INVALID_ARGUMENT", invalid_pattern.format("'user.**'")),
            "nothing",
            nothing,
        ),
        Case(
            "subscribe-pattern-of-a-mebibyte",
            subscribe(SubscribeRequest(event_types=["user." + "x" * (1 << 20) + "!"])),
            Answer(
                "INVALID_ARGUMENT",
                invalid_pattern.format("'user." + "x" * 95 + "'… (1048582 characters)"),
            ),
            "nothing",
            nothing,
        ),
        Case(
            "subscribe-after-uint64-max",
            subscribe(SubscribeRequest(after_sequence=2**64 - 1)),
            Answer(
                "INVALID_ARGUMENT",
                "after_sequence must be at most 9223372036854775807 (got 18446744073709551615)",
            ),
            "nothing",
            nothing,
        ),
        Case(
            "subscribe-after-int64-max",
            subscribe(SubscribeRequest(after_sequence=2**63 - 1)),
            Answer("OK", {"caught_up": 2**63 - 1}),
            "nothing",
            nothing,
        ),
        Case(
            "subscribe-since-year-146-billion",
            subscribe(SubscribeRequest(since=Timestamp(seconds=2**62))),
            Answer(
                "INVALID_ARGUMENT",
                "invalid since: Timestamp is not valid: Seconds 4611686018427387904 must be "
                "in range [-62135596800, 253402300799].",
            ),
            "nothing",
            nothing,
        ),
        Case(
            "subscribe-since-negative-nanos",
            subscribe(SubscribeRequest(since=Timestamp(seconds=0, nanos=-1))),
            Answer(
                "INVALID_ARGUMENT",
                "invalid since: Timestamp is not valid: Nanos -1 must be in a range [0, 999999].",
            ),
            "nothing",
            nothing,
        ),
        Case(
            "list-users-page-size-uint32-max",
            state(_list_users(page_size=2**32 - 1)),
            Answer("OK", {"snapshot_sequence": HEAD}),
            "nothing (one page, cut to 1000)",
            nothing,
        ),
        Case(
            "list-users-garbage-page-token",
            state(_list_users(page_token="!!garbage!!")),
            Answer("INVALID_ARGUMENT", "invalid page_token: not base64url"),
            "nothing",
            nothing,
        ),
        Case(
            "list-users-non-canonical-page-token",
            state(_list_users(page_token="QR")),
            Answer("INVALID_ARGUMENT", "invalid page_token: not in canonical form"),
            "nothing",
            nothing,
        ),
        Case(
            "list-users-altered-page-token",
            state(_list_users(page_token="A" + _forged_token(1)[1:])),
            Answer("INVALID_ARGUMENT", "invalid page_token: it was altered or is not a page token"),
            "nothing",
            nothing,
        ),
        Case(
            "list-organizations-with-a-users-page-token",
            state(
                lambda stub: stub.ListOrganizations(
                    ListOrganizationsRequest(page_token=_forged_token(1)), metadata=AS_SUBSCRIBER
                )
            ),
            Answer(
                "INVALID_ARGUMENT",
                "page_token does not match this request: repeat the request that returned "
                "it with the same filters, or start again without a token",
            ),
            "nothing",
            nothing,
        ),
        Case(
            "list-users-forged-token-snapshot-2-64",
            state(_list_users(page_token=_forged_token(2**64))),
            Answer("INVALID_ARGUMENT", "invalid page_token: unsupported version or layout"),
            "nothing",
            nothing,
        ),
        Case(
            "list-users-forged-token-snapshot-2-63",
            state(_list_users(page_token=_forged_token(2**63))),
            Answer("INVALID_ARGUMENT", "invalid page_token: unsupported version or layout"),
            "nothing",
            nothing,
        ),
        Case(
            "get-user-empty-id",
            state(lambda stub: stub.GetUser(GetUserRequest(id=""), metadata=AS_SUBSCRIBER)),
            Answer("INVALID_ARGUMENT", "id is required"),
            "nothing",
            nothing,
        ),
        Case(
            "get-user-id-of-a-million-characters",
            state(lambda stub: stub.GetUser(GetUserRequest(id=huge), metadata=AS_SUBSCRIBER)),
            Answer(
                "NOT_FOUND", f"no user with id '{'u' * 100}'… (1000000 characters) has been seen"
            ),
            "nothing",
            nothing,
        ),
        Case(
            "get-user-id-with-nul",
            state(
                lambda stub: stub.GetUser(GetUserRequest(id="user_\x00"), metadata=AS_SUBSCRIBER)
            ),
            Answer("NOT_FOUND", "no user with id 'user_\\x00' has been seen"),
            "nothing",
            nothing,
        ),
    ]


def grpc_cases() -> list[Case]:
    """Every hostile gRPC call."""
    return [*_auth_cases(), *_forged_publish_cases(), *_read_cases()]
