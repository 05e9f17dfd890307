"""Hostile webhooks: timestamps and integer fields past 64 bits, of the wrong type, or floats."""

from __future__ import annotations

import json
from collections.abc import Callable

from google.protobuf.message import Message

from clerkrelay import to_clerk_dict
from clerkrelay.v1.event_pb2 import Event
from tests.adversarial.cases import Case
from tests.adversarial.webhooks import (
    spliced,
    typed_case,
    user_body,
)

BIG_METADATA = {
    "i64_max_plus_1": 2**63,
    "i64_min_minus_1": -(2**63) - 1,
    "u64_max_plus_1": 2**64,
    "two_to_70": 2**70,
    "smallest_double": 5e-324,
}
BIG_METADATA_TEXT = json.dumps(BIG_METADATA, separators=(",", ":"), ensure_ascii=False)


def metadata_kept_exactly(event: Event) -> None:
    user = event.user_created
    assert user.public_metadata_json == BIG_METADATA_TEXT
    assert to_clerk_dict(user)["public_metadata"] == BIG_METADATA


def field_unset(name: str) -> Callable[[Event], None]:
    def check(event: Event) -> None:
        user: Message = event.user_created
        assert not user.HasField(name)

    return check


def envelope_timestamp(expected: int | None) -> Callable[[Event], None]:
    def check(event: Event) -> None:
        if expected is None:
            assert not event.HasField("timestamp")
        else:
            assert event.timestamp == expected

    return check


def _timestamp_body(name: str, value: bytes) -> bytes:
    body = user_body(name)
    return body.replace(b'"timestamp":1700000000000', b'"timestamp":' + value)


def _ts_case(name: str, value: bytes, expected: int | None) -> Case:
    body = _timestamp_body(name, value)
    return typed_case(
        name,
        body,
        f"1 typed event, envelope timestamp {'unset' if expected is None else expected}",
        also=envelope_timestamp(expected),
    )


def _int_field_case(name: str, value: bytes, field: str = "created_at") -> Case:
    body = spliced(name, field, value)
    return typed_case(name, body, f"1 typed event without {field} (drift)", also=field_unset(field))


def number_cases() -> list[Case]:
    cases = [
        _ts_case("envelope-timestamp-2-63", b"9223372036854775808", None),
        _ts_case("envelope-timestamp-minus-2-63-minus-1", b"-9223372036854775809", None),
        _ts_case("envelope-timestamp-2-64", b"18446744073709551616", None),
        _ts_case("envelope-timestamp-2-70", b"1180591620717411303424", None),
        _ts_case("envelope-timestamp-int64-max", b"9223372036854775807", 2**63 - 1),
        _ts_case("envelope-timestamp-float", b"1.5", None),
        _ts_case("envelope-timestamp-string", b'"1700000000000"', None),
        _ts_case("envelope-timestamp-true", b"true", None),
        _int_field_case("created-at-2-63", b"9223372036854775808"),
        _int_field_case("created-at-minus-2-63-minus-1", b"-9223372036854775809"),
        _int_field_case("created-at-2-64", b"18446744073709551616"),
        _int_field_case("created-at-2-70", b"1180591620717411303424"),
        _int_field_case("created-at-float", b"1.5"),
        _int_field_case("created-at-1e300", b"1e300"),
        _int_field_case("created-at-string", b'"1700000000000"'),
        _int_field_case("banned-string-true", b'"true"', "banned"),
        _int_field_case("banned-object", b"{}", "banned"),
        _int_field_case("first-name-number", b"12", "first_name"),
    ]
    name = "metadata-integers-past-64-bits"
    body = user_body(name, public_metadata=BIG_METADATA)
    cases.append(
        typed_case(
            name,
            body,
            "1 typed event; public_metadata_json keeps every number exactly",
            also=metadata_kept_exactly,
        )
    )
    return cases
