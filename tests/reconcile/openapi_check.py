"""A small validator of JSON bodies and query strings against Clerk's Backend API spec.

The spec is OpenAPI 3.0.3 (`tests/fixtures/openapi/bapi-2026-05-12.yml`, a
copy of clerk/openapi-specs `bapi/2026-05-12.yml`). This walks its schemas
directly: `$ref`, `allOf`/`oneOf`/`anyOf`, `nullable`, `type`, `enum`,
`required`, `properties`, `items`, `minimum`/`maximum`. It is stricter than
OpenAPI in one way, on purpose: an object may carry only the properties its
schema declares unless the schema says `additionalProperties: true` (or gives
a schema for them), so that the double cannot grow fields Clerk's API lacks.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["BAPI_SPEC", "Spec", "load_spec"]

BAPI_SPEC = Path(__file__).parent.parent / "fixtures" / "openapi" / "bapi-2026-05-12.yml"

Schema = Mapping[str, Any]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


class Spec:
    """One OpenAPI document, with the look-ups the tests need.

    Args:
        document: The parsed YAML.
    """

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._paths: Mapping[str, Any] = document["paths"]
        self._components: Mapping[str, Any] = document["components"]

    def resolve(self, node: Schema) -> Schema:
        """`node` with `$ref`s followed (schemas, responses, parameters)."""
        while "$ref" in node:
            _, section, name = node["$ref"].removeprefix("#/").split("/", 2)
            node = self._components[section][name]
        return node

    def operation(self, path: str, method: str = "get") -> Schema:
        """The operation object of `method path` (KeyError when the spec lacks it)."""
        op: Schema = self._paths[path][method]
        return op

    def response_schema(self, path: str, status: int, method: str = "get") -> Schema:
        """The JSON schema of the answer `status` to `method path`.

        A status the operation does not declare (429, 503, ...) gets the
        `ClerkErrors` schema, Clerk's body for every error.
        """
        responses = self.operation(path, method)["responses"]
        response = responses.get(str(status))
        if response is None:
            return self.resolve({"$ref": "#/components/schemas/ClerkErrors"})
        content = self.resolve(response)["content"]["application/json"]
        return self.resolve(content["schema"])

    def errors(self, schema: Schema, value: Any, where: str = "$") -> list[str]:
        """What is wrong with `value` as an instance of `schema` (empty when valid)."""
        schema = self.resolve(schema)
        if value is None:
            if self._nullable(schema):
                return []
            return [f"{where}: null where the schema does not allow it"]
        for key in ("oneOf", "anyOf"):
            if key in schema:
                found = [self.errors(alt, value, where) for alt in schema[key]]
                if any(not errors for errors in found):
                    return []
                return [f"{where}: matches none of {key}: {found}"]
        problems: list[str] = []
        kind = schema.get("type")
        if kind is None and ("properties" in schema or "allOf" in schema):
            kind = "object"
        if kind is not None:
            expected = _TYPES[kind]
            if not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool)):
                return [f"{where}: {type(value).__name__} where the schema says {kind}"]
        if "enum" in schema and value not in schema["enum"]:
            problems.append(f"{where}: {value!r} not in {schema['enum']}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                problems.append(f"{where}: {value} < minimum {schema['minimum']}")
            if "maximum" in schema and value > schema["maximum"]:
                problems.append(f"{where}: {value} > maximum {schema['maximum']}")
        if isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                problems += self.errors(schema["items"], item, f"{where}[{index}]")
        if isinstance(value, dict):
            problems += self._object_errors(schema, value, where)
        return problems

    def _nullable(self, schema: Schema) -> bool:
        if schema.get("nullable"):
            return True
        return any(self._nullable(self.resolve(part)) for part in schema.get("allOf", ()))

    def _merged(self, schema: Schema) -> tuple[dict[str, Schema], set[str], bool]:
        """An object schema's properties, required names and openness, allOf merged."""
        schema = self.resolve(schema)
        properties: dict[str, Schema] = dict(schema.get("properties", {}))
        required: set[str] = set(schema.get("required", ()))
        extra = schema.get("additionalProperties", False)
        is_open = extra is True or isinstance(extra, dict)
        for part in schema.get("allOf", ()):
            more, names, part_open = self._merged(part)
            properties.update(more)
            required |= names
            is_open = is_open or part_open
        if not properties and "allOf" not in schema:
            is_open = True  # a free-form object (`type: object` alone)
        return properties, required, is_open

    def _object_errors(self, schema: Schema, value: Mapping[str, Any], where: str) -> list[str]:
        properties, required, is_open = self._merged(schema)
        problems = [f"{where}: missing required {name!r}" for name in sorted(required - set(value))]
        for name, item in value.items():
            if name in properties:
                problems += self.errors(properties[name], item, f"{where}.{name}")
            elif not is_open:
                problems.append(f"{where}: property {name!r} is not in the spec")
        return problems

    def parameter_errors(self, path: str, query: Iterable[tuple[str, str]]) -> list[str]:
        """What is wrong with a query string sent to `GET path` (names, integer bounds, enums)."""
        declared = {
            parameter["name"]: parameter
            for parameter in map(self.resolve, self.operation(path).get("parameters", ()))
            if parameter["in"] == "query"
        }
        problems: list[str] = []
        for name, text in query:
            parameter = declared.get(name)
            if parameter is None:
                problems.append(f"{path}: query parameter {name!r} is not in the spec")
                continue
            schema = self.resolve(parameter["schema"])
            if schema.get("type") == "array":
                schema = self.resolve(schema["items"])
            value: Any = text
            if schema.get("type") == "integer":
                try:
                    value = int(text)
                except ValueError:
                    problems.append(f"{path}: {name}={text!r} is not an integer")
                    continue
            elif schema.get("type") == "boolean":
                if text not in ("true", "false"):
                    problems.append(f"{path}: {name}={text!r} is not a boolean")
                continue
            problems += self.errors(schema, value, f"{path}?{name}")
        return problems


@functools.cache
def load_spec(path: Path = BAPI_SPEC) -> Spec:
    """The spec at `path`, parsed once per test session."""
    return Spec(yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
