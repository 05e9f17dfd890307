"""Where the Backend API lists each entity kind, and how that listing pages.

One `ListEndpoint` per kind of `clerkrelay.kinds` that the Backend API can
list for the whole instance, keyed by the registry's kind name. The facts
come from Clerk's spec (`bapi/2026-05-12.yml`):

| kind                      | path                          | body         | paging           |
|---------------------------|-------------------------------|--------------|------------------|
| `user`                    | `/users`                      | bare array   | `starting_after` |
| `organization`            | `/organizations`              | `{data, …}`  | `offset`         |
| `organization_membership` | `/organization_memberships`   | `{data, …}`  | `offset`         |
| `organization_invitation` | `/organization_invitations`   | `{data, …}`  | `offset`         |
| `organization_domain`     | `/organization_domains`       | `{data, …}`  | `offset`         |
| `role`                    | `/organization_roles`         | `{data, …}`  | `offset`         |
| `permission`              | `/organization_permissions`   | `{data, …}`  | `offset`         |
| `waitlist_entry`          | `/waitlist_entries`           | `{data, …}`  | `offset`         |
| `subscription_item`       | `/billing/subscription_items` | `{data, …}`  | `offset`         |

`{data, …}` is `{data: [...], total_count}`.

Every listing that can be ordered is ordered by `created_at` ascending: an
object created during the listing then sorts after everything already
listed, so a cursor reaches it and an offset page never shifts because of it.
`starting_after` requires a `created_at` order anyway. Subscription items
have no `order_by`; they are asked for with `include_free=true`, since the
API leaves free-plan items out by default.

Kinds of the registry that are not here, and why:

- `session`: `GET /sessions` needs a `client_id` or a `user_id`, so the
  instance's sessions can only be listed one user at a time.
- `subscription`: only per payer (`/users/{id}/billing/subscription`,
  `/organizations/{id}/billing/subscription`), one request per user and
  organization.
- `payment_attempt`: only per statement
  (`/billing/statements/{id}/payment_attempts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from clerkrelay.kinds import KIND_BY_NAME

__all__ = ["LIST_ENDPOINTS", "MAX_PAGE_SIZE", "UNLISTABLE_KINDS", "ListEndpoint"]

MAX_PAGE_SIZE = 500
"""The largest `limit` Clerk honours; a larger one silently returns 10 objects."""


@dataclass(frozen=True, slots=True)
class ListEndpoint:
    """How the Backend API lists one kind.

    Attributes:
        kind: The registry's kind name (`organization_membership`).
        path: The path under the API's base URL (`/organization_memberships`).
        enveloped: The body is `{data, total_count}`; otherwise a bare array.
        cursor: Pages follow `starting_after` (the last id of the previous
            page) instead of `offset`.
        params: Query parameters sent with every page (order, filters).
    """

    kind: str
    path: str
    enveloped: bool = True
    cursor: bool = False
    params: Mapping[str, str] = field(default_factory=lambda: {"order_by": "created_at"})


LIST_ENDPOINTS: Mapping[str, ListEndpoint] = {
    endpoint.kind: endpoint
    for endpoint in (
        ListEndpoint("user", "/users", enveloped=False, cursor=True),
        ListEndpoint("organization", "/organizations"),
        ListEndpoint("organization_membership", "/organization_memberships"),
        ListEndpoint("organization_invitation", "/organization_invitations"),
        ListEndpoint("organization_domain", "/organization_domains"),
        ListEndpoint("role", "/organization_roles"),
        ListEndpoint("permission", "/organization_permissions"),
        ListEndpoint("waitlist_entry", "/waitlist_entries"),
        ListEndpoint(
            "subscription_item", "/billing/subscription_items", params={"include_free": "true"}
        ),
    )
}
"""Every listable kind, in the registry's order."""

UNLISTABLE_KINDS: Mapping[str, str] = {
    "session": "GET /sessions needs a client_id or a user_id: no instance-wide listing",
    "subscription": "listed only per payer (/users/{id}/billing/subscription and the like)",
    "payment_attempt": "listed only per statement (/billing/statements/{id}/payment_attempts)",
}
"""The registry's other kinds, each with the reason it is not listed."""


def _check() -> None:
    covered = set(LIST_ENDPOINTS) | set(UNLISTABLE_KINDS)
    if covered != set(KIND_BY_NAME):
        raise RuntimeError(f"kinds without a listing decision: {set(KIND_BY_NAME) ^ covered}")


_check()
