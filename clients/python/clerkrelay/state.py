# Generated from protos/clerkrelay/v1/state_service.proto by clients/python/codegen/
# state_queries.py. Do not edit: change the contract or the generator, then run `make gen`.
"""Typed helpers for every StateService RPC: `get_<kind>` and `list_<kinds>`.

`get_<kind>(id)` returns the entity's `<Kind>Record` (its last-known state,
`deleted`, and the `event_sequence` that set it), or None when the relay has
never seen the id (the server's NOT_FOUND). A deleted entity is not None: it
comes back with `deleted = True` and the last state the relay saw.

`list_<kinds>(…)` returns a `Listing`: `async for record in listing` walks
every page; `await listing.collect()` returns all records with the sequence
the listing reflects (subscribe after it to miss nothing); `listing.pages()`
walks page by page. Tombstones are left out unless `show_deleted=True`.

Every other failure raises a `RelayError` subclass (see `clerkrelay.errors`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from clerkrelay.calls import UnaryCalls
from clerkrelay.listing import Listing
from clerkrelay.v1.state_service_pb2 import (
    GetOrganizationDomainRequest,
    GetOrganizationInvitationRequest,
    GetOrganizationMembershipRequest,
    GetOrganizationRequest,
    GetPaymentAttemptRequest,
    GetPermissionRequest,
    GetRoleRequest,
    GetSessionRequest,
    GetSubscriptionItemRequest,
    GetSubscriptionRequest,
    GetUserRequest,
    GetWaitlistEntryRequest,
    ListOrganizationDomainsRequest,
    ListOrganizationInvitationsRequest,
    ListOrganizationMembershipsRequest,
    ListOrganizationsRequest,
    ListPaymentAttemptsRequest,
    ListPermissionsRequest,
    ListRolesRequest,
    ListSessionsRequest,
    ListSubscriptionItemsRequest,
    ListSubscriptionsRequest,
    ListUsersRequest,
    ListWaitlistEntriesRequest,
    OrganizationDomainRecord,
    OrganizationInvitationRecord,
    OrganizationMembershipRecord,
    OrganizationRecord,
    PaymentAttemptRecord,
    PermissionRecord,
    RoleRecord,
    SessionRecord,
    SubscriptionItemRecord,
    SubscriptionRecord,
    UserRecord,
    WaitlistEntryRecord,
)

__all__ = ["StateQueries"]

if TYPE_CHECKING:  # the async stub type exists only in the .pyi
    from clerkrelay.v1.state_service_pb2_grpc import StateServiceAsyncStub


class StateQueries:
    """The StateService helpers of `RelayClient` (see the module docstring).

    Args:
        stub: The StateService stub of the open channel (RuntimeError when closed).
        calls: Makes each call with the client's metadata and deadline.
    """

    __slots__ = ("_calls", "_stub")

    def __init__(self, stub: Callable[[], StateServiceAsyncStub], calls: UnaryCalls) -> None:
        self._stub = stub
        self._calls = calls

    async def get_user(self, id: str, /) -> UserRecord | None:
        """The last-known state of a user.

        Args:
            id: Clerk's id of the user.

        Returns:
            The record (`deleted` is True for a deleted one), or None when the
            relay has never seen this id.

        Raises:
            RelayError: The call failed (InvalidArgumentError for an empty id).
        """
        response = await self._calls.get(self._stub().GetUser, GetUserRequest(id=id))
        return None if response is None else response.record

    def list_users(self, *, show_deleted: bool = False, page_size: int = 0) -> Listing[UserRecord]:
        """Every user the relay knows, in id order, a page at a time.

        Args:
            show_deleted: Include deleted ones (tombstones).
            page_size: Records per page; 0 means the server's default (100), at most 1000.

        Returns:
            A `Listing` of `UserRecord`s; nothing is fetched until it is iterated.
        """
        return self._calls.listing(
            self._stub().ListUsers,
            lambda token: ListUsersRequest(
                page_size=page_size, page_token=token, show_deleted=show_deleted
            ),
            lambda response: response.users,
        )

    async def get_organization(self, id: str, /) -> OrganizationRecord | None:
        """The last-known state of an organization.

        Args:
            id: Clerk's id of the organization.

        Returns:
            The record (`deleted` is True for a deleted one), or None when the
            relay has never seen this id.

        Raises:
            RelayError: The call failed (InvalidArgumentError for an empty id).
        """
        response = await self._calls.get(
            self._stub().GetOrganization, GetOrganizationRequest(id=id)
        )
        return None if response is None else response.record

    def list_organizations(
        self, *, show_deleted: bool = False, page_size: int = 0
    ) -> Listing[OrganizationRecord]:
        """Every organization the relay knows, in id order, a page at a time.

        Args:
            show_deleted: Include deleted ones (tombstones).
            page_size: Records per page; 0 means the server's default (100), at most 1000.

        Returns:
            A `Listing` of `OrganizationRecord`s; nothing is fetched until it is iterated.
        """
        return self._calls.listing(
            self._stub().ListOrganizations,
            lambda token: ListOrganizationsRequest(
                page_size=page_size, page_token=token, show_deleted=show_deleted
            ),
            lambda response: response.organizations,
        )

    async def get_organization_membership(self, id: str, /) -> OrganizationMembershipRecord | None:
        """The last-known state of an organization membership.

        Args:
            id: Clerk's id of the organization membership.

        Returns:
            The record (`deleted` is True for a deleted one), or None when the
            relay has never seen this id.

        Raises:
            RelayError: The call failed (InvalidArgumentError for an empty id).
        """
        response = await self._calls.get(
            self._stub().GetOrganizationMembership, GetOrganizationMembershipRequest(id=id)
        )
        return None if response is None else response.record

    def list_organization_memberships(
        self,
        *,
        organization_id: str = "",
        user_id: str = "",
        show_deleted: bool = False,
        page_size: int = 0,
    ) -> Listing[OrganizationMembershipRecord]:
        """Every organization membership the relay knows, in id order, a page at a time.

        Args:
            organization_id: Only memberships of this organization. Empty: no filter.
            user_id: Only memberships of this user. Empty: no filter.
            show_deleted: Include deleted ones (tombstones).
            page_size: Records per page; 0 means the server's default (100), at most 1000.

        Returns:
            A `Listing` of `OrganizationMembershipRecord`s; nothing is fetched until it is iterated.
        """
        return self._calls.listing(
            self._stub().ListOrganizationMemberships,
            lambda token: ListOrganizationMembershipsRequest(
                page_size=page_size,
                page_token=token,
                show_deleted=show_deleted,
                organization_id=organization_id,
                user_id=user_id,
            ),
            lambda response: response.organization_memberships,
        )

    async def get_organization_invitation(self, id: str, /) -> OrganizationInvitationRecord | None:
        """The last-known state of an organization invitation.

        Args:
            id: Clerk's id of the organization invitation.

        Returns:
            The record (`deleted` is True for a deleted one), or None when the
            relay has never seen this id.

        Raises:
            RelayError: The call failed (InvalidArgumentError for an empty id).
        """
        response = await self._calls.get(
            self._stub().GetOrganizationInvitation, GetOrganizationInvitationRequest(id=id)
        )
        return None if response is None else response.record

    def list_organization_invitations(
        self, *, organization_id: str = "", show_deleted: bool = False, page_size: int = 0
    ) -> Listing[OrganizationInvitationRecord]:
        """Every organization invitation the relay knows, in id order, a page at a time.

        Args:
            organization_id: Only invitations to this organization. Empty: no filter.
            show_deleted: Include deleted ones (tombstones).
            page_size: Records per page; 0 means the server's default (100), at most 1000.

        Returns:
            A `Listing` of `OrganizationInvitationRecord`s; nothing is fetched until it is iterated.
        """
        return self._calls.listing(
            self._stub().ListOrganizationInvitations,
            lambda token: ListOrganizationInvitationsRequest(
                page_size=page_size,
                page_token=token,
                show_deleted=show_deleted,
                organization_id=organization_id,
            ),
            lambda response: response.organization_invitations,
        )

    async def get_organization_domain(self, id: str, /) -> OrganizationDomainRecord | None:
        """The last-known state of an organization domain.

        Args:
            id: Clerk's id of the organization domain.

        Returns:
            The record (`deleted` is True for a deleted one), or None when the
            relay has never seen this id.

        Raises:
            RelayError: The call failed (InvalidArgumentError for an empty id).
        """
        response = await self._calls.get(
            self._stub().GetOrganizationDomain, GetOrganizationDomainRequest(id=id)
        )
        return None if response is None else response.record

    def list_organization_domains(
        self, *, organization_id: str = "", show_deleted: bool = False, page_size: int = 0
    ) -> Listing[OrganizationDomainRecord]:
        """Every organization domain the relay knows, in id order, a page at a time.

        Args:
            organization_id: Only domains of this organization. Empty: no filter.
            show_deleted: Include deleted ones (tombstones).
            page_size: Records per page; 0 means the server's default (100), at most 1000.

        Returns:
            A `Listing` of `OrganizationDomainRecord`s; nothing is fetched until it is iterated.
        """
        return self._calls.listing(
            self._stub().ListOrganizationDomains,
            lambda token: ListOrganizationDomainsRequest(
                page_size=page_size,
                page_token=token,
                show_deleted=show_deleted,
                organization_id=organization_id,
            ),
            lambda response: response.organization_domains,
        )

    async def get_session(self, id: str, /) -> SessionRecord | None:
        """The last-known state of a session.

        Args:
            id: Clerk's id of the session.

        Returns:
            The record (`deleted` is True for a deleted one), or None when the
            relay has never seen this id.

        Raises:
            RelayError: The call failed (InvalidArgumentError for an empty id).
        """
        response = await self._calls.get(self._stub().GetSession, GetSessionRequest(id=id))
        return None if response is None else response.record

    def list_sessions(
        self, *, user_id: str = "", show_deleted: bool = False, page_size: int = 0
    ) -> Listing[SessionRecord]:
        """Every session the relay knows, in id order, a page at a time.

        Args:
            user_id: Only sessions of this user. Empty: no filter.
            show_deleted: Include deleted ones (tombstones).
            page_size: Records per page; 0 means the server's default (100), at most 1000.

        Returns:
            A `Listing` of `SessionRecord`s; nothing is fetched until it is iterated.
        """
        return self._calls.listing(
            self._stub().ListSessions,
            lambda token: ListSessionsRequest(
                page_size=page_size, page_token=token, show_deleted=show_deleted, user_id=user_id
            ),
            lambda response: response.sessions,
        )

    async def get_role(self, id: str, /) -> RoleRecord | None:
        """The last-known state of a role.

        Args:
            id: Clerk's id of the role.

        Returns:
            The record (`deleted` is True for a deleted one), or None when the
            relay has never seen this id.

        Raises:
            RelayError: The call failed (InvalidArgumentError for an empty id).
        """
        response = await self._calls.get(self._stub().GetRole, GetRoleRequest(id=id))
        return None if response is None else response.record

    def list_roles(self, *, show_deleted: bool = False, page_size: int = 0) -> Listing[RoleRecord]:
        """Every role the relay knows, in id order, a page at a time.

        Args:
            show_deleted: Include deleted ones (tombstones).
            page_size: Records per page; 0 means the server's default (100), at most 1000.

        Returns:
            A `Listing` of `RoleRecord`s; nothing is fetched until it is iterated.
        """
        return self._calls.listing(
            self._stub().ListRoles,
            lambda token: ListRolesRequest(
                page_size=page_size, page_token=token, show_deleted=show_deleted
            ),
            lambda response: response.roles,
        )

    async def get_permission(self, id: str, /) -> PermissionRecord | None:
        """The last-known state of a permission.

        Args:
            id: Clerk's id of the permission.

        Returns:
            The record (`deleted` is True for a deleted one), or None when the
            relay has never seen this id.

        Raises:
            RelayError: The call failed (InvalidArgumentError for an empty id).
        """
        response = await self._calls.get(self._stub().GetPermission, GetPermissionRequest(id=id))
        return None if response is None else response.record

    def list_permissions(
        self, *, show_deleted: bool = False, page_size: int = 0
    ) -> Listing[PermissionRecord]:
        """Every permission the relay knows, in id order, a page at a time.

        Args:
            show_deleted: Include deleted ones (tombstones).
            page_size: Records per page; 0 means the server's default (100), at most 1000.

        Returns:
            A `Listing` of `PermissionRecord`s; nothing is fetched until it is iterated.
        """
        return self._calls.listing(
            self._stub().ListPermissions,
            lambda token: ListPermissionsRequest(
                page_size=page_size, page_token=token, show_deleted=show_deleted
            ),
            lambda response: response.permissions,
        )

    async def get_waitlist_entry(self, id: str, /) -> WaitlistEntryRecord | None:
        """The last-known state of a waitlist entry.

        Args:
            id: Clerk's id of the waitlist entry.

        Returns:
            The record (`deleted` is True for a deleted one), or None when the
            relay has never seen this id.

        Raises:
            RelayError: The call failed (InvalidArgumentError for an empty id).
        """
        response = await self._calls.get(
            self._stub().GetWaitlistEntry, GetWaitlistEntryRequest(id=id)
        )
        return None if response is None else response.record

    def list_waitlist_entries(
        self, *, show_deleted: bool = False, page_size: int = 0
    ) -> Listing[WaitlistEntryRecord]:
        """Every waitlist entry the relay knows, in id order, a page at a time.

        Args:
            show_deleted: Include deleted ones (tombstones).
            page_size: Records per page; 0 means the server's default (100), at most 1000.

        Returns:
            A `Listing` of `WaitlistEntryRecord`s; nothing is fetched until it is iterated.
        """
        return self._calls.listing(
            self._stub().ListWaitlistEntries,
            lambda token: ListWaitlistEntriesRequest(
                page_size=page_size, page_token=token, show_deleted=show_deleted
            ),
            lambda response: response.waitlist_entries,
        )

    async def get_subscription(self, id: str, /) -> SubscriptionRecord | None:
        """The last-known state of a billing subscription.

        Args:
            id: Clerk's id of the billing subscription.

        Returns:
            The record (`deleted` is True for a deleted one), or None when the
            relay has never seen this id.

        Raises:
            RelayError: The call failed (InvalidArgumentError for an empty id).
        """
        response = await self._calls.get(
            self._stub().GetSubscription, GetSubscriptionRequest(id=id)
        )
        return None if response is None else response.record

    def list_subscriptions(
        self, *, payer_id: str = "", show_deleted: bool = False, page_size: int = 0
    ) -> Listing[SubscriptionRecord]:
        """Every billing subscription the relay knows, in id order, a page at a time.

        Args:
            payer_id: Only subscriptions of this payer. Empty: no filter.
            show_deleted: Include deleted ones (tombstones).
            page_size: Records per page; 0 means the server's default (100), at most 1000.

        Returns:
            A `Listing` of `SubscriptionRecord`s; nothing is fetched until it is iterated.
        """
        return self._calls.listing(
            self._stub().ListSubscriptions,
            lambda token: ListSubscriptionsRequest(
                page_size=page_size, page_token=token, show_deleted=show_deleted, payer_id=payer_id
            ),
            lambda response: response.subscriptions,
        )

    async def get_subscription_item(self, id: str, /) -> SubscriptionItemRecord | None:
        """The last-known state of a billing subscription item.

        Args:
            id: Clerk's id of the billing subscription item.

        Returns:
            The record (`deleted` is True for a deleted one), or None when the
            relay has never seen this id.

        Raises:
            RelayError: The call failed (InvalidArgumentError for an empty id).
        """
        response = await self._calls.get(
            self._stub().GetSubscriptionItem, GetSubscriptionItemRequest(id=id)
        )
        return None if response is None else response.record

    def list_subscription_items(
        self,
        *,
        subscription_id: str = "",
        payer_id: str = "",
        show_deleted: bool = False,
        page_size: int = 0,
    ) -> Listing[SubscriptionItemRecord]:
        """Every billing subscription item the relay knows, in id order, a page at a time.

        Args:
            subscription_id: Only items of this subscription. Empty: no filter.
            payer_id: Only items of this payer. Empty: no filter.
            show_deleted: Include deleted ones (tombstones).
            page_size: Records per page; 0 means the server's default (100), at most 1000.

        Returns:
            A `Listing` of `SubscriptionItemRecord`s; nothing is fetched until it is iterated.
        """
        return self._calls.listing(
            self._stub().ListSubscriptionItems,
            lambda token: ListSubscriptionItemsRequest(
                page_size=page_size,
                page_token=token,
                show_deleted=show_deleted,
                subscription_id=subscription_id,
                payer_id=payer_id,
            ),
            lambda response: response.subscription_items,
        )

    async def get_payment_attempt(self, id: str, /) -> PaymentAttemptRecord | None:
        """The last-known state of a billing payment attempt.

        Args:
            id: Clerk's id of the billing payment attempt.

        Returns:
            The record (`deleted` is True for a deleted one), or None when the
            relay has never seen this id.

        Raises:
            RelayError: The call failed (InvalidArgumentError for an empty id).
        """
        response = await self._calls.get(
            self._stub().GetPaymentAttempt, GetPaymentAttemptRequest(id=id)
        )
        return None if response is None else response.record

    def list_payment_attempts(
        self, *, payer_id: str = "", show_deleted: bool = False, page_size: int = 0
    ) -> Listing[PaymentAttemptRecord]:
        """Every billing payment attempt the relay knows, in id order, a page at a time.

        Args:
            payer_id: Only payment attempts of this payer. Empty: no filter.
            show_deleted: Include deleted ones (tombstones).
            page_size: Records per page; 0 means the server's default (100), at most 1000.

        Returns:
            A `Listing` of `PaymentAttemptRecord`s; nothing is fetched until it is iterated.
        """
        return self._calls.listing(
            self._stub().ListPaymentAttempts,
            lambda token: ListPaymentAttemptsRequest(
                page_size=page_size, page_token=token, show_deleted=show_deleted, payer_id=payer_id
            ),
            lambda response: response.payment_attempts,
        )
