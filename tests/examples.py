"""Clerk's example webhook payloads (copied from Clerk's spec and docs into tests/fixtures)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = FIXTURES / "examples"
OPENAPI = FIXTURES / "openapi" / "webhooks-openapi-2025-04-15.yml"


@dataclass(frozen=True)
class Example:
    """One saved payload: its file name, exact bytes and parsed JSON."""

    name: str
    body: bytes
    envelope: dict[str, Any]

    @property
    def type(self) -> str:
        event_type = self.envelope["type"]
        assert isinstance(event_type, str)
        return event_type


def load_examples() -> list[Example]:
    """Every example payload, sorted by file name."""
    examples = []
    for path in sorted(EXAMPLES.glob("*.json")):
        body = path.read_bytes()
        examples.append(Example(path.name, body, json.loads(body)))
    return examples


def example(event_type: str) -> Example:
    """The Clerk OpenAPI spec's example of an event type."""
    for candidate in load_examples():
        if candidate.type == event_type and "clerk-openapi-specs" in candidate.name:
            return candidate
    raise KeyError(event_type)
