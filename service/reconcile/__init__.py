"""Backfill and reconciliation from Clerk's Backend API: complete listings of each kind.

So far this holds the listing side only: `ClerkApi` lists every object of a
kind (`clerk_api`), within a share of the instance's rate limit (`budget`),
with the endpoints and paging of each kind (`endpoints`), its errors
(`errors`) and its counters (`counters`). Nothing here touches the store.
"""

from service.reconcile.budget import DEFAULT_SHARE, InstanceLimit, RequestBudget, instance_limit
from service.reconcile.clerk_api import (
    DEFAULT_API_URL,
    ApiObject,
    ApiSettings,
    ClerkApi,
    RetryPolicy,
)
from service.reconcile.counters import ApiCounters
from service.reconcile.endpoints import LIST_ENDPOINTS, UNLISTABLE_KINDS, ListEndpoint
from service.reconcile.errors import (
    ApiUnavailable,
    BadKey,
    ClerkApiError,
    RequestRejected,
    UnexpectedResponse,
    key_hint,
)

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_SHARE",
    "LIST_ENDPOINTS",
    "UNLISTABLE_KINDS",
    "ApiCounters",
    "ApiObject",
    "ApiSettings",
    "ApiUnavailable",
    "BadKey",
    "ClerkApi",
    "ClerkApiError",
    "InstanceLimit",
    "ListEndpoint",
    "RequestBudget",
    "RequestRejected",
    "RetryPolicy",
    "UnexpectedResponse",
    "instance_limit",
    "key_hint",
]
