"""The open Subscribe streams of this process: what each asks for, how far it is, its metrics.

`Subscribers.open` tracks one stream for as long as it lasts; the stream's
`Subscription` reports its progress (`position`, falls behind, bytes sent).
The head is the newest sequence this process has seen committed (by any
process sharing the database), so a stream's lag is `head - position`: how
many events of the log it has not examined yet.

Prometheus metrics (when given a registry), with bounded labels whatever the
number of streams:

- `clerk_relay_subscriber_streams`: streams open now.
- `clerk_relay_subscriber_streams_by_lag{lag}`: streams open now, by lag range.
- `clerk_relay_subscriber_max_lag_events`: the largest lag of any open stream.
- `clerk_relay_subscriber_fell_behind_total`: times a stream fell behind live delivery.
- `clerk_relay_subscriber_sent_bytes_total`: bytes of stream messages sent.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.storage import Store, StoredEvent

__all__ = ["LAG_RANGES", "Progress", "StreamStats", "Subscribers"]

LAG_RANGES: tuple[tuple[str, int], ...] = (
    ("0", 0),
    ("1-100", 100),
    ("101-1000", 1000),
    ("1001-10000", 10_000),
    ("10001+", 2**63),
)
"""The `lag` label's values, each with the largest lag it covers."""


class Progress(Protocol):
    """What a stream reports about itself (`service.subscription.Subscription`)."""

    position: int
    fell_behind_count: int
    bytes_sent: int


@dataclass(slots=True)
class StreamStats:
    """One open stream, as an operator sees it.

    Attributes:
        id: Its number in this process (1, 2, …).
        event_types: Its type patterns (empty: every type).
        entity_ids: Its entity ids, if any.
        organization_id: Its organization, or "".
        peer: Who opened it (gRPC's peer string: `ipv4:127.0.0.1:53412`).
        opened_ns: When it opened (ns since the epoch).
        progress: The stream's own counters, once its subscription exists.
    """

    id: int
    event_types: tuple[str, ...]
    entity_ids: tuple[str, ...]
    organization_id: str
    peer: str
    opened_ns: int
    progress: Progress | None = field(default=None)

    @property
    def position(self) -> int:
        """The last sequence the stream sent or examined."""
        return 0 if self.progress is None else self.progress.position

    @property
    def fell_behind(self) -> int:
        """How many times it fell behind live delivery."""
        return 0 if self.progress is None else self.progress.fell_behind_count

    @property
    def bytes_sent(self) -> int:
        """Bytes of messages it has sent."""
        return 0 if self.progress is None else self.progress.bytes_sent

    def filter_text(self) -> str:
        """Its filter in one line: `types=user.* entities=user_1 organization=org_1`."""
        parts = [f"types={','.join(self.event_types) or '*'}"]
        if self.entity_ids:
            parts.append(f"entities={','.join(self.entity_ids)}")
        if self.organization_id:
            parts.append(f"organization={self.organization_id}")
        return " ".join(parts)


class Subscribers(Collector):
    """The open streams of one gRPC server, and their metrics.

    Args:
        store: Its commits move the head; `close` stops listening.
        registry: Where to register the metrics; none when None.
    """

    def __init__(self, store: Store, registry: CollectorRegistry | None = None) -> None:
        self._open: dict[int, StreamStats] = {}
        self._ids = itertools.count(1)
        self._closed_fell_behind = 0
        self._closed_bytes = 0
        self.head = 0
        """The newest sequence seen committed."""
        self._remove = store.add_listener(self._on_commit)
        self._registry = registry
        if registry is not None:
            registry.register(self)

    def _on_commit(self, batch: Iterable[StoredEvent]) -> None:
        for stored in batch:
            self.head = max(self.head, stored.sequence)

    def saw_head(self, sequence: int) -> None:
        """Raises the head to `sequence` (read from the store at start-up)."""
        self.head = max(self.head, sequence)

    @contextlib.contextmanager
    def open(
        self, event_types: Iterable[str], entity_ids: Iterable[str], organization_id: str, peer: str
    ) -> Iterator[StreamStats]:
        """Tracks one stream for the duration of the block."""
        stats = StreamStats(
            next(self._ids),
            tuple(event_types),
            tuple(entity_ids),
            organization_id,
            peer,
            time.time_ns(),
        )
        self._open[stats.id] = stats
        try:
            yield stats
        finally:
            del self._open[stats.id]
            self._closed_fell_behind += stats.fell_behind
            self._closed_bytes += stats.bytes_sent

    def streams(self) -> list[StreamStats]:
        """The open streams, oldest first."""
        return sorted(self._open.values(), key=lambda stats: stats.id)

    def lag(self, stats: StreamStats) -> int:
        """How many events of the log the stream has not examined yet."""
        return max(0, self.head - stats.position)

    def collect(self) -> Iterable[Metric]:
        """The metrics (see the module docstring)."""
        streams = list(self._open.values())
        lags = [self.lag(stats) for stats in streams]
        yield GaugeMetricFamily(
            "clerk_relay_subscriber_streams", "Subscribe streams open now.", value=len(streams)
        )
        by_lag = GaugeMetricFamily(
            "clerk_relay_subscriber_streams_by_lag",
            "Subscribe streams open now, by how many events they are behind the head.",
            labels=["lag"],
        )
        low = 0
        for label, high in LAG_RANGES:
            by_lag.add_metric([label], sum(1 for lag in lags if low <= lag <= high))
            low = high + 1
        yield by_lag
        yield GaugeMetricFamily(
            "clerk_relay_subscriber_max_lag_events",
            "The largest number of events any open stream is behind the head.",
            value=max(lags, default=0),
        )
        yield CounterMetricFamily(
            "clerk_relay_subscriber_fell_behind",
            "Times a Subscribe stream fell behind live delivery and read the log again.",
            value=self._closed_fell_behind + sum(stats.fell_behind for stats in streams),
        )
        yield CounterMetricFamily(
            "clerk_relay_subscriber_sent_bytes",
            "Bytes of Subscribe stream messages sent.",
            value=self._closed_bytes + sum(stats.bytes_sent for stats in streams),
        )

    def close(self) -> None:
        """Stops following the store's commits and unregisters the metrics."""
        self._remove()
        if self._registry is not None:
            self._registry.unregister(self)
            self._registry = None
