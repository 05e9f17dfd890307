"""`SubscribeResponse` messages built from stored bytes, without parsing events.

Stored events are already serialized `Event` messages. A batch is the
protobuf encoding of `SubscribeResponse{events: EventBatch{events: [...]}}`,
which is only length-prefixed concatenation: building it costs a join, not a
parse and re-serialize per event.

Every message fits a default client's 4 MiB receive limit: an event over
`MAX_EVENT_BYTES` (one stored before that limit existed) is sent without its
typed payload, marked `PAYLOAD_OMISSION_TOO_LARGE`; its raw body is kept.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from google.protobuf.timestamp_pb2 import Timestamp

from clerkrelay.limits import MAX_EVENT_BYTES
from clerkrelay.v1.event_pb2 import Event, PayloadOmission
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
    "event_message",
    "events_message",
    "fell_behind",
    "heartbeat",
    "varint",
    "without_payload",
]

# Tag of field 1, wire type 2 (length-delimited): SubscribeResponse.events and EventBatch.events.
_FIELD_1 = b"\x0a"


def varint(value: int) -> bytes:
    """A protobuf base-128 varint (what precedes a length-delimited field's bytes)."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class _Headers(dict[int, bytes]):
    """Field headers (tag + length) by length, made on first use.

    Events have a few thousand distinct sizes; a lookup is one C call, so
    headers for a whole page come from one `map`.
    """

    def __missing__(self, length: int) -> bytes:
        header = _FIELD_1 + varint(length)
        if len(self) < 65536:
            self[length] = header
        return header


_headers = _Headers()


def events_message(events: Sequence[bytes]) -> bytes:
    """A `SubscribeResponse` carrying these serialized events as one `EventBatch`."""
    lengths = list(map(len, events))
    return _message(list(map(_headers.__getitem__, lengths)), events, sum(lengths))


def event_batches(events: Sequence[bytes], max_events: int, max_bytes: int) -> list[bytes]:
    """`SubscribeResponse` messages carrying `events` in order.

    Each batch is bounded in count and bytes (of events), and holds at least
    one event. The work per event is done by C loops (`map`, `accumulate`,
    slices, `join`); Python code runs once per message.
    """
    lengths = list(map(len, events))
    if lengths and max(lengths) > MAX_EVENT_BYTES:
        events = [e if len(e) <= MAX_EVENT_BYTES else without_payload(e) for e in events]
        lengths = list(map(len, events))
    headers = list(map(_headers.__getitem__, lengths))
    ends = list(accumulate(lengths))  # event bytes up to and including each event
    messages: list[bytes] = []
    start = before = 0  # the batch's first event, and the event bytes before it
    while start < len(events):
        # The most events that fit, but at least one (a larger event goes alone).
        stop = bisect_right(ends, before + max_bytes, start, min(len(events), start + max_events))
        stop = max(stop, start + 1)
        messages.append(_message(headers[start:stop], events[start:stop], ends[stop - 1] - before))
        start, before = stop, ends[stop - 1]
    return messages


class _LastFramed:
    """The last event framed alone, and its message.

    At a moderate rate each commit holds one event, and every live stream
    that matches it sends it alone, one stream after the other: the first
    frames it, the others reuse the same bytes.
    """

    __slots__ = ("event", "message")

    def __init__(self) -> None:
        self.event: bytes | None = None
        self.message = b""

    def __call__(self, event: bytes) -> bytes:
        if event is not self.event:
            framed = event if len(event) <= MAX_EVENT_BYTES else without_payload(event)
            self.message = _message((_headers[len(framed)],), (framed,), len(framed))
            self.event = event
        return self.message


event_message = _LastFramed()
"""`event_message(event)`: a `SubscribeResponse` carrying one serialized event
(without its payload when over `MAX_EVENT_BYTES`), as `event_batches` would
frame it alone. Call it from the event loop's thread only."""


def without_payload(serialized: bytes) -> bytes:
    """A serialized event without its typed payload, marked as too large to carry one."""
    event = Event.FromString(serialized)
    event.ClearField("payload")
    event.payload_omission = PayloadOmission.PAYLOAD_OMISSION_TOO_LARGE
    return event.SerializeToString()


def _message(headers: Sequence[bytes], events: Sequence[bytes], event_bytes: int) -> bytes:
    """`SubscribeResponse{events: EventBatch{events}}`, built with one copy of the events.

    `headers` are the events' field headers, `event_bytes` their total length.
    """
    parts = [b""] * (2 * len(events) + 1)
    parts[1::2] = headers
    parts[2::2] = events
    parts[0] = _FIELD_1 + varint(event_bytes + sum(map(len, headers)))
    return b"".join(parts)


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
