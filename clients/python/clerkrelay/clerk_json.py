"""Typed messages back into the JSON shape Clerk sent.

Free-form JSON (metadata, `actor`, a message's template `data`, ...) travels
as JSON text in a string field named after Clerk's key plus `_json`
(`public_metadata_json`), so that its numbers keep their exact value in every
language: a `google.protobuf.Struct` would hold them as doubles. `to_clerk_dict`
turns a message into a dict under Clerk's keys, with that text parsed back
(integers of any size stay integers).
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

__all__ = ["JSON_SUFFIX", "is_json_text", "to_clerk_dict"]

JSON_SUFFIX = "_json"
"""The suffix of a string field that holds free-form JSON as text."""


def is_json_text(field: FieldDescriptor) -> bool:
    """Whether a field holds free-form JSON as text (a `string` named `…_json`)."""
    return field.type == FieldDescriptor.TYPE_STRING and field.name.endswith(JSON_SUFFIX)


def to_clerk_dict(message: Message) -> dict[str, Any]:
    """The message under Clerk's keys, with Clerk's value types.

    The protobuf JSON mapping under proto field names (which are Clerk's
    keys), then put back into Clerk's types:

    - every `…_json` field is parsed back under Clerk's key (integers of any
      size stay integers);
    - 64-bit integers are numbers again (the protobuf JSON mapping writes
      them as strings).

    What protobuf cannot tell apart stays apart from Clerk's JSON: a key that
    Clerk sent as `null`, `[]`, `""`, `0` or `false` is absent here (an unset
    `optional` field and a field at its default are not written), and keys
    the contract does not declare (drift) are not in the message at all. The
    event's `raw_body` is Clerk's JSON byte for byte.
    """
    document = json_format.MessageToDict(message, preserving_proto_field_name=True)
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment] # upb's is the same
    return _restore(descriptor, document)


_INT64 = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)


def _restore(descriptor: Descriptor, document: dict[str, Any]) -> dict[str, Any]:
    restored: dict[str, Any] = {}
    for field in descriptor.fields:
        key = field.name.removesuffix(JSON_SUFFIX) if is_json_text(field) else field.name
        if field.name not in document:
            continue
        value = document[field.name]
        if is_json_text(field):
            restored[key] = json.loads(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
            restored[key] = _nested(field.message_type, value)
        elif field.type in _INT64:
            restored[key] = [int(v) for v in value] if isinstance(value, list) else int(value)
        else:
            restored[key] = value
    return restored


def _nested(descriptor: Descriptor, value: Any) -> Any:
    # Well-known types (Timestamp, ...) map to strings and hold no JSON text.
    if isinstance(value, list):
        return [_restore(descriptor, i) if isinstance(i, dict) else i for i in value]
    if isinstance(value, dict):
        return _restore(descriptor, value)
    return value
