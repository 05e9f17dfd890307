"""Hostile gRPC calls: bad Subscribe patterns and starts, forged page tokens, odd user ids."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from clerkrelay.v1.event_service_pb2 import SubscribeRequest
from clerkrelay.v1.state_service_pb2 import (
    GetUserRequest,
    ListOrganizationsRequest,
    ListUsersRequest,
)
from service.page_tokens import PageToken, Selection, encode_page_token
from tests.adversarial.cases import HEAD, Answer, Case, nothing, stores_nothing
from tests.adversarial.grpc_calls import AS_SUBSCRIBER, StateCall, state, subscribe


def _forged_token(snapshot: int) -> str:
    """A page token with a valid checksum (it is not keyed): anyone can make one."""
    return encode_page_token(PageToken(Selection("user"), "", snapshot))


def _list_users(**fields: Any) -> StateCall:
    return lambda stub: stub.ListUsers(ListUsersRequest(**fields), metadata=AS_SUBSCRIBER)


def read_cases() -> list[Case]:
    invalid_pattern = (
        "invalid event type pattern {}: "
        "use '*', a family such as 'user.*', or a type such as 'user.created'"
    )
    huge = "u" * 1_000_000
    return [
        stores_nothing(
            "subscribe-bad-pattern",
            subscribe(SubscribeRequest(event_types=["user.**"])),
            Answer("INVALID_ARGUMENT", invalid_pattern.format("'user.**'")),
        ),
        stores_nothing(
            "subscribe-pattern-of-a-mebibyte",
            subscribe(SubscribeRequest(event_types=["user." + "x" * (1 << 20) + "!"])),
            Answer(
                "INVALID_ARGUMENT",
                invalid_pattern.format("'user." + "x" * 95 + "'… (1048582 characters)"),
            ),
        ),
        stores_nothing(
            "subscribe-after-uint64-max",
            subscribe(SubscribeRequest(after_sequence=2**64 - 1)),
            Answer(
                "INVALID_ARGUMENT",
                "after_sequence must be at most 9223372036854775807 (got 18446744073709551615)",
            ),
        ),
        stores_nothing(
            "subscribe-after-int64-max",
            subscribe(SubscribeRequest(after_sequence=2**63 - 1)),
            Answer("OK", {"caught_up": 2**63 - 1}),
        ),
        stores_nothing(
            "subscribe-since-year-146-billion",
            subscribe(SubscribeRequest(since=Timestamp(seconds=2**62))),
            Answer(
                "INVALID_ARGUMENT",
                "invalid since: Timestamp is not valid: Seconds 4611686018427387904 must be "
                "in range [-62135596800, 253402300799].",
            ),
        ),
        stores_nothing(
            "subscribe-since-negative-nanos",
            subscribe(SubscribeRequest(since=Timestamp(seconds=0, nanos=-1))),
            Answer(
                "INVALID_ARGUMENT",
                "invalid since: Timestamp is not valid: Nanos -1 must be in a range [0, 999999].",
            ),
        ),
        Case(
            "list-users-page-size-uint32-max",
            state(_list_users(page_size=2**32 - 1)),
            Answer("OK", {"snapshot_sequence": HEAD}),
            "nothing (one page, cut to 1000)",
            nothing,
        ),
        stores_nothing(
            "list-users-garbage-page-token",
            state(_list_users(page_token="!!garbage!!")),
            Answer("INVALID_ARGUMENT", "invalid page_token: not base64url"),
        ),
        stores_nothing(
            "list-users-non-canonical-page-token",
            state(_list_users(page_token="QR")),
            Answer("INVALID_ARGUMENT", "invalid page_token: not in canonical form"),
        ),
        stores_nothing(
            "list-users-altered-page-token",
            state(_list_users(page_token="A" + _forged_token(1)[1:])),
            Answer("INVALID_ARGUMENT", "invalid page_token: it was altered or is not a page token"),
        ),
        stores_nothing(
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
        ),
        stores_nothing(
            "list-users-forged-token-snapshot-2-64",
            state(_list_users(page_token=_forged_token(2**64))),
            Answer("INVALID_ARGUMENT", "invalid page_token: unsupported version or layout"),
        ),
        stores_nothing(
            "list-users-forged-token-snapshot-2-63",
            state(_list_users(page_token=_forged_token(2**63))),
            Answer("INVALID_ARGUMENT", "invalid page_token: unsupported version or layout"),
        ),
        stores_nothing(
            "get-user-empty-id",
            state(lambda stub: stub.GetUser(GetUserRequest(id=""), metadata=AS_SUBSCRIBER)),
            Answer("INVALID_ARGUMENT", "id is required"),
        ),
        stores_nothing(
            "get-user-id-of-a-million-characters",
            state(lambda stub: stub.GetUser(GetUserRequest(id=huge), metadata=AS_SUBSCRIBER)),
            Answer(
                "NOT_FOUND", f"no user with id '{'u' * 100}'… (1000000 characters) has been seen"
            ),
        ),
        stores_nothing(
            "get-user-id-with-nul",
            state(
                lambda stub: stub.GetUser(GetUserRequest(id="user_\x00"), metadata=AS_SUBSCRIBER)
            ),
            Answer("NOT_FOUND", "no user with id 'user_\\x00' has been seen"),
        ),
    ]
