"""Clerk's own example payload for every event type (from Clerk's webhook OpenAPI spec)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["sample", "sample_types"]


def sample_types() -> list[str]:
    """Every event type with a bundled example, sorted."""
    files = resources.files(__name__).iterdir()
    return sorted(f.name.removesuffix(".json") for f in files if f.name.endswith(".json"))


def sample(event_type: str) -> dict[str, Any]:
    """Clerk's example envelope for an event type.

    Raises:
        KeyError: No example is bundled for that type.
    """
    path = resources.files(__name__).joinpath(f"{event_type}.json")
    if not path.is_file():
        raise KeyError(event_type)
    envelope: dict[str, Any] = json.loads(path.read_text())
    return envelope
