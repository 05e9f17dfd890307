"""Events and state records as the command line prints them: one line of text, or JSON.

JSON follows the protobuf JSON mapping (`json_format.MessageToDict` with the
proto field names, which are Clerk's JSON keys; free-form `…_json` text is
parsed back under Clerk's key, `clerkrelay.clerk_json`), except for the fields
that are ours: `sequence`, `timestamp` and `event_sequence` are numbers, `stale`
and `deleted` are always present, and an event's `raw_body` is the original
JSON object Clerk sent (not base64), so nothing typed away is lost. Inside
`payload`, 64-bit integers are strings, as the mapping requires; `raw_body`
has them as Clerk sent them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from google.protobuf.message import Message

from clerkrelay import Event
from clerkrelay.clerk_json import to_clerk_dict

__all__ = ["event_json", "event_line", "record_json", "subject_id"]


def _time_text(event: Event) -> str:
    if event.HasField("timestamp"):
        moment = datetime.fromtimestamp(event.timestamp / 1000, tz=UTC)
    else:
        moment = event.receive_time.ToDatetime(tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _raw(event: Event) -> Any:
    try:
        return orjson.loads(event.raw_body)
    except orjson.JSONDecodeError:
        return event.raw_body.decode(errors="replace")


def subject_id(event: Event) -> str:
    """The id of what the event is about (`data.id`); "-" when it has none."""
    case = event.WhichOneof("payload")
    if case is not None:
        found = getattr(getattr(event, case), "id", "")
        if isinstance(found, str) and found:
            return found
    raw = _raw(event)
    data = raw.get("data") if isinstance(raw, dict) else None
    found = data.get("id") if isinstance(data, dict) else None
    return found if isinstance(found, str) and found else "-"


def event_line(event: Event) -> str:
    """`<time>  #<sequence>  <type>  <subject id>`: when it happened (else when received)."""
    stale = "  (stale)" if event.stale else ""
    return f"{_time_text(event)}  #{event.sequence:<6} {event.type:<34} {subject_id(event)}{stale}"


def event_json(event: Event) -> bytes:
    """One compact JSON object (no newline): envelope fields, `payload`, `raw_body`."""
    mapped = to_clerk_dict(event)
    case = event.WhichOneof("payload")
    payload = mapped.pop(case, None) if case is not None else None
    mapped.pop("raw_body", None)
    for ours in ("sequence", "id", "type", "timestamp", "stale"):
        mapped.pop(ours, None)
    document: dict[str, Any] = {
        "sequence": event.sequence,
        "id": event.id,
        "type": event.type,
        "timestamp": event.timestamp if event.HasField("timestamp") else None,
        **mapped,
        "stale": event.stale,
        "payload": payload,
        "raw_body": _raw(event),
    }
    return orjson.dumps(document)


def record_json(record: Message, *, indent: bool = False) -> bytes:
    """A `<Kind>Record` as JSON: `{<kind>: {…}, "deleted": …, "event_sequence": …}`."""
    document: dict[str, Any] = {}
    for field, value in record.ListFields():
        if isinstance(value, Message):
            document[field.name] = to_clerk_dict(value)
    document["deleted"] = bool(getattr(record, "deleted"))  # noqa: B009 - any record kind
    document["event_sequence"] = int(getattr(record, "event_sequence"))  # noqa: B009
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 if indent else 0)
