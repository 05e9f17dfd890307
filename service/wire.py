"""`SubscribeResponse` messages built from stored bytes, without parsing events.

Stored events are already serialized `Event` messages. A batch is the
protobuf encoding of `SubscribeResponse{events: EventBatch{events: [...]}}`,
which is only length-prefixed concatenation: building it costs a join, not a
parse and re-serialize per event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from clerkrelay.v1.event_service_pb2 import (
    CaughtUp,
    Checkpoint,
    FellBehind,
    Heartbeat,
    SubscribeResponse,
)

__all__ = [
    "caught_up",
    "checkpoint",
    "event_batches",
    "events_message",
    "fell_behind",
    "heartbeat",
]

# Tag of field 1, wire type 2 (length-delimited): SubscribeResponse.events and EventBatch.events.
_FIELD_1 = b"\x0a"


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Field headers (tag + length) by length: events have a few thousand distinct sizes.
_headers: dict[int, bytes] = {}


def _header(length: int) -> bytes:
    header = _headers.get(length)
    if header is None:
        header = _FIELD_1 + _varint(length)
        if len(_headers) < 65536:
            _headers[length] = header
    return header


def events_message(events: Sequence[bytes]) -> bytes:
    """A `SubscribeResponse` carrying these serialized events as one `EventBatch`."""
    parts: list[bytes] = []
    for event in events:
        parts += (_header(len(event)), event)
    batch = b"".join(parts)
    return _header(len(batch)) + batch


def event_batches(events: Iterable[bytes], max_events: int, max_bytes: int) -> list[bytes]:
    """`SubscribeResponse` messages carrying `events` in order, batched in one pass.

    Each batch is bounded in count and bytes, and holds at least one event.
    """
    messages: list[bytes] = []
    parts: list[bytes] = []
    count = size = 0
    for event in events:
        length = len(event)
        if count and (count >= max_events or size + length > max_bytes):
            batch = b"".join(parts)
            messages.append(_header(len(batch)) + batch)
            parts = []
            count = size = 0
        parts += (_header(length), event)
        count += 1
        size += length
    if count:
        batch = b"".join(parts)
        messages.append(_header(len(batch)) + batch)
    return messages


def checkpoint(sequence: int) -> bytes:
    """A `SubscribeResponse` carrying a checkpoint."""
    return SubscribeResponse(checkpoint=Checkpoint(sequence=sequence)).SerializeToString()


def caught_up(sequence: int) -> bytes:
    """A `SubscribeResponse` saying the stream is live from `sequence` on."""
    return SubscribeResponse(caught_up=CaughtUp(sequence=sequence)).SerializeToString()


def fell_behind(sequence: int) -> bytes:
    """A `SubscribeResponse` saying the stream is back to reading the log after `sequence`."""
    return SubscribeResponse(fell_behind=FellBehind(sequence=sequence)).SerializeToString()


def heartbeat(head_sequence: int, time_ns: int) -> bytes:
    """A `SubscribeResponse` heartbeat."""
    now = Timestamp()
    now.FromNanoseconds(time_ns)
    return SubscribeResponse(
        heartbeat=Heartbeat(time=now, head_sequence=head_sequence)
    ).SerializeToString()
