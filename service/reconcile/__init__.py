"""Backfill and reconciliation from Clerk's Backend API: listings compared with the mirror.

The listing side: `ClerkApi` lists every object of a kind (`clerk_api`),
within a share of the instance's rate limit (`budget`), with the endpoints
and paging of each kind (`endpoints`), its errors (`errors`) and its counters
(`counters`). The pass: `run_pass` compares the listings with the mirror and
appends the repairs as events (`reconciler`), built like the webhooks they
stand for (`synthetic`), and reports what it did (`report`). Around it: the
configuration (`settings`), the process's passes, one at a time, at start-up,
on a schedule or asked for (`scheduler`), and their metrics (`metrics`); the
`Reconcile` RPC is `service.reconcile_servicer`.

A pass saves its progress in the store as it goes (`journal`, positions from
`paging`), so a relay killed mid-pass resumes it at start-up.
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
from service.reconcile.reconciler import (
    DEFAULT_MAX_DELETE_SHARE,
    Outcome,
    PassSettings,
    decide,
    run_pass,
)
from service.reconcile.report import KindReport, PassReport
from service.reconcile.synthetic import (
    RECONCILE_ID_PREFIX,
    Change,
    Snapshot,
    deleted_event,
    snapshot,
)

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_MAX_DELETE_SHARE",
    "DEFAULT_SHARE",
    "LIST_ENDPOINTS",
    "RECONCILE_ID_PREFIX",
    "UNLISTABLE_KINDS",
    "ApiCounters",
    "ApiObject",
    "ApiSettings",
    "ApiUnavailable",
    "BadKey",
    "Change",
    "ClerkApi",
    "ClerkApiError",
    "InstanceLimit",
    "KindReport",
    "ListEndpoint",
    "Outcome",
    "PassReport",
    "PassSettings",
    "RequestBudget",
    "RequestRejected",
    "RetryPolicy",
    "Snapshot",
    "UnexpectedResponse",
    "decide",
    "deleted_event",
    "instance_limit",
    "key_hint",
    "run_pass",
    "snapshot",
]
