"""The registry of entity kinds: every kind the relay mirrors, each declared once.

A kind is what `StateService` serves a `Get<X>`/`List<Xs>` pair for. Its
entry says which events change it (their type family, `organizationMembership`
in `organizationMembership.created`), the message that holds its state, its
names (the store's and client's `organization_membership`, the command line's
`membership`), and its *links*: the ids of other entities its state points to
and where in the state they are. A link named by a `ListFilters` field narrows
that kind's List RPC, unless it is declared `listed=False`; a `user_id` link
also makes the user a subject of the kind's events.

Everything else reads this table: the store's facts and projection, the state
servicer (which checks it against the contract's requests when it loads), page
tokens, the SQL filter columns, the command line's kinds. The list filters are
the fields of `ListFilters`, declared once below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter

from google.protobuf.message import Message

from clerkrelay.v1.billing_pb2 import PaymentAttempt, Subscription, SubscriptionItem
from clerkrelay.v1.organizations_pb2 import (
    Organization,
    OrganizationDomain,
    OrganizationInvitation,
    OrganizationMembership,
)
from clerkrelay.v1.roles_pb2 import Permission, Role
from clerkrelay.v1.sessions_pb2 import Session
from clerkrelay.v1.users_pb2 import User
from clerkrelay.v1.waitlist_pb2 import WaitlistEntry

__all__ = [
    "ENTITY_KINDS",
    "FILTER_FIELDS",
    "KIND_BY_FAMILY",
    "KIND_BY_NAME",
    "EntityKind",
    "Link",
    "ListFilters",
]


@dataclass(frozen=True, slots=True)
class ListFilters:
    """The ids a listing can be narrowed by ("" means no filter).

    The same fields are an entity's stored lookup columns and its List
    request's filter fields; the command line's flag is the name without `_id`.
    """

    organization_id: str = ""
    user_id: str = ""
    subscription_id: str = ""
    payer_id: str = ""

    def values(self) -> tuple[str, ...]:
        """The fields' values, in `FILTER_FIELDS` order."""
        return (self.organization_id, self.user_id, self.subscription_id, self.payer_id)


FILTER_FIELDS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(ListFilters))
"""`organization_id`, `user_id`, `subscription_id`, `payer_id`."""


@dataclass(frozen=True, slots=True)
class Link:
    """An id another entity is known by, read from a kind's state.

    Attributes:
        field: The `ListFilters` field it fills (`organization_id`).
        paths: Attribute paths in the state, tried in order; the first that is
            not empty wins (`payer_id`, then `payer.id`).
        listed: The kind's List RPC filters by it (stored in its lookup column).
    """

    field: str
    paths: tuple[str, ...]
    listed: bool = True

    def read(self, state: Message) -> str:
        """The linked id in `state`, or "" when it has none."""
        for path in self.paths:
            value: str = attrgetter(path)(state)
            if value:
                return value
        return ""


@dataclass(frozen=True, slots=True)
class EntityKind:
    """One kind of entity the relay mirrors.

    Attributes:
        name: The store's and the client's name (`organization_membership`);
            the RPCs are `Get`/`List` + its CamelCase form.
        plural: The List RPC's and helper's plural (`organization_memberships`).
        family: The event type family that changes it (`organizationMembership`).
        state: The message holding its state (`OrganizationMembership`).
        cli_name: `clerk-relay get`'s name for it (`membership`).
        cli_plural: `clerk-relay list`'s name for it (`memberships`).
        links: Ids of other entities in its state.
    """

    name: str
    plural: str
    family: str
    state: type[Message]
    cli_name: str
    cli_plural: str
    links: tuple[Link, ...] = ()

    @property
    def filters(self) -> tuple[str, ...]:
        """Its List RPC's filters, in `FILTER_FIELDS` order."""
        listed = {link.field for link in self.links if link.listed}
        return tuple(field for field in FILTER_FIELDS if field in listed)

    def read_links(self, state: Message) -> tuple[ListFilters, str]:
        """A state's listed links, and the user it belongs to ("" when none)."""
        listed: dict[str, str] = {}
        user = ""
        for link in self.links:
            value = link.read(state)
            if link.field == "user_id":
                user = value
            if link.listed:
                listed[link.field] = value
        return ListFilters(**listed), user


_ORGANIZATION_ID = Link("organization_id", ("organization_id",))

ENTITY_KINDS: tuple[EntityKind, ...] = (
    EntityKind("user", "users", "user", User, "user", "users"),
    EntityKind(
        "organization",
        "organizations",
        "organization",
        Organization,
        "organization",
        "organizations",
    ),
    EntityKind(
        "organization_membership",
        "organization_memberships",
        "organizationMembership",
        OrganizationMembership,
        "membership",
        "memberships",
        (
            Link("organization_id", ("organization.id",)),
            Link("user_id", ("public_user_data.user_id",)),
        ),
    ),
    EntityKind(
        "organization_invitation",
        "organization_invitations",
        "organizationInvitation",
        OrganizationInvitation,
        "invitation",
        "invitations",
        (_ORGANIZATION_ID, Link("user_id", ("user_id",), listed=False)),
    ),
    EntityKind(
        "organization_domain",
        "organization_domains",
        "organizationDomain",
        OrganizationDomain,
        "domain",
        "domains",
        (_ORGANIZATION_ID,),
    ),
    EntityKind(
        "session",
        "sessions",
        "session",
        Session,
        "session",
        "sessions",
        (Link("user_id", ("user_id",)),),
    ),
    EntityKind("role", "roles", "role", Role, "role", "roles"),
    EntityKind("permission", "permissions", "permission", Permission, "permission", "permissions"),
    EntityKind(
        "waitlist_entry",
        "waitlist_entries",
        "waitlistEntry",
        WaitlistEntry,
        "waitlist-entry",
        "waitlist-entries",
    ),
    EntityKind(
        "subscription",
        "subscriptions",
        "subscription",
        Subscription,
        "subscription",
        "subscriptions",
        (Link("payer_id", ("payer_id", "payer.id")),),
    ),
    EntityKind(
        "subscription_item",
        "subscription_items",
        "subscriptionItem",
        SubscriptionItem,
        "subscription-item",
        "subscription-items",
        (Link("subscription_id", ("subscription_id",)), Link("payer_id", ("payer.id",))),
    ),
    EntityKind(
        "payment_attempt",
        "payment_attempts",
        "paymentAttempt",
        PaymentAttempt,
        "payment-attempt",
        "payment-attempts",
        (Link("payer_id", ("payer.id",)),),
    ),
)
"""Every kind, in the contract's order. Emails and SMS are messages, not entities: log only."""

KIND_BY_NAME: Mapping[str, EntityKind] = {kind.name: kind for kind in ENTITY_KINDS}
KIND_BY_FAMILY: Mapping[str, EntityKind] = {kind.family: kind for kind in ENTITY_KINDS}


def _check() -> None:
    for kind in ENTITY_KINDS:
        for link in kind.links:
            if link.field not in FILTER_FIELDS:
                raise RuntimeError(f"{kind.name}: link {link.field} is not a ListFilters field")


_check()
