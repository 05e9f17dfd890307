"""Verified webhook body → `clerkrelay.v1.Event`, fast and lossless.

`json_format.ParseDict` walks every field by reflection and costs ~350 µs for a
typical user. Instead, for each message type of the contract this module
writes a small Python function at import time, straight from the message
descriptor, that assigns every field the contract knows with plain attribute
access (`msg.first_name = value`): the speed of hand-written code, with nothing
to keep in sync by hand.

Conversion never raises on a JSON object. A key the contract does not type, or
a value of the wrong JSON type or out of its field's range, is skipped and
reported as drift (the body is kept verbatim in `raw_body`, so nothing is
lost). Free-form JSON (metadata, `actor`, ...) goes into `*_json` string fields
as JSON text, so its numbers keep their exact value. Where no safe typed view
can be built (free-form JSON nested too deeply, or a typed event over
`MAX_EVENT_BYTES`), the payload is left out and `Event.payload_omission` says
why: every stored event stays decodable by every reader with default limits.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from clerkrelay.catalog import payload_case
from clerkrelay.clerk_json import JSON_SUFFIX, is_json_text
from clerkrelay.limits import MAX_EVENT_BYTES
from clerkrelay.v1.event_pb2 import Event, PayloadOmission
from gateway.json_text import TooDeep, json_text

__all__ = ["Conversion", "InvalidEnvelope", "convert"]

JsonObject = dict[str, Any]
Filler = Callable[[Any, JsonObject, list[str]], None]

_ENVELOPE_KEYS = frozenset(
    {"data", "object", "type", "timestamp", "instance_id", "event_attributes"}
)


class InvalidEnvelope(ValueError):
    """The body is JSON but not a Clerk event envelope (no object, no type)."""


class Conversion(NamedTuple):
    """An event and what of the body the contract could not type (a named tuple: one per webhook).

    Attributes:
        event: The typed event; `sequence` is 0 until the store assigns one.
        drift: `Message.key` for every key that was skipped: untyped, or of a
            JSON type the contract does not accept there.
    """

    event: Event
    drift: list[str]


class _Kind(enum.Enum):
    """How a field is filled from JSON."""

    SCALAR = "scalar"
    BOOL = "bool (a JSON number would be coerced silently)"
    SCALARS = "repeated scalar"
    MESSAGE = "message"
    MESSAGES = "repeated message"
    JSON = "free-form JSON as text"


def _kind(field: FieldDescriptor) -> _Kind:
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        if is_json_text(field):
            return _Kind.JSON
        if field.is_repeated:
            return _Kind.SCALARS
        return _Kind.BOOL if field.type == FieldDescriptor.TYPE_BOOL else _Kind.SCALAR
    return _Kind.MESSAGES if field.is_repeated else _Kind.MESSAGE


def _json_key(field: FieldDescriptor) -> str:
    """The JSON key a field is filled from: `public_metadata` for `public_metadata_json`."""
    if _kind(field) is _Kind.JSON:
        return field.name.removesuffix(JSON_SUFFIX)
    return field.name


def _nested(field: FieldDescriptor) -> Descriptor:
    assert field.message_type is not None, field.full_name
    return field.message_type


# The body of the generated code for each kind of field, given `v` (not None).
_FAST_BODY: dict[_Kind, str] = {
    _Kind.SCALAR: "        m.{key} = v",
    _Kind.BOOL: "        if v.__class__ is not bool: _wrong_type()\n        m.{key} = v",
    _Kind.SCALARS: ("        if v.__class__ is not list: _wrong_type()\n        m.{key}.extend(v)"),
    _Kind.MESSAGE: (
        "        if v.__class__ is not dict: _wrong_type()\n"
        "        {sub}(m.{key}, v, drift) if v else m.{key}.SetInParent()"
    ),
    _Kind.MESSAGES: (
        "        if v.__class__ is not list: _wrong_type()\n"
        "        add = m.{key}.add\n"
        "        for x in v: {sub}(add(), x, drift)"
    ),
    _Kind.JSON: "        m.{key} = json_text(v)",
}


class _Compiler:
    """Writes one fast filler and one careful filler per message type."""

    def __init__(self) -> None:
        self.fast: dict[str, Filler] = {}
        self.careful: dict[str, Filler] = {}
        self._namespace: dict[str, Any] = {"_wrong_type": _wrong_type, "json_text": json_text}

    def filler(self, descriptor: Descriptor) -> Filler:
        """The fast filler of a message type, compiled on first use."""
        name = descriptor.full_name
        if name not in self.fast:
            self.fast[name] = self.careful[name] = _unreachable  # breaks recursion
            for field in descriptor.fields:
                if _kind(field) in (_Kind.MESSAGE, _Kind.MESSAGES):
                    self.filler(_nested(field))
            self.fast[name] = self._compile_fast(descriptor)
            self.careful[name] = self._careful(descriptor)
        return self.fast[name]

    def _compile_fast(self, descriptor: Descriptor) -> Filler:
        """Straight-line assignments; raises on any value of the wrong type."""
        ident = descriptor.full_name.replace(".", "_")
        known = f"_known_{ident}"
        self._namespace[known] = frozenset(_json_key(f) for f in descriptor.fields)
        lines = [f"def fill_{ident}(m, d, drift):", "    get = d.get"]
        for field in descriptor.fields:
            kind = _kind(field)
            sub = self._ref(_nested(field)) if kind in (_Kind.MESSAGE, _Kind.MESSAGES) else ""
            lines.append(f"    v = get({_json_key(field)!r})")
            lines.append("    if v is not None:")
            lines.append(_FAST_BODY[kind].format(key=field.name, sub=sub))
        lines.append(f"    if not {known}.issuperset(d):")
        lines.append(
            f"        drift.extend({descriptor.name!r} + '.' + k for k in d if k not in {known})"
        )
        namespace = self._namespace
        exec(compile("\n".join(lines), f"<convert {descriptor.full_name}>", "exec"), namespace)
        filler: Filler = namespace[f"fill_{ident}"]
        return filler

    def _ref(self, descriptor: Descriptor) -> str:
        """A name bound to the fast filler of a nested message."""
        ident = "_f_" + descriptor.full_name.replace(".", "_")
        compiled = self.fast[descriptor.full_name]
        # A message nested in itself is still being compiled: look it up late.
        self._namespace[ident] = (
            _Late(self.fast, descriptor.full_name) if compiled is _unreachable else compiled
        )
        return ident

    def _careful(self, descriptor: Descriptor) -> Filler:
        """Field by field, skipping (and reporting) values of the wrong type."""
        fields = {_json_key(f): f for f in descriptor.fields}
        careful = self.careful

        def fill(m: Any, d: JsonObject, drift: list[str]) -> None:
            for key, value in d.items():
                field = fields.get(key)
                if field is None:
                    drift.append(f"{descriptor.name}.{key}")
                elif value is not None and not _assign(m, field, value, drift, careful):
                    m.ClearField(field.name)
                    drift.append(f"{descriptor.name}.{key}")

        return fill


class _Late:
    """Calls a filler looked up when first used (messages may nest recursively)."""

    __slots__ = ("_fillers", "_name", "_target")

    def __init__(self, fillers: dict[str, Filler], name: str) -> None:
        self._fillers = fillers
        self._name = name
        self._target: Filler | None = None

    def __call__(self, m: Any, d: JsonObject, drift: list[str]) -> None:
        if self._target is None:
            self._target = self._fillers[self._name]
        self._target(m, d, drift)


def _unreachable(m: Any, d: JsonObject, drift: list[str]) -> None:
    raise AssertionError("filler used before it was compiled")


def _wrong_type() -> None:
    raise TypeError("JSON value of the wrong type")


def _assign(
    m: Any, field: FieldDescriptor, value: Any, drift: list[str], careful: dict[str, Filler]
) -> bool:
    """Assigns one JSON value; False when its JSON type does not fit the field."""
    kind = _kind(field)
    scalar = kind in (_Kind.SCALAR, _Kind.BOOL, _Kind.JSON)
    target: Any = None if scalar else getattr(m, field.name)
    try:
        if kind is _Kind.BOOL and value.__class__ is not bool:
            return False  # protobuf would take 2 for true
        if kind in (_Kind.SCALAR, _Kind.BOOL):
            setattr(m, field.name, value)
        elif kind is _Kind.JSON:
            setattr(m, field.name, json_text(value))
        elif kind is _Kind.SCALARS:
            if not isinstance(value, list):
                return False
            target.extend(value)
        elif kind is _Kind.MESSAGE:
            if not isinstance(value, dict):
                return False
            target.SetInParent()
            careful[_nested(field).full_name](target, value, drift)
        else:
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                return False
            fill = careful[_nested(field).full_name]
            for item in value:
                fill(target.add(), item, drift)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


_COMPILER = _Compiler()
_EVENT = Event.DESCRIPTOR
_PAYLOAD_FILLERS: dict[str, tuple[Filler, Filler]] = {}
for _case in _EVENT.oneofs_by_name["payload"].fields:
    _PAYLOAD_FILLERS[_case.name] = (
        _COMPILER.filler(_nested(_case)),
        _COMPILER.careful[_nested(_case).full_name],
    )
_ENVELOPE_SCALARS: tuple[tuple[str, type], ...] = (
    ("object", str),
    ("timestamp", int),
    ("instance_id", str),
)


def convert(
    envelope: JsonObject,
    body: bytes,
    webhook_id: str,
    receive_time_ns: int | None = None,
    max_event_bytes: int = MAX_EVENT_BYTES,
) -> Conversion:
    """Builds the typed `Event` for one verified webhook.

    Args:
        envelope: The body parsed as JSON (`gateway.json_text.parse_body`).
        body: The exact body bytes that were verified; kept in `raw_body`.
        webhook_id: The `svix-id` header; becomes `Event.id`.
        receive_time_ns: When the webhook arrived (ns since the epoch); now if None.
        max_event_bytes: Largest encoded event with its typed payload; past it
            the payload is left out (`PAYLOAD_OMISSION_TOO_LARGE`).

    Returns:
        The event and the drift found while typing it.

    Raises:
        InvalidEnvelope: The body is not a JSON object with a string `type`.
    """
    if not isinstance(envelope, dict):
        raise InvalidEnvelope("body is not a JSON object")
    event_type = envelope.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidEnvelope("body has no event type")

    event = Event(id=webhook_id, type=event_type, raw_body=body)
    event.receive_time.FromNanoseconds(
        time.time_ns() if receive_time_ns is None else receive_time_ns
    )
    drift: list[str] = []
    for key, kind in _ENVELOPE_SCALARS:
        value = envelope.get(key)
        if value is None:
            continue
        if isinstance(value, kind) and not isinstance(value, bool):
            try:
                setattr(event, key, value)
                continue
            except ValueError:  # a number out of the field's range
                pass
        drift.append(f"Event.{key}")
    _fill_attributes(event, envelope.get("event_attributes"), drift)
    if not _ENVELOPE_KEYS.issuperset(envelope):
        drift.extend(f"Event.{k}" for k in envelope if k not in _ENVELOPE_KEYS)

    case = payload_case(event_type)
    data = envelope.get("data")
    if case is not None:
        if isinstance(data, dict):
            _fill_payload(event, case, data, drift, max_event_bytes)
        else:
            event.payload_omission = PayloadOmission.PAYLOAD_OMISSION_DATA_NOT_OBJECT
            drift.append("Event.data")
    return Conversion(event, drift)


def _fill_payload(
    event: Event, case: str, data: JsonObject, drift: list[str], max_event_bytes: int
) -> None:
    fast, careful = _PAYLOAD_FILLERS[case]
    payload: Message = getattr(event, case)
    payload.SetInParent()
    mark = len(drift)
    try:
        try:
            fast(payload, data, drift)
        except (TypeError, ValueError, AttributeError):
            # A value of the wrong JSON type somewhere: start over, field by field.
            del drift[mark:]
            payload.Clear()
            payload.SetInParent()
            careful(payload, data, drift)
    except TooDeep:
        _omit(event, PayloadOmission.PAYLOAD_OMISSION_TOO_DEEP, drift, mark)
        return
    if event.ByteSize() > max_event_bytes:
        _omit(event, PayloadOmission.PAYLOAD_OMISSION_TOO_LARGE, drift, mark)


def _omit(event: Event, why: PayloadOmission.ValueType, drift: list[str], mark: int) -> None:
    """Leaves the payload out; its drift goes too (the whole `data` is untyped now)."""
    event.ClearField("payload")
    event.payload_omission = why
    del drift[mark:]
    drift.append("Event.data")


def _fill_attributes(event: Event, attributes: object, drift: list[str]) -> None:
    if attributes is None:
        return
    if not isinstance(attributes, dict):
        drift.append("Event.event_attributes")
        return
    for key in attributes:
        if key != "http_request":
            drift.append(f"EventAttributes.{key}")
    request = attributes.get("http_request")
    if request is None:
        event.event_attributes.SetInParent()
        return
    if not isinstance(request, dict):
        drift.append("EventAttributes.http_request")
        return
    target = event.event_attributes.http_request
    target.SetInParent()
    for key, value in request.items():
        if key in ("client_ip", "user_agent") and isinstance(value, str):
            setattr(target, key, value)
        elif value is not None:
            drift.append(f"HttpRequest.{key}")
