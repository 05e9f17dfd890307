"""The gateway's Prometheus metrics, in a registry of their own (one per app, no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from clerkrelay.v1.event_pb2 import PayloadOmission
from gateway.ingest_history import IngestHistory
from gateway.outcome import Outcome

__all__ = ["GatewayMetrics", "Outcome"]

# Ingest is a signature check, a conversion and a durable append: sub-millisecond
# to a few milliseconds normally, up to the publish timeout when the store is slow.
_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class GatewayMetrics:
    """Counters, histogram and gauge of one gateway app.

    Every outcome's counter exists from the start (at 0), so a rate query
    works before the first failure of a kind.

    Args:
        registry: Where to register the metrics; a new registry when None.
        history: The last hour per minute, for the ingest chart; a new one when None.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, history: IngestHistory | None = None
    ) -> None:
        self.registry = CollectorRegistry() if registry is None else registry
        self.history = IngestHistory() if history is None else history
        received = Counter(
            "clerk_relay_webhooks_received",
            "Webhooks received, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self._received = {outcome: received.labels(outcome.value) for outcome in Outcome}
        self._latency = Histogram(
            "clerk_relay_ingest_latency_seconds",
            "Time from receiving a webhook to answering it, for accepted and duplicate webhooks.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._drift = Counter(
            "clerk_relay_conversion_drift_fields",
            "Fields of accepted webhooks that the contract does not type, by event type.",
            ["event_type"],
            registry=self.registry,
        )
        omitted = Counter(
            "clerk_relay_payload_omissions",
            "Accepted webhooks stored without their typed payload, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self._omitted = {
            value: omitted.labels(name.removeprefix("PAYLOAD_OMISSION_").lower())
            for name, value in PayloadOmission.items()
            if value != PayloadOmission.PAYLOAD_OMISSION_UNSPECIFIED
        }
        self._sequence = Gauge(
            "clerk_relay_sequence",
            "The highest sequence the store has assigned to an event this gateway published.",
            registry=self.registry,
        )
        self._highest_sequence = 0

    def received(self, outcome: Outcome) -> None:
        """Counts one webhook with its outcome (and in the last hour's history)."""
        self._received[outcome].inc()
        self.history.record(outcome)

    def ingested(self, seconds: float) -> None:
        """Records the latency of one accepted or duplicate webhook."""
        self._latency.observe(seconds)

    def drifted(self, event_type: str, fields: int) -> None:
        """Counts the untyped fields of one accepted event."""
        self._drift.labels(event_type).inc(fields)

    def omitted(self, why: PayloadOmission.ValueType) -> None:
        """Counts one accepted event stored without its typed payload."""
        self._omitted[why].inc()

    def sequence_seen(self, sequence: int) -> None:
        """Raises the sequence gauge to `sequence` (answers may arrive out of order)."""
        if sequence > self._highest_sequence:
            self._highest_sequence = sequence
            self._sequence.set(sequence)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The metrics in the format the scraper asked for.

        Args:
            accept: The scraper's `Accept` header.

        Returns:
            The body and its content type.
        """
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
