"""Consumer groups' Prometheus metrics, per group, in a registry the caller gives (no globals).

Counted by this process's dispatchers (`service.consumers.dispatcher`):

| metric                                         | labels                        |
|------------------------------------------------|-------------------------------|
| `clerk_relay_consumer_deliveries_total`        | `group`, `attempt`            |
| `clerk_relay_consumer_settlements_total`       | `group`, `outcome`            |
| `clerk_relay_consumer_parked_on_timeout_total` | `group`                       |
| `clerk_relay_consumer_members`                 | `group`                       |
| `clerk_relay_consumer_in_flight`               | `group`                       |
| `clerk_relay_consumer_lag`                     | `group`                       |

`attempt` is `first` or `again`; `outcome` is `ack`, `nack`, `term`, or
`rejected` (a settlement that changed nothing).

Deliveries, settlements, members and in-flight are this process's (sum them
over the `grpc` processes of a split deployment); the lag (the log's head
minus the group's position) is the group's, as the process last read it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["ConsumerMetrics"]


class ConsumerMetrics:
    """The counters and gauges of this process's consumer groups.

    Args:
        registry: Where to register them; a new registry when None.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = CollectorRegistry() if registry is None else registry
        self.deliveries = Counter(
            "clerk_relay_consumer_deliveries",
            "Events handed to members of a group, by attempt (first, again).",
            ["group", "attempt"],
            registry=self.registry,
        )
        self.settlements = Counter(
            "clerk_relay_consumer_settlements",
            "Members' acks, nacks and terms, and those rejected (changed nothing).",
            ["group", "outcome"],
            registry=self.registry,
        )
        self.parked_on_timeout = Counter(
            "clerk_relay_consumer_parked_on_timeout",
            "Events parked unsettled after their last delivery (or trimmed before delivery).",
            ["group"],
            registry=self.registry,
        )
        self.members = Gauge(
            "clerk_relay_consumer_members",
            "Members of a group connected to this process.",
            ["group"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "clerk_relay_consumer_in_flight",
            "Deliveries held unsettled by a group's members connected to this process.",
            ["group"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "clerk_relay_consumer_lag",
            "The log's head minus the group's position (as this process last read them).",
            ["group"],
            registry=self.registry,
        )
