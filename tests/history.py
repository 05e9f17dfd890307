"""Builders of realistic Clerk events for store and service tests.

Events are made from Clerk's own example payloads, with ids, timestamps and
`updated_at` replaced, and converted by the real converter.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import orjson

from clerkrelay.cli.samples import sample
from clerkrelay.v1.event_pb2 import Event
from gateway.convert import convert

_webhook_ids = itertools.count(1)


def sample_envelope(event_type: str, entity_id: str, at: int, **data: Any) -> dict[str, Any]:
    """Clerk's example of `event_type` about `entity_id`, happening at `at` (ms)."""
    env = copy.deepcopy(sample(event_type))
    env["timestamp"] = at
    env["data"]["id"] = entity_id
    if "updated_at" in env["data"]:
        env["data"]["updated_at"] = at
    env["data"].update(data)
    return env


def envelope(
    event_type: str, entity_id: str, at: int, webhook_id: str | None = None, **data: Any
) -> tuple[dict[str, Any], str]:
    """`sample_envelope`, and a webhook id for it (a fresh one unless given)."""
    env = sample_envelope(event_type, entity_id, at, **data)
    return env, webhook_id or f"msg_{next(_webhook_ids):08d}"


def event(
    event_type: str,
    entity_id: str,
    at: int = 1_700_000_000_000,
    webhook_id: str | None = None,
    **data: Any,
) -> Event:
    """A converted `Event` (see `envelope`)."""
    env, wid = envelope(event_type, entity_id, at, webhook_id, **data)
    body = orjson.dumps(env)
    return convert(env, body, wid).event


def membership(
    event_type: str,
    membership_id: str,
    organization_id: str,
    user_id: str,
    at: int,
    webhook_id: str | None = None,
    role: str = "org:member",
) -> Event:
    """An `organizationMembership.*` event linking a user to an organization."""
    base = sample(event_type)["data"]
    organization = dict(base["organization"], id=organization_id)
    public_user_data = dict(base["public_user_data"], user_id=user_id)
    return event(
        event_type,
        membership_id,
        at,
        webhook_id,
        organization=organization,
        public_user_data=public_user_data,
        role=role,
    )


def copy_event(original: Event) -> Event:
    """A fresh copy (the store sets `sequence` and `stale` on what it appends)."""
    clone = Event()
    clone.CopyFrom(original)
    clone.sequence = 0
    clone.stale = False
    return clone
