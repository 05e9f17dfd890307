"""The catalog of Clerk webhook event types and their `Event.payload` cases.

Clerk names events `<resource>.<action>` with camelCase parts
(`organizationMembership.created`, `subscriptionItem.freeTrialEnding`). The
`Event.payload` oneof has one case per type, named in snake_case
(`organization_membership_created`). Types not listed here are still valid
events: they are stored and broadcast with their raw body and no payload.
"""

from __future__ import annotations

import re

__all__ = [
    "EVENT_TYPES",
    "LEGACY_EVENT_TYPES",
    "case_name",
    "payload_case",
]

EVENT_TYPES: tuple[str, ...] = (
    "email.created",
    "organization.created",
    "organization.deleted",
    "organization.updated",
    "organizationDomain.created",
    "organizationDomain.deleted",
    "organizationDomain.updated",
    "organizationInvitation.accepted",
    "organizationInvitation.created",
    "organizationInvitation.revoked",
    "organizationMembership.created",
    "organizationMembership.deleted",
    "organizationMembership.updated",
    "paymentAttempt.created",
    "paymentAttempt.updated",
    "permission.created",
    "permission.deleted",
    "permission.updated",
    "role.created",
    "role.deleted",
    "role.updated",
    "session.created",
    "session.ended",
    "session.pending",
    "session.removed",
    "session.revoked",
    "sms.created",
    "subscription.active",
    "subscription.created",
    "subscription.pastDue",
    "subscription.updated",
    "subscriptionItem.abandoned",
    "subscriptionItem.active",
    "subscriptionItem.canceled",
    "subscriptionItem.created",
    "subscriptionItem.ended",
    "subscriptionItem.freeTrialEnding",
    "subscriptionItem.incomplete",
    "subscriptionItem.pastDue",
    "subscriptionItem.upcoming",
    "subscriptionItem.updated",
    "user.created",
    "user.deleted",
    "user.updated",
    "waitlistEntry.created",
    "waitlistEntry.updated",
)
"""Every event type Clerk documents (46), as Clerk spells them."""

LEGACY_EVENT_TYPES: dict[str, str] = {
    "subscription.past_due": "subscription.pastDue",
    "subscriptionItem.past_due": "subscriptionItem.pastDue",
}
"""Spellings Clerk used before September 2025, mapped to today's type."""

_UPPER = re.compile(r"[A-Z]")


def case_name(event_type: str) -> str:
    """Returns the snake_case oneof case name for a camelCase event type.

    Args:
        event_type: A type from `EVENT_TYPES`, e.g. `subscriptionItem.freeTrialEnding`.

    Returns:
        The case name, e.g. `subscription_item_free_trial_ending`.
    """
    return _UPPER.sub(lambda m: "_" + m.group(0).lower(), event_type).replace(".", "_")


_CASES: dict[str, str] = {t: case_name(t) for t in EVENT_TYPES}
_CASES.update({old: _CASES[new] for old, new in LEGACY_EVENT_TYPES.items()})


def payload_case(event_type: str) -> str | None:
    """Returns the `Event.payload` case that holds events of this type.

    Args:
        event_type: Clerk's type string, verbatim.

    Returns:
        The oneof case name, or None for a type the contract does not know.
    """
    return _CASES.get(event_type)
