"""Hostile gRPC calls: forged and contradictory Publish calls, and ones over the size limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from clerkrelay.limits import DEFAULT_CLIENT_RECEIVE_BYTES
from clerkrelay.v1.event_pb2 import Event, PayloadOmission
from clerkrelay.v1.ingest_service_pb2 import PublishRequest
from tests.adversarial.cases import Answer, Case, SequenceOf, nothing, one, stores_nothing, wid
from tests.adversarial.grpc_calls import AS_INGEST, forged, publish, published, refused

NOT_OF_TYPE = "event.raw_body is not the JSON of an event of event.type"


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


def forged_publish_cases() -> list[Case]:
    oversized = forged("publish-message-over-4-mib", _set(raw_body=b" " * (4 << 20)))
    return [
        stores_nothing(
            "publish-without-an-event",
            publish(PublishRequest()),
            Answer("INVALID_ARGUMENT", "event is required"),
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
        stores_nothing(
            "publish-message-over-4-mib",
            publish(oversized),
            Answer(
                "RESOURCE_EXHAUSTED",
                "SERVER: Received message larger than max "
                f"({oversized.ByteSize()} vs. {DEFAULT_CLIENT_RECEIVE_BYTES})",
            ),
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
