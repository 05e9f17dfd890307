"""`ListEvents`: the log read a page at a time, filtered as Subscribe filters, between two points.

A listing is fixed by its first page (see the RPC's documentation in
`event_service.proto`): it runs after its start up to its end, the head at
that moment or the last event received before `until`, whichever is lower.
Its page token carries the last sequence examined, the end, the head it
began at, and a digest of the filter, so a token only continues the listing
it came from. Each call examines at most `SCAN_ROWS` events and returns what
fits in one response a default client accepts (`fitting`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from clerkrelay.limits import MAX_MESSAGE_BYTES
from clerkrelay.v1.event_service_pb2 import ListEventsRequest
from service.errors import InvalidArgument
from service.filters import EventFilter, InvalidFilter
from service.page_tokens import page_size
from service.storage import MAX_SEQUENCE, BeforeRetention, Store, StoredEvent
from service.token_codec import seal, unseal

__all__ = ["SCAN_ROWS", "EventListing", "fitting", "list_events"]

SCAN_ROWS = 10_000
"""Events one call examines at most (a sparse filter then returns a short page)."""

_CHUNK_ROWS = 200
_VERSION = 1
_PERSON = b"clerkrelay-list"


@dataclass(frozen=True, slots=True)
class EventListing:
    """One page of a listing.

    Attributes:
        events: The matching events, in sequence order.
        next_page_token: Continues the listing; "" at its end.
        snapshot_sequence: The head when the listing began.
    """

    events: list[StoredEvent]
    next_page_token: str
    snapshot_sequence: int


@dataclass(frozen=True, slots=True)
class _Position:
    after: int
    end: int
    snapshot: int


def fitting(events: Sequence[StoredEvent]) -> int:
    """How many leading events fit in one response a default client can receive (at least one)."""
    total = 0
    for count, stored in enumerate(events):
        total += len(stored.data) + 6  # the field's tag and length
        if total > MAX_MESSAGE_BYTES and count > 0:
            return count
    return len(events)


async def list_events(store: Store, request: ListEventsRequest) -> EventListing:
    """One page of the listing `request` asks for.

    Raises:
        InvalidArgument: A bad pattern, page size, timestamp or page token.
        BeforeRetention: The start is before the oldest retained event.
    """
    try:
        matches = EventFilter(request.event_types, request.entity_ids, request.organization_id)
    except InvalidFilter as error:
        raise InvalidArgument(str(error)) from None
    size = page_size(request.page_size)
    digest = _digest(request)
    position = (
        _decode(request.page_token, digest) if request.page_token else await _first(store, request)
    )
    events: list[StoredEvent] = []
    after = position.after
    budget = SCAN_ROWS
    held = 0  # bytes: reading stops once a page's worth is in hand
    while after < position.end and budget > 0 and len(events) <= size and held <= MAX_MESSAGE_BYTES:
        chunk = min(budget, position.end - after, _CHUNK_ROWS)
        page = await store.read(after, chunk, None if matches.matches_all else matches)
        found = [e for e in page.events if e.sequence <= position.end]
        events.extend(found)
        held += sum(len(e.data) for e in found)
        budget -= chunk
        if page.last_examined <= after:  # nothing left to read
            after = position.end
            break
        after = min(page.last_examined, position.end)
    kept = min(size, fitting(events))
    if kept < len(events):
        after = events[kept - 1].sequence
    more = after < position.end
    token = _encode(_Position(after, position.end, position.snapshot), digest) if more else ""
    return EventListing(events[:kept], token, position.snapshot)


async def _first(store: Store, request: ListEventsRequest) -> _Position:
    """Where a new listing starts and ends."""
    oldest = await store.oldest_retained()
    head = await store.head()
    start = request.WhichOneof("start")
    if start == "since":  # before the retained log: BeforeRetention, as for Subscribe
        after = await store.sequence_before(_time(request, "since"))
    elif start == "after_sequence" and request.after_sequence:
        if request.after_sequence > MAX_SEQUENCE:
            raise InvalidArgument(f"after_sequence must be at most {MAX_SEQUENCE}")
        if request.after_sequence + 1 < oldest:
            raise BeforeRetention(request.after_sequence, oldest)
        after = request.after_sequence
    else:
        after = oldest - 1
    end = head
    if request.HasField("until"):
        end = min(end, await store.sequence_before(_time(request, "until")))
    return _Position(after, end, head)


def _time(request: ListEventsRequest, field: str) -> datetime:
    try:
        moment: datetime = getattr(request, field).ToDatetime(tzinfo=UTC)
        return moment
    except ValueError as error:  # seconds or nanos out of Timestamp's range
        raise InvalidArgument(f"invalid {field}: {error}") from None


def _digest(request: ListEventsRequest) -> str:
    """What a token must have been made for: the filter and `until`."""
    shape = [
        sorted(request.event_types),
        sorted(request.entity_ids),
        request.organization_id,
        [request.until.seconds, request.until.nanos] if request.HasField("until") else None,
    ]
    text = json.dumps(shape, separators=(",", ":"), ensure_ascii=True).encode()
    return hashlib.blake2b(text, digest_size=12).hexdigest()


def _encode(position: _Position, digest: str) -> str:
    return seal([_VERSION, digest, position.after, position.end, position.snapshot], _PERSON)


def _decode(text: str, digest: str) -> _Position:
    fields = unseal(text, _PERSON, (int, str, int, int, int), _VERSION)
    if fields[1] != digest:
        raise InvalidArgument(
            "page_token does not match this request: repeat the request that returned it "
            "with the same filter and until, or start again without a token"
        )
    return _Position(fields[2], fields[3], fields[4])
