"""Hostile webhooks: data of the wrong shape, and metadata nested 33 to 1100 deep."""

from __future__ import annotations

import json
from collections.abc import Callable

import orjson

from clerkrelay.v1.event_pb2 import Event
from tests.adversarial.cases import Case
from tests.adversarial.webhooks import (
    OMIT,
    omitted_case,
    rejected_case,
    spliced,
    typed_case,
    user_body,
    user_envelope,
)


def nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"{}" + b"}" * depth


def unsafe_text(expected: bytes) -> Callable[[Event], None]:
    def check(event: Event) -> None:
        assert event.user_created.unsafe_metadata_json == expected.decode()

    return check


def _nested_case(name: str, depth: int, text: bytes) -> Case:
    body = spliced(name, "unsafe_metadata", text)
    return typed_case(
        name,
        body,
        f"1 typed event, unsafe_metadata_json {depth} deep, exact",
        also=unsafe_text(text),
    )


def shape_cases() -> list[Case]:
    cases: list[Case] = []
    for label, text in (("object", b"{}"), ("numbers", b"[1,2]"), ("string", b'"x"')):
        name = f"email-addresses-as-{label}"
        body = spliced(name, "email_addresses", text)

        def no_emails(event: Event) -> None:
            assert len(event.user_created.email_addresses) == 0

        cases.append(
            typed_case(name, body, "1 typed event without email_addresses", also=no_emails)
        )
    for label, text in (("null", b"null"), ("a-string", b'"user_x"'), ("an-array", b"[{}]")):
        name = f"data-{label}"
        envelope = user_envelope(name)
        body = json.dumps(dict(envelope, data="__data__"), separators=(",", ":")).encode()
        body = body.replace(b'"__data__"', text)
        cases.append(
            omitted_case(name, body, OMIT.PAYLOAD_OMISSION_DATA_NOT_OBJECT, "DATA_NOT_OBJECT")
        )
    name = "data-missing"
    envelope = user_envelope(name)
    del envelope["data"]
    cases.append(
        omitted_case(
            name, orjson.dumps(envelope), OMIT.PAYLOAD_OMISSION_DATA_NOT_OBJECT, "DATA_NOT_OBJECT"
        )
    )
    name = "data-id-a-number"
    body = spliced(name, "id", b"123")

    def no_id(event: Event) -> None:
        assert event.user_created.id == ""

    cases.append(typed_case(name, body, "1 typed event with an empty user id", also=no_id))
    for depth in (33, 100, 300):
        cases.append(_nested_case(f"unsafe-metadata-{depth}-deep", depth, nested_arrays(depth)))
    cases.append(_nested_case("unsafe-metadata-300-deep-objects", 300, nested_objects(300)))
    name = "unsafe-metadata-1000-deep"
    cases.append(
        omitted_case(
            name,
            spliced(name, "unsafe_metadata", nested_arrays(1000)),
            OMIT.PAYLOAD_OMISSION_TOO_DEEP,
            "TOO_DEEP",
        )
    )
    name = "unsafe-metadata-1100-deep"
    cases.append(
        rejected_case(
            name,
            spliced(name, "unsafe_metadata", nested_arrays(1100)),
            400,
            "invalid JSON: depth limit exceeded",
        )
    )
    name = "unknown-extra-envelope-key-1000-deep"
    body = user_body(name)[:-1] + b',"extra":' + nested_arrays(1000) + b"}"
    cases.append(typed_case(name, body, "1 typed event (the extra key is drift, kept in raw_body)"))
    return cases
