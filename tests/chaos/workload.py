"""The in-order history a chaos run delivers: realistic Clerk webhooks about a few entities.

Users, organizations, memberships and sessions are created, updated and
deleted in a plausible order, with emails and an event type clerk-relay does
not know mixed in. Every event happens one second after the previous one
(`timestamp` and `data.updated_at`), so the projection of the history is
unambiguous whatever order the webhooks arrive in.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from clerkrelay.cli.samples import sample
from tests.chaos.sender import Message
from tests.history import sample_envelope

__all__ = ["UNKNOWN_TYPE", "build_history"]

UNKNOWN_TYPE = "chaosProbe.observed"
"""A well-formed event type the contract does not know: accepted and stored raw."""

_START_MS = 1_700_000_000_000


@dataclass
class _World:
    """The entities alive so far, and a counter for fresh ids."""

    run: str
    users: list[str] = field(default_factory=list)
    organizations: list[str] = field(default_factory=list)
    memberships: list[tuple[str, str, str]] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    next_id: int = 0

    def fresh(self, prefix: str) -> str:
        self.next_id += 1
        return f"{prefix}_{self.run}_{self.next_id:05d}"


Operation = Callable[[_World, random.Random, int], tuple[str, dict[str, Any]]]


def _user_created(world: _World, rng: random.Random, at: int) -> tuple[str, dict[str, Any]]:
    user = world.fresh("user")
    world.users.append(user)
    return "user.created", sample_envelope("user.created", user, at, first_name=f"first-{at}")


def _user_updated(world: _World, rng: random.Random, at: int) -> tuple[str, dict[str, Any]]:
    user = rng.choice(world.users)
    return "user.updated", sample_envelope(
        "user.updated", user, at, first_name=f"renamed-{at}", public_metadata={"n": at}
    )


def _user_deleted(world: _World, rng: random.Random, at: int) -> tuple[str, dict[str, Any]]:
    user = world.users.pop(rng.randrange(len(world.users)))
    return "user.deleted", sample_envelope("user.deleted", user, at)


def _organization_created(world: _World, rng: random.Random, at: int) -> tuple[str, dict[str, Any]]:
    organization = world.fresh("org")
    world.organizations.append(organization)
    return "organization.created", sample_envelope(
        "organization.created", organization, at, name=f"org-{at}"
    )


def _organization_updated(world: _World, rng: random.Random, at: int) -> tuple[str, dict[str, Any]]:
    organization = rng.choice(world.organizations)
    return "organization.updated", sample_envelope(
        "organization.updated", organization, at, name=f"org-renamed-{at}"
    )


def _organization_deleted(world: _World, rng: random.Random, at: int) -> tuple[str, dict[str, Any]]:
    organization = world.organizations.pop(rng.randrange(len(world.organizations)))
    return "organization.deleted", sample_envelope("organization.deleted", organization, at)


def _membership(
    event_type: str, membership: str, organization: str, user: str, at: int, role: str
) -> dict[str, Any]:
    base = sample(event_type)["data"]
    return sample_envelope(
        event_type,
        membership,
        at,
        organization=dict(base["organization"], id=organization),
        public_user_data=dict(base["public_user_data"], user_id=user),
        role=role,
    )


def _membership_created(world: _World, rng: random.Random, at: int) -> tuple[str, dict[str, Any]]:
    membership = world.fresh("orgmem")
    organization, user = rng.choice(world.organizations), rng.choice(world.users)
    world.memberships.append((membership, organization, user))
    event_type = "organizationMembership.created"
    return event_type, _membership(event_type, membership, organization, user, at, "org:member")


def _membership_updated(world: _World, rng: random.Random, at: int) -> tuple[str, dict[str, Any]]:
    membership, organization, user = rng.choice(world.memberships)
    role = rng.choice(["org:admin", "org:member", "org:billing"])
    event_type = "organizationMembership.updated"
    return event_type, _membership(event_type, membership, organization, user, at, role)


def _membership_deleted(world: _World, rng: random.Random, at: int) -> tuple[str, dict[str, Any]]:
    membership, organization, user = world.memberships.pop(rng.randrange(len(world.memberships)))
    event_type = "organizationMembership.deleted"
    return event_type, _membership(event_type, membership, organization, user, at, "org:member")


def _session_created(world: _World, rng: random.Random, at: int) -> tuple[str, dict[str, Any]]:
    session = world.fresh("sess")
    world.sessions.append(session)
    return "session.created", sample_envelope(
        "session.created", session, at, user_id=rng.choice(world.users), status="active"
    )


def _session_ended(world: _World, rng: random.Random, at: int) -> tuple[str, dict[str, Any]]:
    session = world.sessions.pop(rng.randrange(len(world.sessions)))
    return "session.ended", sample_envelope("session.ended", session, at, status="ended")


def _email_created(world: _World, rng: random.Random, at: int) -> tuple[str, dict[str, Any]]:
    return "email.created", sample_envelope("email.created", world.fresh("ema"), at)


def _unknown(world: _World, rng: random.Random, at: int) -> tuple[str, dict[str, Any]]:
    env = {
        "object": "event",
        "type": UNKNOWN_TYPE,
        "timestamp": at,
        "data": {"id": world.fresh("probe"), "novel_field": {"at": at}},
    }
    return UNKNOWN_TYPE, env


def _choices(world: _World) -> list[tuple[Operation, float]]:
    """The operations possible in this state of the world, with their weights."""
    users, organizations = len(world.users), len(world.organizations)
    options: list[tuple[Operation, float]] = [
        (_user_created, 3.0 if users < 40 else 0.5),
        (_organization_created, 1.0 if organizations < 10 else 0.1),
        (_email_created, 0.6),
        (_unknown, 0.3),
    ]
    if users:
        options += [(_user_updated, 4.0), (_session_created, 1.5)]
    if users > 3:
        options.append((_user_deleted, 0.5))
    if organizations:
        options.append((_organization_updated, 1.5))
    if organizations > 2:
        options.append((_organization_deleted, 0.3))
    if users and organizations:
        options.append((_membership_created, 1.5))
    if world.memberships:
        options += [(_membership_updated, 1.0), (_membership_deleted, 0.4)]
    if world.sessions:
        options.append((_session_ended, 1.0))
    return options


def build_history(count: int, rng: random.Random, run: str) -> list[Message]:
    """`count` webhooks in the order they happened.

    Args:
        count: How many webhooks.
        rng: The source of every random choice.
        run: A short tag that makes this run's webhook and entity ids unique.
    """
    world = _World(run)
    messages: list[Message] = []
    for position in range(count):
        at = _START_MS + position * 1000
        options = _choices(world)
        operation = rng.choices([op for op, _ in options], [w for _, w in options])[0]
        event_type, env = operation(world, rng, at)
        body = orjson.dumps(env)
        messages.append(Message(f"msg_chaos_{run}_{position:06d}", event_type, body))
    return messages
