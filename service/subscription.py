"""One Subscribe stream: history from the log, then live events, with no gap and no repeat.

The hand-over works because the stream registers its live buffer *before* it
reads history: every event committed after registration is in the buffer, and
every event committed before it is visible to the reads that follow. Reading
stops when a read finds nothing new; buffered events at or below the last
sequence read are dropped, the rest are sent live. `position` (the last
sequence sent or examined) only moves forward, so nothing is sent twice.

When the live buffer overflows, the stream says `fell_behind`, reads the log
from `position` again, and says `caught_up` when it is back to live delivery.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass

from service import wire
from service.broadcaster import Broadcaster, LiveBuffer
from service.filters import EventFilter
from service.lazy_timer import LazyTimer
from service.storage import Store

__all__ = ["StreamLimits", "Subscription"]


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """How a stream batches and paces its messages.

    `catch_up_read_events` is how many events a stream that matches everything
    reads from the log at once while catching up (a filtered stream reads
    `max_batch_events` at a time, so its checkpoints stay as frequent);
    `max_batch_events` and `max_batch_bytes` bound each message either way.
    """

    max_batch_events: int = 500
    max_batch_bytes: int = 1 << 20
    live_buffer_events: int = 1024
    catch_up_read_events: int = 1000
    checkpoint_every: int = 1000
    checkpoint_interval_s: float = 5.0
    heartbeat_interval_s: float = 5.0


class Subscription:
    """Produces the serialized `SubscribeResponse` messages of one stream.

    An async context manager: entering registers the live buffer with the
    broadcaster, leaving unregisters it, once, however the stream ends::

        async with Subscription(store, broadcaster, event_filter, limits) as stream:
            after = ...  # resolve the start only now
            async for message in stream.messages(after):
                ...
    """

    def __init__(
        self,
        store: Store,
        broadcaster: Broadcaster,
        event_filter: EventFilter,
        limits: StreamLimits,
    ) -> None:
        self._store = store
        self._broadcaster = broadcaster
        self._filter = event_filter
        self._matches = None if event_filter.matches_all else event_filter
        self._limits = limits
        self._buffer: LiveBuffer | None = None
        self.position = 0  # the last sequence sent or examined
        self.fell_behind_count = 0  # times the live buffer overflowed
        self.bytes_sent = 0  # bytes of the messages produced
        self._reported = 0  # the last sequence the client was told about
        self._last_sent = time.monotonic()

    async def __aenter__(self) -> Subscription:
        """Starts buffering live events; resolve the start only after this."""
        self._buffer = self._broadcaster.register(self._filter, self._limits.live_buffer_events)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stops buffering (the stream ended, was cancelled, or failed)."""
        if self._buffer is not None:
            self._broadcaster.unregister(self._buffer)
            self._buffer = None

    async def messages(self, after_sequence: int) -> AsyncGenerator[bytes, None]:
        """The stream's messages, history after `after_sequence` first (inside `async with`)."""
        buffer = self._buffer
        assert buffer is not None, "async with the subscription first"
        self.position = self._reported = after_sequence
        while True:
            async for message in self._catch_up(buffer):
                yield message
            if buffer.closed:
                return
            yield self._sent(wire.caught_up(self.position))
            async for message in self._live(buffer):
                yield message
            if buffer.closed:
                return
            self.fell_behind_count += 1
            yield self._sent(wire.fell_behind(self.position))
            buffer.reset()

    async def _catch_up(self, buffer: LiveBuffer) -> AsyncIterator[bytes]:
        """Reads the log from `position` until a read finds nothing new."""
        limits = self._limits
        while not buffer.closed:
            events, examined, last_match = await self._read_history()
            if examined == self.position:
                if not buffer.overflowed:
                    return
                buffer.reset()  # missed live events are in the log: keep reading
                continue
            for message in self._batches(events):
                yield self._sent(message)
            self.position = examined
            self._reported = max(self._reported, last_match)
            if self.position - self._reported >= limits.checkpoint_every:
                yield self._checkpoint()

    async def _read_history(self) -> tuple[list[bytes], int, int]:
        """The next page of the log after `position`.

        Returns the matching events (serialized), the last sequence examined,
        and the last matching sequence (0 when none matched). A stream that
        matches everything reads only the serialized events, in larger pages.
        """
        limits = self._limits
        if self._matches is None:
            page = await self._store.read_serialized(self.position, limits.catch_up_read_events)
            return page.events, page.last_examined, page.last_examined
        result = await self._store.read(self.position, limits.max_batch_events, self._matches)
        events = result.events
        return (
            [event.data for event in events],
            result.last_examined,
            events[-1].sequence if events else 0,
        )

    async def _live(self, buffer: LiveBuffer) -> AsyncIterator[bytes]:
        """Sends buffered events as they come; returns on overflow or close.

        Checkpoints and heartbeats fall due while the stream waits; one
        `LazyTimer` wakes it for them. Sending a message moves the due time
        later without touching the timer, so a message costs no timer of its
        own: an `asyncio.timeout` around each wait was about a fifth of a live
        stream's Python time per event.
        """
        loop = asyncio.get_running_loop()

        def wake_when_due() -> float | None:
            wait = self._housekeeping_due()
            if wait > 0:
                return loop.time() + wait  # messages were sent since the timer was set
            buffer.wakeup.set()
            return None

        timer = LazyTimer(loop, wake_when_due)
        try:
            while True:
                events, examined = buffer.take()
                if buffer.overflowed:
                    # The buffer dropped events it had not handed over, and `examined`
                    # is past them: the log has them, after `position`, not after it.
                    return
                fresh = [event for event in events if event.sequence > self.position]
                if len(fresh) == 1:
                    yield self._sent(wire.event_message(fresh[0].data))
                else:
                    for message in self._batches([event.data for event in fresh]):
                        yield self._sent(message)
                if fresh:
                    self.position = self._reported = fresh[-1].sequence
                self.position = max(self.position, examined)
                if buffer.overflowed or (buffer.closed and not buffer.wakeup.is_set()):
                    return
                due = self._housekeeping_due()
                if due <= 0:
                    yield self._housekeeping()
                    continue
                timer.arm(loop.time() + due)
                await buffer.wakeup.wait()
        finally:
            timer.cancel()

    def _batches(self, events: Sequence[bytes]) -> list[bytes]:
        """The messages carrying these serialized events, batched within the limits."""
        limits = self._limits
        return wire.event_batches(events, limits.max_batch_events, limits.max_batch_bytes)

    def _housekeeping_due(self) -> float:
        """Seconds until the next checkpoint or heartbeat is due (≤ 0: now)."""
        limits = self._limits
        idle = time.monotonic() - self._last_sent
        if self.position > self._reported:
            if self.position - self._reported >= limits.checkpoint_every:
                return 0.0
            return min(limits.checkpoint_interval_s, limits.heartbeat_interval_s) - idle
        return limits.heartbeat_interval_s - idle

    def _housekeeping(self) -> bytes:
        """A checkpoint when progress is unreported, else a heartbeat."""
        if self.position > self._reported:
            return self._checkpoint()
        return self._sent(wire.heartbeat(self.position, time.time_ns()))

    def _checkpoint(self) -> bytes:
        self._reported = self.position
        return self._sent(wire.checkpoint(self.position))

    def _sent(self, message: bytes) -> bytes:
        self._last_sent = time.monotonic()
        self.bytes_sent += len(message)
        return message
