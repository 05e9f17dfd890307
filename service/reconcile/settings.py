"""Reconciliation's configuration: the Backend API key, where the API is, how often, how much.

One frozen object, built by the command line (`relay.settings` declares each
setting once: `CLERK_SECRET_KEY`, `CLERK_API_URL`, `--reconcile-interval`,
`--reconcile-budget-share`, `--reconcile-max-delete-share`) and handed to the
process that owns the store (`serve`, or `grpc` in the split deployment).
Without a key there is no `ReconcileSettings`: no pass runs, and the
`Reconcile` RPC answers FAILED_PRECONDITION.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.reconcile.budget import DEFAULT_SHARE
from service.reconcile.clerk_api import DEFAULT_API_URL, ApiSettings, RetryPolicy
from service.reconcile.errors import key_hint
from service.reconcile.reconciler import DEFAULT_MAX_DELETE_SHARE, PassSettings

__all__ = ["DEFAULT_INTERVAL_S", "ReconcileSettings"]

DEFAULT_INTERVAL_S = 6 * 3600.0
"""A pass every 6 hours, unless told otherwise."""


@dataclass(frozen=True, slots=True)
class ReconcileSettings:
    """How the relay reconciles its mirror with Clerk's Backend API.

    Attributes:
        secret_key: `sk_live_…` or `sk_test_…`; never shown (not in the repr).
        api_url: The Backend API's base URL.
        interval_s: A pass this often after start-up; 0 runs none on a
            schedule (the start-up backfill of an empty mirror and the
            `Reconcile` RPC still run).
        budget_share: The share of the instance's rate limit a pass spends;
            None spends without limit (a local double only).
        max_delete_share: The mass-delete guard's share (see `PassSettings`).
        retry: How the Backend API client retries (tests shorten it).
    """

    secret_key: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    interval_s: float = DEFAULT_INTERVAL_S
    budget_share: float | None = DEFAULT_SHARE
    max_delete_share: float = DEFAULT_MAX_DELETE_SHARE
    retry: RetryPolicy = RetryPolicy()

    def __post_init__(self) -> None:
        if not self.secret_key:
            raise ValueError("a secret key is required")
        if self.interval_s < 0:
            raise ValueError(f"interval_s must not be negative, not {self.interval_s}")
        if self.budget_share is not None and not 0 < self.budget_share <= 1:
            raise ValueError(f"budget_share is in (0, 1], not {self.budget_share}")
        if not 0 <= self.max_delete_share <= 1:
            raise ValueError(f"max_delete_share is 0 to 1, not {self.max_delete_share}")

    @property
    def key_hint(self) -> str:
        """What a log line may show of the key (`sk_live_AbCd…`)."""
        return key_hint(self.secret_key)

    @property
    def production(self) -> bool:
        """The key is a production instance's (`sk_live_`), with its larger rate limit."""
        return self.secret_key.startswith("sk_live_")

    def api_settings(self) -> ApiSettings:
        """The Backend API client's settings."""
        return ApiSettings(
            secret_key=self.secret_key,
            api_url=self.api_url,
            budget_share=self.budget_share,
            retry=self.retry,
        )

    def pass_settings(self, *, allow_mass_delete: bool = False) -> PassSettings:
        """A pass's settings: this guard, and whether to go past it."""
        return PassSettings(
            max_delete_share=self.max_delete_share, allow_mass_delete=allow_mass_delete
        )
