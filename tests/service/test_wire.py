"""Pre-framed `SubscribeResponse` batches: exactly the events given, in order, within the limits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clerkrelay.v1.event_pb2 import Event
from clerkrelay.v1.event_service_pb2 import SubscribeResponse
from service import wire


def serialized(sequence: int, body_bytes: int) -> bytes:
    """A serialized `Event` of roughly `body_bytes` bytes."""
    return Event(
        sequence=sequence, id=f"msg_{sequence}", raw_body=b"x" * body_bytes
    ).SerializeToString()


def parsed(message: bytes) -> list[bytes]:
    """The serialized events of one `SubscribeResponse` batch."""
    response = SubscribeResponse.FromString(message)
    assert response.WhichOneof("response") == "events"
    return [event.SerializeToString() for event in response.events.events]


def test_no_events_no_messages() -> None:
    assert wire.event_batches([], 10, 1000) == []


def test_batches_split_by_count_then_by_bytes() -> None:
    events = [serialized(i, 89) for i in range(1, 8)]  # 100 bytes each
    assert {len(e) for e in events} == {100}

    by_count = wire.event_batches(events, 3, 10_000)
    by_bytes = wire.event_batches(events, 100, 250)

    assert [parsed(m) for m in by_count] == [events[0:3], events[3:6], events[6:7]]
    assert [parsed(m) for m in by_bytes] == [events[0:2], events[2:4], events[4:6], events[6:7]]


def test_an_event_larger_than_the_byte_limit_goes_alone() -> None:
    small, large = serialized(1, 10), serialized(2, 5000)
    messages = wire.event_batches([small, large, small], 10, 1000)
    assert [parsed(m) for m in messages] == [[small], [large], [small]]


def test_events_message_is_one_batch_of_everything() -> None:
    events = [serialized(i, 200 * i) for i in range(1, 5)]
    assert parsed(wire.events_message(events)) == events
    assert wire.events_message(events) == wire.event_batches(events, 10, 1 << 20)[0]


@given(size=st.integers(min_value=0, max_value=20_000))
def test_one_event_alone_is_framed_as_a_batch_of_one(size: int) -> None:
    data = serialized(size, size)
    assert wire.event_message(data) == wire.event_batches([data], 500, 1 << 20)[0]
    assert parsed(wire.event_message(data)) == [data]


def test_each_stream_sending_the_same_live_event_reuses_its_framing() -> None:
    first, second = serialized(1, 3000), serialized(2, 3000)
    message = wire.event_message(first)
    assert wire.event_message(first) is message
    assert parsed(wire.event_message(second)) == [second]
    # Equal bytes in another object are framed again, and the same.
    assert wire.event_message(bytes(bytearray(first))) == message


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=700), max_size=40),
    max_events=st.integers(min_value=1, max_value=12),
    max_bytes=st.integers(min_value=1, max_value=3000),
)
def test_every_event_once_in_order_within_the_limits(
    sizes: list[int], max_events: int, max_bytes: int
) -> None:
    events = [serialized(i + 1, size) for i, size in enumerate(sizes)]
    batches = [parsed(m) for m in wire.event_batches(events, max_events, max_bytes)]
    assert [event for batch in batches for event in batch] == events
    for batch in batches:
        assert 1 <= len(batch) <= max_events
        assert len(batch) == 1 or sum(map(len, batch)) <= max_bytes
    # Greedy: each batch is as full as the limits allow.
    for batch, following in zip(batches, batches[1:], strict=False):
        assert len(batch) == max_events or sum(map(len, batch)) + len(following[0]) > max_bytes
