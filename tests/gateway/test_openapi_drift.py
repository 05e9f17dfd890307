"""Drift guard: every property of Clerk's webhook OpenAPI spec has a field in the contract.

When Clerk publishes a new spec, drop it into tests/fixtures/openapi/ (and
point OPENAPI at it): this test then lists exactly what the contract lacks.
"""

from __future__ import annotations

from typing import Any

import yaml
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from clerkrelay.catalog import EVENT_TYPES, payload_case
from clerkrelay.v1.event_pb2 import Event
from tests.examples import OPENAPI

# Properties the contract deliberately does not type, each with its reason.
ALLOWLIST: dict[str, str] = {}

Schema = dict[str, Any]


class _Spec:
    def __init__(self, document: dict[str, Any]) -> None:
        self.schemas: dict[str, Schema] = document["components"]["schemas"]
        self.webhooks: dict[str, Any] = document["x-webhooks"]

    def resolve(self, schema: Schema) -> Schema:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def variants(self, schema: Schema) -> list[Schema]:
        """The object shapes a schema may take (allOf merged, oneOf/anyOf each)."""
        schema = self.resolve(schema)
        if "allOf" in schema:
            merged: Schema = {"properties": {}}
            for part in schema["allOf"]:
                for variant in self.variants(part):
                    merged["properties"].update(variant.get("properties", {}))
            return [merged]
        alternatives = schema.get("oneOf") or schema.get("anyOf")
        if alternatives:
            return [v for alt in alternatives for v in self.variants(alt)]
        return [schema]

    def data_schema(self, event_type: str) -> Schema:
        body = self.webhooks[event_type]["post"]["requestBody"]["content"]["application/json"]
        envelope = self.variants(body["schema"])[0]
        data: Schema = envelope["properties"]["data"]
        return data


def _missing(spec: _Spec, schema: Schema, message: Descriptor, path: str) -> set[str]:
    """Property paths under `schema` that `message` has no field for."""
    missing: set[str] = set()
    for variant in spec.variants(schema):
        for name, prop in variant.get("properties", {}).items():
            where = f"{path}.{name}"
            # Free-form JSON is typed as JSON text, under Clerk's key plus `_json`.
            field = message.fields_by_name.get(name) or message.fields_by_name.get(name + "_json")
            if field is None:
                missing.add(where)
                continue
            if field.type != FieldDescriptor.TYPE_MESSAGE:
                continue
            prop = spec.resolve(prop)
            items = prop.get("items") if prop.get("type") == "array" else None
            assert field.message_type is not None
            missing |= _missing(spec, items or prop, field.message_type, where)
    return missing


def test_every_spec_property_has_a_field() -> None:
    spec = _Spec(yaml.safe_load(OPENAPI.read_text()))
    missing: set[str] = set()
    for event_type in spec.webhooks:
        case = payload_case(event_type)
        assert case is not None, f"the spec has a type the catalog lacks: {event_type}"
        message = Event.DESCRIPTOR.fields_by_name[case].message_type
        assert message is not None
        missing |= _missing(spec, spec.data_schema(event_type), message, event_type)
    assert missing - set(ALLOWLIST) == set()


def test_spec_types_are_all_in_the_catalog() -> None:
    spec = _Spec(yaml.safe_load(OPENAPI.read_text()))
    # subscriptionItem.created was removed from the spec in 2026-08; the SDK still lists it.
    assert set(spec.webhooks) == set(EVENT_TYPES) - {"subscriptionItem.created"}


def test_the_guard_can_fail() -> None:
    spec = _Spec(yaml.safe_load(OPENAPI.read_text()))
    schema = {"properties": {"id": {"type": "string"}, "novel_field": {"type": "string"}}}
    user = Event.DESCRIPTOR.fields_by_name["user_created"].message_type
    assert user is not None
    assert _missing(spec, schema, user, "user.created") == {"user.created.novel_field"}
