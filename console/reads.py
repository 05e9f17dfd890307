"""What the console's pages show, read from the store: log pages, one event, one entity.

Each read returns plain values for `console.views` to render; nothing here
writes HTML. Filters come from the page's query string and are checked here
(a bad one is `BadQuery`, answered 400).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from google.protobuf.message import Message

from clerkrelay.clerk_json import to_clerk_dict
from clerkrelay.kinds import KIND_BY_FAMILY, KIND_BY_NAME
from clerkrelay.v1.event_pb2 import Event, EventOrigin, PayloadOmission
from gateway.convert import InvalidEnvelope, convert
from gateway.json_text import InvalidJson, parse_body
from service.errors import ServiceError
from service.filters import EventFilter, InvalidFilter
from service.lookups import HistoryResult, find_event, history
from service.storage import MAX_SEQUENCE, EntityRecord, Store, StoredEvent

__all__ = [
    "LOG_ROWS",
    "SCAN_WINDOW",
    "BadQuery",
    "EntityView",
    "EventDetail",
    "EventRow",
    "LogQuery",
    "entity_view",
    "event_detail",
    "log_page",
    "newer_rows",
    "row_of",
]

LOG_ROWS = 100
"""Most rows the log page shows."""

SCAN_WINDOW = 5000
"""The log page looks for matching events among this many of the newest (or after `since`)."""


class BadQuery(ValueError):
    """A filter in the query string is malformed (the message says which)."""


@dataclass(frozen=True, slots=True)
class LogQuery:
    """The log page's filters.

    Attributes:
        types: Event-type patterns (`user.*`), empty for every type.
        entity_id: Only events about this id, when not empty.
        svix_id: Only the event with this webhook id, when not empty.
        since: Only events received at or after this time.
    """

    types: tuple[str, ...] = ()
    entity_id: str = ""
    svix_id: str = ""
    since: datetime | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> LogQuery:
        """From the query string: `type` (comma-separated), `entity`, `svix_id`, `since`.

        Raises:
            BadQuery: A pattern or the time is malformed.
        """
        types = tuple(p.strip() for p in params.get("type", "").split(",") if p.strip())
        since_text = params.get("since", "").strip()
        since = None
        if since_text:
            try:
                since = datetime.fromisoformat(since_text)
            except ValueError:
                raise BadQuery(f"since: not a time: {since_text!r}") from None
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
        query = cls(
            types, params.get("entity", "").strip(), params.get("svix_id", "").strip(), since
        )
        query.event_filter()  # checks the patterns
        return query

    def event_filter(self) -> EventFilter:
        """The filter the log is read with.

        Raises:
            BadQuery: A pattern is malformed.
        """
        try:
            return EventFilter(self.types, (self.entity_id,) if self.entity_id else (), "")
        except InvalidFilter as error:
            raise BadQuery(str(error)) from None


@dataclass(frozen=True, slots=True)
class EventRow:
    """One line of the log page."""

    sequence: int
    type: str
    entity_kind: str  # "any" when the type changes no entity the mirror keeps
    entity_id: str
    origin: str
    receive_time_ns: int
    svix_id: str
    stale: bool


def row_of(stored: StoredEvent) -> EventRow:
    """The log line of a stored event."""
    event = stored.event()
    kind = KIND_BY_FAMILY.get(event.type.partition(".")[0])
    return EventRow(
        sequence=stored.sequence,
        type=stored.type,
        entity_kind=kind.name if kind is not None else "any",
        entity_id=stored.subject_ids[0] if stored.subject_ids else "",
        origin=_origin(event),
        receive_time_ns=stored.receive_time_ns,
        svix_id=event.id,
        stale=event.stale,
    )


def _origin(event: Event) -> str:
    if event.origin == EventOrigin.EVENT_ORIGIN_RECONCILIATION:
        return "reconciliation"
    return "webhook"


async def log_page(store: Store, query: LogQuery) -> tuple[list[EventRow], int]:
    """The newest matching events (newest first), and the sequence live updates follow.

    Without `since`, the matches among the newest `SCAN_WINDOW` events; with
    it, the first `LOG_ROWS` matches received from then on.
    """
    head = await store.head()
    if query.svix_id:
        try:
            found = await find_event(store, webhook_id=query.svix_id)
        except ServiceError:
            return [], head
        matches = query.event_filter()
        return ([row_of(found)] if matches(found) else []), head
    oldest = await store.oldest_retained()
    if query.since is not None:
        after = max(await store.sequence_before(query.since), oldest - 1)
        result = await store.read(after, SCAN_WINDOW, query.event_filter())
        return [row_of(s) for s in reversed(result.events[:LOG_ROWS])], head
    after = max(head - SCAN_WINDOW, oldest - 1)
    result = await store.read(after, SCAN_WINDOW, query.event_filter())
    return [row_of(s) for s in reversed(result.events[-LOG_ROWS:])], head


async def newer_rows(store: Store, query: LogQuery, after: int) -> tuple[list[EventRow], int]:
    """Matching events after `after` (newest first), and the last sequence examined.

    A page left open while retention trimmed the log past `after` continues
    from the oldest event still retained.

    Raises:
        BadQuery: `after` is beyond any sequence.
    """
    if after > MAX_SEQUENCE:
        raise BadQuery("after: not a sequence")
    if query.svix_id:
        return [], max(after, await store.head())
    after = max(after, await store.oldest_retained() - 1)
    result = await store.read(after, SCAN_WINDOW, query.event_filter())
    return [row_of(s) for s in reversed(result.events[-LOG_ROWS:])], result.last_examined


@dataclass(frozen=True, slots=True)
class EventDetail:
    """Everything the event page shows.

    Attributes:
        event: The stored event.
        row: Its log line.
        typed_json: Its typed view as indented JSON (Clerk's keys); "" when it has none.
        omission: Why a known type has no typed view ("" when it has one or the type is unknown).
        drift: The fields of its raw JSON the contract does not type (as converted now).
        raw: The raw body, exactly as received, as text.
    """

    event: Event
    row: EventRow
    typed_json: str
    omission: str
    drift: list[str]
    raw: str


async def event_detail(store: Store, key: str) -> EventDetail:
    """The event with this sequence (digits) or webhook id.

    Raises:
        ServiceError: There is no such event (`NotFound`) or the key is malformed.
    """
    if key.isdecimal():
        found = await find_event(store, sequence=int(key))
    else:
        found = await find_event(store, webhook_id=key)
    event = found.event()
    case = event.WhichOneof("payload")
    typed = "" if case is None else _indented(getattr(event, case))
    omission = ""
    if event.payload_omission != PayloadOmission.PAYLOAD_OMISSION_UNSPECIFIED:
        omission = PayloadOmission.Name(event.payload_omission)
    return EventDetail(
        event=event,
        row=row_of(found),
        typed_json=typed,
        omission=omission,
        drift=_drift(event),
        raw=event.raw_body.decode("utf-8", errors="replace"),
    )


def _indented(message: Message) -> str:
    return orjson.dumps(to_clerk_dict(message), option=orjson.OPT_INDENT_2).decode()


def _drift(event: Event) -> list[str]:
    """The untyped fields of the raw body, found by converting it again."""
    try:
        return sorted(set(convert(parse_body(event.raw_body), event.raw_body, event.id).drift))
    except (InvalidJson, InvalidEnvelope):
        return []


@dataclass(frozen=True, slots=True)
class EntityView:
    """Everything the entity page shows.

    Attributes:
        kind: The kind asked for ("any": no state, only the history).
        id: Clerk's id.
        record: The mirror's record; None when never seen (or `kind` is "any").
        state_json: The record's state as indented JSON; "" without a record.
        history: A page of the events about it, in order.
        rows: That page's events as log lines.
    """

    kind: str
    id: str
    record: EntityRecord | None
    state_json: str
    history: HistoryResult
    rows: list[EventRow]


async def entity_view(store: Store, kind: str, entity_id: str, page_token: str) -> EntityView:
    """The mirror's state of an entity, and a page of its history (every event about it).

    Raises:
        BadQuery: The kind is unknown.
        ServiceError: The id or page token is malformed.
    """
    if kind != "any" and kind not in KIND_BY_NAME:
        raise BadQuery(f"unknown kind {kind!r}")
    record, state_json = None, ""
    if kind != "any":
        record, _ = await store.get_entity(kind, entity_id)
        if record is not None:
            state = KIND_BY_NAME[kind].state.FromString(record.state)
            state_json = _indented(state)
    page = await history(store, entity_id, "", 200, page_token)
    return EntityView(kind, entity_id, record, state_json, page, [row_of(s) for s in page.events])
