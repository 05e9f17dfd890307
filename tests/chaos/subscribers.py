"""Subscribers for chaos runs: ones that disconnect and resume at random, and a slow one.

Each connection opens a fresh channel and subscribes after the last sequence
the subscriber has seen (0 at first), the way a service persisting its
progress would resume. What every connection received is kept as a `Segment`,
so a check can prove that each stream was gap-free, in order and without
repeats, and that together they covered every matching event.

A subscriber runs until it is told the final head (`finish`) and has seen it
(an event, a checkpoint or `caught_up` at or past it), or until its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import grpc

from clerkrelay.v1.event_service_pb2 import SubscribeRequest, SubscribeResponse
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub

if TYPE_CHECKING:
    from clerkrelay.v1.event_service_pb2_grpc import EventServiceAsyncStub

__all__ = ["SLOW_CHANNEL_OPTIONS", "Segment", "Subscriber", "type_matches"]

SLOW_CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.http2.bdp_probe", 0),
    ("grpc.http2.lookahead_bytes", 1024),
)
"""A tiny HTTP/2 receive window: the server can push little ahead of the reader."""

_POLL_S = 0.05
_RETRY_PAUSE_S = (0.1, 0.3)
_SLOW_PAUSE_S = (0.01, 0.04)


def type_matches(patterns: Sequence[str], event_type: str) -> bool:
    """Whether an event type matches a Subscribe filter's patterns (none: everything)."""
    if not patterns:
        return True
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


@dataclass(slots=True)
class Segment:
    """What one connection received.

    Attributes:
        after: The sequence it subscribed after.
        events: `(sequence, webhook id)` of every event, in the order received.
        end: How it ended: `disconnected` (on purpose), `finished`, a gRPC
            status name, `eof` (the server ended the stream) or `open`.
    """

    after: int
    events: list[tuple[int, str]] = field(default_factory=list)
    end: str = "open"


class Subscriber:
    """A Subscribe client that reconnects at random, or reads slowly.

    Args:
        name: For reports.
        target: `host:port` of the gRPC service.
        patterns: The event-type patterns of its filter.
        rng: The source of every random choice.
        slow: Read through a tiny HTTP/2 window, pausing between reads, and
            never disconnect on purpose.
        lifetime_s: Bounds of a connection's random lifetime (when not slow).
    """

    def __init__(
        self,
        name: str,
        target: str,
        patterns: Sequence[str],
        rng: random.Random,
        *,
        slow: bool = False,
        lifetime_s: tuple[float, float] = (0.3, 1.5),
    ) -> None:
        self.name = name
        self.target = target
        self.patterns = tuple(patterns)
        self.slow = slow
        self.segments: list[Segment] = []
        self.errors: Counter[str] = Counter()
        self.fell_behind = 0
        self.last_seen = 0  # the sequence of the last event received: where to resume
        self._progress = 0  # the highest sequence known to be examined
        self._rng = rng
        self._lifetime_s = lifetime_s
        self._head: int | None = None

    @property
    def reconnects(self) -> int:
        """Connections after the first."""
        return max(0, len(self.segments) - 1)

    @property
    def finished(self) -> bool:
        """It was told the final head and has seen it."""
        return self._head is not None and self._progress >= self._head

    def finish(self, head: int) -> None:
        """Tells the subscriber the final head: it stops once it has seen that far."""
        self._head = head

    async def run(self, deadline_s: float) -> None:
        """Connects, reads and resumes until `finished`, or for at most `deadline_s`."""
        deadline = time.monotonic() + deadline_s
        while not self.finished and time.monotonic() < deadline:
            segment = Segment(self.last_seen)
            self.segments.append(segment)
            await self._connection(segment, deadline)
            if segment.end not in ("disconnected", "finished"):
                await asyncio.sleep(self._rng.uniform(*_RETRY_PAUSE_S))

    async def _connection(self, segment: Segment, deadline: float) -> None:
        """One channel, one stream: read until finished, the lifetime ends or it fails."""
        options = SLOW_CHANNEL_OPTIONS if self.slow else ()
        ends_at = deadline
        if not self.slow:
            ends_at = min(deadline, time.monotonic() + self._rng.uniform(*self._lifetime_s))
        async with grpc.aio.insecure_channel(self.target, options=options) as channel:
            stub: EventServiceAsyncStub = EventServiceStub(channel)
            call = stub.Subscribe(
                SubscribeRequest(event_types=self.patterns, after_sequence=segment.after)
            )
            reader = asyncio.create_task(self._read(call, segment))
            try:
                while not reader.done():
                    if self.finished:
                        segment.end = "finished"
                        break
                    if time.monotonic() >= ends_at:
                        segment.end = "disconnected"
                        break
                    await asyncio.wait({reader}, timeout=_POLL_S)
            finally:
                reader.cancel()
                call.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    async def _read(
        self, call: grpc.aio.UnaryStreamCall[SubscribeRequest, SubscribeResponse], segment: Segment
    ) -> None:
        try:
            async for response in call:
                self._record(response, segment)
                if self.slow:
                    await asyncio.sleep(self._rng.uniform(*_SLOW_PAUSE_S))
            segment.end = "eof"
        except grpc.aio.AioRpcError as error:
            segment.end = error.code().name
            self.errors[segment.end] += 1

    def _record(self, response: SubscribeResponse, segment: Segment) -> None:
        kind = response.WhichOneof("response")
        if kind == "events":
            for event in response.events.events:
                segment.events.append((event.sequence, event.id))
                self.last_seen = event.sequence
            self._progress = max(self._progress, self.last_seen)
        elif kind == "checkpoint":
            self._progress = max(self._progress, response.checkpoint.sequence)
        elif kind == "caught_up":
            self._progress = max(self._progress, response.caught_up.sequence)
        elif kind == "fell_behind":
            self.fell_behind += 1
