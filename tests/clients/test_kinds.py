"""The registry of entity kinds: complete, consistent with the catalog and the helpers."""

from __future__ import annotations

import pytest

from clerkrelay.catalog import EVENT_TYPES
from clerkrelay.kinds import ENTITY_KINDS, FILTER_FIELDS, KIND_BY_FAMILY, ListFilters
from clerkrelay.state import StateQueries
from clerkrelay.v1.billing_pb2 import Subscription, SubscriptionItem
from clerkrelay.v1.organizations_pb2 import OrganizationInvitation, OrganizationMembership


def test_every_event_family_is_a_kind_except_messages() -> None:
    families = {event_type.partition(".")[0] for event_type in EVENT_TYPES}
    assert families - set(KIND_BY_FAMILY) == {"email", "sms"}
    assert set(KIND_BY_FAMILY) <= families


@pytest.mark.parametrize("attribute", ["name", "plural", "family", "cli_name", "cli_plural"])
def test_names_are_unique(attribute: str) -> None:
    names = [getattr(kind, attribute) for kind in ENTITY_KINDS]
    assert len(set(names)) == len(names) == 12


def test_every_kind_has_its_client_helpers() -> None:
    for kind in ENTITY_KINDS:
        assert callable(getattr(StateQueries, f"get_{kind.name}"))
        assert callable(getattr(StateQueries, f"list_{kind.plural}"))


def test_filters_are_declared_once_in_list_filters() -> None:
    assert FILTER_FIELDS == ("organization_id", "user_id", "subscription_id", "payer_id")
    assert ListFilters("o", "u", "s", "p").values() == ("o", "u", "s", "p")
    assert {kind.name: kind.filters for kind in ENTITY_KINDS if kind.filters} == {
        "organization_membership": ("organization_id", "user_id"),
        "organization_invitation": ("organization_id",),
        "organization_domain": ("organization_id",),
        "session": ("user_id",),
        "subscription": ("payer_id",),
        "subscription_item": ("subscription_id", "payer_id"),
        "payment_attempt": ("payer_id",),
    }


def test_links_are_read_from_nested_state() -> None:
    membership = OrganizationMembership(id="orgmem_1")
    membership.organization.id = "org_1"
    membership.public_user_data.user_id = "user_1"
    kind = KIND_BY_FAMILY["organizationMembership"]
    assert kind.read_links(membership) == (ListFilters("org_1", "user_1"), "user_1")


def test_an_unlisted_link_still_names_the_user() -> None:
    invitation = OrganizationInvitation(id="orginv_1", organization_id="org_1", user_id="user_1")
    kind = KIND_BY_FAMILY["organizationInvitation"]
    assert kind.read_links(invitation) == (ListFilters(organization_id="org_1"), "user_1")


def test_a_link_takes_its_first_non_empty_path() -> None:
    kind = KIND_BY_FAMILY["subscription"]
    direct = Subscription(id="sub_1", payer_id="payer_1")
    direct.payer.id = "payer_2"
    nested = Subscription(id="sub_2")
    nested.payer.id = "payer_2"
    assert kind.read_links(direct) == (ListFilters(payer_id="payer_1"), "")
    assert kind.read_links(nested) == (ListFilters(payer_id="payer_2"), "")
    item = SubscriptionItem(id="subi_1", subscription_id="sub_1")
    assert KIND_BY_FAMILY["subscriptionItem"].read_links(item) == (
        ListFilters(subscription_id="sub_1"),
        "",
    )
