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
    """The message as Clerk's JSON, free-form fields parsed back under Clerk's keys.

    The protobuf JSON mapping under proto field names (which are Clerk's
    keys), with every `…_json` field parsed back under Clerk's key. 64-bit
    integer fields stay strings, as the protobuf JSON mapping requires.
    """
    document = json_format.MessageToDict(message, preserving_proto_field_name=True)
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment] # upb's is the same
    return _restore(descriptor, document)


def _restore(descriptor: Descriptor, document: dict[str, Any]) -> dict[str, Any]:
    restored: dict[str, Any] = {}
    for key, value in document.items():
        field = descriptor.fields_by_name.get(key)
        if field is None:
            restored[key] = value
        elif is_json_text(field):
            restored[key.removesuffix(JSON_SUFFIX)] = json.loads(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
            # Well-known types (Timestamp, ...) map to strings and hold no JSON text.
            nested = field.message_type
            if isinstance(value, list):
                restored[key] = [_restore(nested, i) if isinstance(i, dict) else i for i in value]
            elif isinstance(value, dict):
                restored[key] = _restore(nested, value)
            else:
                restored[key] = value
        else:
            restored[key] = value
    return restored
