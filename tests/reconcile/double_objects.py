"""The Backend API double's objects: Clerk's webhook examples, reshaped where the API differs.

Each kind's template is the `data` of the Clerk spec's example webhook for
it (`tests/fixtures/examples/*.clerk-openapi-specs.json`). For users,
organizations, memberships, roles and permissions that *is* the API's shape.
For the others the webhook and the Backend API spec disagree, and the
template is patched to the API's shape (the tests validate every body the
double sends against `bapi-2026-05-12.yml`):

- organization invitations: the API adds `inviter_id` and `public_inviter_data`;
- organization domains: the API splits `verification` into
  `affiliation_verification` and `ownership_verification` (and adds `verified_at`);
- waitlist entries: `object` is `waitlist_entry` (the webhook says `waitlistEntry`);
- subscription items: `object` is `commerce_subscription_item`, `plan_period`
  replaces `interval`, the plan is a full `CommercePlan`, and the API has
  `instance_id`, `payer_id`, `canceled_at`, `past_due_at`, `ended_at` but no
  `subscription_id`.
"""

from __future__ import annotations

import copy
import random
import string
from collections.abc import Callable, Mapping
from typing import Any

from tests.examples import example

__all__ = ["KSUID_DIGITS", "KSUID_EPOCH_S", "TEMPLATES", "clerk_id", "id_prefix", "new_object"]

ApiObject = dict[str, Any]

KSUID_DIGITS = string.digits + string.ascii_uppercase + string.ascii_lowercase
"""A KSUID's base-62 digits, in the order of their values."""

KSUID_EPOCH_S = 1_400_000_000
"""The Unix second a KSUID's time counts from (2014-05-13)."""


def clerk_id(prefix: str, created_at_ms: int, rng: random.Random) -> str:
    """A Clerk-shaped id: `prefix_` and a KSUID, 27 base-62 characters.

    A KSUID is 4 bytes of seconds since its epoch (2014-05-13) then 16 random
    bytes, so Clerk's ids sort by creation time to the second (`user_29w…` of
    2022 before `user_2g7…` of 2024 in the webhook examples) and are random
    within it.
    """
    seconds = max(created_at_ms // 1000 - KSUID_EPOCH_S, 0)
    number = seconds << 128 | rng.getrandbits(128)
    digits = []
    for _ in range(27):
        number, digit = divmod(number, 62)
        digits.append(KSUID_DIGITS[digit])
    return f"{prefix}_" + "".join(reversed(digits))


def _data(event_type: str) -> ApiObject:
    data: ApiObject = copy.deepcopy(example(event_type).envelope["data"])
    return data


def _money(cents: int) -> ApiObject:
    return {
        "amount": cents,
        "amount_formatted": f"{cents / 100:.2f}",
        "currency": "USD",
        "currency_symbol": "$",
    }


def _invitation() -> ApiObject:
    data = _data("organizationInvitation.created")
    data.update(inviter_id=None, public_inviter_data=None)
    return data


def _domain() -> ApiObject:
    data = _data("organizationDomain.updated")  # the created example has no verification
    verification = dict(data["verification"], verified_at=None)
    data.update(
        verification=verification,
        affiliation_verification=dict(verification),
        ownership_verification=None,
    )
    return data


def _waitlist_entry() -> ApiObject:
    data = _data("waitlistEntry.created")
    data["object"] = "waitlist_entry"
    return data


def _subscription_item() -> ApiObject:
    data = _data("subscriptionItem.active")
    hook_plan = data["plan"]
    data["object"] = "commerce_subscription_item"
    data["plan_period"] = data.pop("interval")
    del data["subscription_id"]
    data["plan"] = {
        "object": "commerce_plan",
        "id": hook_plan["id"],
        "name": hook_plan["name"],
        "fee": _money(hook_plan["amount"]),
        "annual_monthly_fee": None,
        "annual_fee": None,
        "description": None,
        "product_id": "cprod_2g7np7Hrk0SN6kj5EDMLDaKNL0S",
        "is_default": True,
        "is_recurring": hook_plan["is_recurring"],
        "publicly_visible": True,
        "has_base_fee": False,
        "for_payer_type": "user",
        "slug": hook_plan["slug"],
        "avatar_url": None,
        "free_trial_enabled": False,
        "free_trial_days": None,
    }
    data["payer"]["instance_id"] = "ins_2g7np7Hrk0SN6kj5EDMLDaKNL0S"
    data.update(
        instance_id="ins_2g7np7Hrk0SN6kj5EDMLDaKNL0S",
        payer_id=data["payer"]["id"],
        canceled_at=None,
        past_due_at=None,
        ended_at=None,
    )
    return data


_BUILDERS: Mapping[str, Callable[[], ApiObject]] = {
    "user": lambda: _data("user.created"),
    "organization": lambda: _data("organization.created"),
    "organization_membership": lambda: _data("organizationMembership.created"),
    "organization_invitation": _invitation,
    "organization_domain": _domain,
    "role": lambda: _data("role.created"),
    "permission": lambda: _data("permission.created"),
    "waitlist_entry": _waitlist_entry,
    "subscription_item": _subscription_item,
}

TEMPLATES: Mapping[str, ApiObject] = {kind: build() for kind, build in _BUILDERS.items()}
"""One API-shaped object per listable kind, keyed by the registry's kind name."""


def new_object(kind: str, object_id: str, created_at: int, fields: Mapping[str, Any]) -> ApiObject:
    """A fresh object of `kind`: its template with an id, times and `fields` on top."""
    made = copy.deepcopy(TEMPLATES[kind])
    made.update(id=object_id, created_at=created_at, updated_at=created_at)
    if kind == "organization":
        made.update(name=f"Organization {object_id[-6:]}", slug=f"org-{object_id[-6:].lower()}")
    elif kind == "user":
        made["username"] = f"user-{object_id[-8:].lower()}"
    made.update(_copied(dict(fields)))
    return made


def _copied(value: Any) -> Any:
    """A copy of JSON containers; other values (`orjson.Fragment`, sent verbatim) as they are."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


def id_prefix(kind: str) -> str:
    """The id prefix of a kind's template (`user`, `orgmem`, `csub_item`)."""
    template_id: str = TEMPLATES[kind]["id"]
    return template_id.rsplit("_", 1)[0]
