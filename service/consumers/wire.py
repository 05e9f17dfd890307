"""`ConsumeResponse` messages, encoded; deliveries are built from stored bytes without parsing.

A `Delivery` is `delivery_id` (field 1), `attempt` (2) and the stored `Event`
bytes (3); a batch is `ConsumeResponse{deliveries: DeliveryBatch{deliveries}}`:
length-prefixed concatenation, as `service.wire` does for Subscribe.
"""

from __future__ import annotations

from collections.abc import Sequence

from clerkrelay.v1.consumer_service_pb2 import (
    ConsumeResponse,
    ConsumerGroup,
    ConsumerJoined,
    SettlementRejected,
)
from service.wire import varint

__all__ = ["delivery_batch", "delivery_id", "joined", "parse_delivery_id", "rejected"]


def delivery_id(sequence: int, attempt: int) -> str:
    """The id of one attempt of one event: `<sequence>.<attempt>`."""
    return f"{sequence}.{attempt}"


def parse_delivery_id(text: str) -> tuple[int, int] | None:
    """(sequence, attempt) of a delivery id; None when it is not one."""
    sequence, dot, attempt = text.partition(".")
    if not (dot and sequence.isdigit() and attempt.isdigit()) or len(text) > 40:
        return None
    return int(sequence), int(attempt)


def delivery_batch(deliveries: Sequence[tuple[int, int, bytes]]) -> bytes:
    """A `ConsumeResponse` with these (sequence, attempt, event bytes) deliveries."""
    parts = []
    for sequence, attempt, data in deliveries:
        ident = delivery_id(sequence, attempt).encode()
        body = b"".join(
            (
                b"\x0a" + varint(len(ident)) + ident,
                b"\x10" + varint(attempt),
                b"\x1a" + varint(len(data)),
                data,
            )
        )
        parts.append(b"\x0a" + varint(len(body)) + body)
    batch = b"".join(parts)
    return b"\x12" + varint(len(batch)) + batch


def joined(member_id: str, group: ConsumerGroup) -> bytes:
    """The `ConsumeResponse` answering a join."""
    message = ConsumeResponse(joined=ConsumerJoined(member_id=member_id, group=group))
    return message.SerializeToString()


def rejected(delivery: str, reason: str) -> bytes:
    """The `ConsumeResponse` saying a settlement changed nothing."""
    message = ConsumeResponse(rejected=SettlementRejected(delivery_id=delivery, reason=reason))
    return message.SerializeToString()
