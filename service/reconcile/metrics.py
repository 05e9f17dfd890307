"""Reconciliation's Prometheus metrics, in a registry the caller gives (no globals).

Recorded when a pass ends, from its `PassReport` and its client's
`ApiCounters`:

| metric                                                   | labels             |
|----------------------------------------------------------|--------------------|
| `clerk_relay_reconcile_entities_total`                   | `kind`, `outcome`  |
| `clerk_relay_reconcile_api_requests_total`               | `status`           |
| `clerk_relay_reconcile_rate_limited_waits_total`         |                    |
| `clerk_relay_reconcile_rate_limited_wait_seconds_total`  |                    |
| `clerk_relay_reconcile_passes_total`                     | `trigger`, `outcome` |
| `clerk_relay_reconcile_last_success_timestamp_seconds`   | `kind`             |
| `clerk_relay_reconcile_running`                          |                    |

`outcome` of an entity is one of `ENTITY_OUTCOMES` (scanned, created, updated,
deleted, …); `status` is the HTTP status, or `network` for an attempt that got
no answer. A kind's last success is when a pass last listed it completely and
compared it, the mass-delete guard not refusing.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from service.reconcile.counters import ApiCounters
from service.reconcile.report import KIND_COUNTS, PassReport

__all__ = ["ENTITY_OUTCOMES", "ReconcileMetrics"]

ENTITY_OUTCOMES = tuple(name for name in KIND_COUNTS if name != "missing")
"""The `outcome` label values of `clerk_relay_reconcile_entities_total`: the report's counts,
but `missing` (the listing's view of the mirror, not an outcome of its own)."""


class ReconcileMetrics:
    """The counters and gauges of one process's reconciliation passes.

    Args:
        registry: Where to register them; a new registry when None.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = CollectorRegistry() if registry is None else registry
        self._entities = Counter(
            "clerk_relay_reconcile_entities",
            "Backend API objects and mirror entities reconciliation handled, by kind and outcome.",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self._requests = Counter(
            "clerk_relay_reconcile_api_requests",
            "Backend API answers by HTTP status ('network': no answer), retries included.",
            ["status"],
            registry=self.registry,
        )
        self._waits = Counter(
            "clerk_relay_reconcile_rate_limited_waits",
            "Backend API 429 answers waited out (their Retry-After).",
            registry=self.registry,
        )
        self._wait_seconds = Counter(
            "clerk_relay_reconcile_rate_limited_wait_seconds",
            "Seconds spent waiting out Backend API 429 answers.",
            registry=self.registry,
        )
        self._passes = Counter(
            "clerk_relay_reconcile_passes",
            "Reconciliation passes ended, by trigger (startup, interval, rpc, resume) and outcome "
            "(completed, incomplete, failed, cancelled).",
            ["trigger", "outcome"],
            registry=self.registry,
        )
        self._last_success = Gauge(
            "clerk_relay_reconcile_last_success_timestamp_seconds",
            "When a pass last listed and compared each kind completely, in Unix seconds.",
            ["kind"],
            registry=self.registry,
        )
        self._running = Gauge(
            "clerk_relay_reconcile_running",
            "1 while a reconciliation pass runs in this process.",
            registry=self.registry,
        )

    def started(self) -> None:
        """A pass began."""
        self._running.set(1)

    def ended(
        self,
        report: PassReport,
        counters: ApiCounters,
        *,
        trigger: str,
        outcome: str,
        ended_at_s: float,
    ) -> None:
        """Records a pass that ended (or was cancelled), with everything it counted."""
        self._running.set(0)
        self._passes.labels(trigger, outcome).inc()
        for kind, kind_report in report.kinds.items():
            for name in ENTITY_OUTCOMES:
                value: int = getattr(kind_report, name)
                if value:
                    self._entities.labels(kind, name).inc(value)
            if kind_report.complete and kind_report.error is None and not kind_report.refusal:
                self._last_success.labels(kind).set(ended_at_s)
        for status, answers in counters.requests.items():
            self._requests.labels(str(status)).inc(answers)
        if counters.network_errors:
            self._requests.labels("network").inc(counters.network_errors)
        if counters.rate_limited_waits:
            self._waits.inc(counters.rate_limited_waits)
            self._wait_seconds.inc(counters.rate_limited_wait_s)
