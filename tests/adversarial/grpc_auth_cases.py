"""Hostile gRPC calls: missing, unknown and malformed bearer tokens, and the wrong role."""

from __future__ import annotations

from clerkrelay.v1.event_service_pb2 import SubscribeRequest
from clerkrelay.v1.ingest_service_pb2 import PublishRequest
from clerkrelay.v1.state_service_pb2 import (
    GetUserRequest,
    ListUsersRequest,
)
from tests.adversarial.cases import Answer, Case, one, stores_nothing, wid
from tests.adversarial.grpc_calls import (
    AS_ADMIN,
    AS_INGEST,
    AS_SUBSCRIBER,
    Metadata,
    StateCall,
    auth,
    publish,
    published,
    state,
    subscribe,
    user_event,
)
from tests.adversarial.relay import INGEST_TOKEN

MISSING_TOKEN = "missing bearer token: send metadata 'authorization: Bearer <token>'"
WRONG_ROLE = "this token's role may not call this method"


def _list_users_as(metadata: Metadata) -> StateCall:
    return lambda stub: stub.ListUsers(ListUsersRequest(), metadata=metadata)


def _get_user_as(metadata: Metadata, user_id: str) -> StateCall:
    return lambda stub: stub.GetUser(GetUserRequest(id=user_id), metadata=metadata)


def auth_cases() -> list[Case]:
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
            stores_nothing(
                name,
                publish(PublishRequest(event=user_event(name)), metadata),
                Answer(code, details),
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
            stores_nothing(
                f"subscribe-with-{label}",
                subscribe(SubscribeRequest(after_sequence=0), metadata),
                Answer(code, details),
            )
        )
        cases.append(
            stores_nothing(
                f"list-users-with-{label}", state(_list_users_as(metadata)), Answer(code, details)
            )
        )
        cases.append(
            stores_nothing(
                f"get-user-with-{label}",
                state(_get_user_as(metadata, "user_x")),
                Answer(code, details),
            )
        )
    return cases
