"""Hostile webhooks: unknown, overlong, missing and duplicated event types; bodies not objects."""

from __future__ import annotations

import orjson

from clerkrelay.v1.event_pb2 import Event
from tests.adversarial.cases import Case, one, wid
from tests.adversarial.webhooks import (
    accepted,
    post_signed,
    rejected_case,
    typed_case,
    user_body,
    user_envelope,
)


def envelope_cases() -> list[Case]:
    cases: list[Case] = []
    name = "unknown-event-type"
    body = orjson.dumps(dict(user_envelope(name), type="user.exploded"))
    cases.append(
        Case(
            name,
            post_signed(name, body),
            accepted(name),
            "1 event, no payload, no omission (unknown type)",
            one(wid(name), "user.exploded", payload=None),
        )
    )
    name = "event-type-of-256-bytes"
    long_type = "user." + "x" * 251
    body = orjson.dumps(dict(user_envelope(name), type=long_type))
    cases.append(
        Case(
            name,
            post_signed(name, body),
            accepted(name),
            "1 event of the 256-byte type, no payload",
            one(wid(name), long_type, payload=None),
        )
    )
    name = "event-type-of-257-bytes"
    cases.append(
        rejected_case(
            name,
            orjson.dumps(dict(user_envelope(name), type="u" * 257)),
            400,
            "event type over 256 bytes",
        )
    )
    for label, value in (("a-number", 7), ("null", None), ("empty", ""), ("an-object", {})):
        name = f"event-type-{label}"
        cases.append(
            rejected_case(
                name,
                orjson.dumps(dict(user_envelope(name), type=value)),
                400,
                "body has no event type",
            )
        )
    for label, body in (("an-array", b"[]"), ("a-string", b'"user.created"'), ("null", b"null")):
        name = f"body-is-{label}"
        cases.append(rejected_case(name, body, 400, "body is not a JSON object"))
    name = "duplicate-type-keys"  # the last one wins, in the gateway and in Publish alike
    body = orjson.dumps(user_envelope(name))[:-1] + b',"type":"user.deleted"}'
    cases.append(
        Case(
            name,
            post_signed(name, body),
            accepted(name),
            "1 user.deleted event (the last key), typed from the same data",
            one(wid(name), "user.deleted", payload="user_deleted"),
        )
    )
    name = "key-of-half-a-mebibyte"
    body = user_body(name, unsafe_metadata={"k" * (512 << 10): 1})
    cases.append(typed_case(name, body, "1 typed event"))
    name = "event-attributes-a-string"
    body = orjson.dumps(dict(user_envelope(name), event_attributes="GET /"))

    def no_attributes(event: Event) -> None:
        assert not event.HasField("event_attributes")

    cases.append(
        typed_case(name, body, "1 typed event without event_attributes", also=no_attributes)
    )
    return cases
