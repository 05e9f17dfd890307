"""`EventStream`: a Subscribe call that survives disconnects, restarts and idle connections.

The stream keeps a *position*: the highest sequence it has yielded, or that
the server reported as examined (`checkpoint`, `caught_up`, `fell_behind`),
whichever is later. When the call fails with a retryable status
(`RETRYABLE_CODES`), ends cleanly (a server shutting down), or stays silent
longer than the idle timeout (the server sends heartbeats on an idle stream,
so silence means the stream is stuck), it waits (`Backoff`) and calls
Subscribe again with `after_sequence = position`. A connection that died
without a word (no FIN, no RST) is found by the channel's keepalive pings
(`RelayClient` sets them), which fail the call with UNAVAILABLE. Every matching event therefore
reaches the caller at least once, in sequence order; events at or below the
position are dropped, so a caller sees each sequence once per `EventStream`.
Any other status (INVALID_ARGUMENT, UNAUTHENTICATED, OUT_OF_RANGE, …) ends
the iteration with the matching `RelayError`: retrying cannot fix it.

A stream that starts live (no `after_sequence`, no saved checkpoint) has no
position until the server's first `caught_up`, which it sends at once; if the
connection fails before that, the retry starts live again.

Checkpoints. With a `Checkpoint`, the stream saves the *acknowledged*
position: the sequence of the last event the caller has come back from (asked
for the next one after it), or a server-reported position once every yielded
event is acknowledged. It saves

- after the caller has come back from the last event of each batch the server
  sent (one save per batch: about one per event when live, one per up to 500
  events while catching up),
- on every `checkpoint`, `caught_up` and `fell_behind` message, so a sparse
  filter still makes progress, and
- when the stream is closed (`aclose`, leaving `async with`, or the end of
  the iteration).

The event being handled when the stream is closed is not acknowledged: it is
delivered again by the next stream that loads the same checkpoint
(at-least-once). Saves never move the position backwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from types import TracebackType

import grpc

from clerkrelay.backoff import Backoff
from clerkrelay.checkpoint import Checkpoint
from clerkrelay.errors import UnavailableError, error_from_rpc
from clerkrelay.v1.event_pb2 import Event
from clerkrelay.v1.event_service_pb2 import SubscribeRequest, SubscribeResponse

__all__ = ["RETRYABLE_CODES", "EventStream", "OpenSubscribe"]

_LOG = logging.getLogger(__name__)

RETRYABLE_CODES: frozenset[grpc.StatusCode] = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,  # unreachable, restarting, connection dropped
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,  # cancelled by the server (our own cancel never gets here)
    }
)
"""Statuses after which a subscription reconnects; every other one is raised."""

OpenSubscribe = Callable[
    [SubscribeRequest], "grpc.aio.UnaryStreamCall[SubscribeRequest, SubscribeResponse]"
]
"""Starts one Subscribe call (the client adds metadata such as the bearer token)."""

_POSITIONED = ("checkpoint", "caught_up", "fell_behind")


class EventStream:
    """An async iterator of `Event`s that reconnects and resumes (see the module docstring).

    Made by `RelayClient.subscribe`; iterate it once. Use it as an async
    context manager (or call `aclose`) so that the final position is saved
    and the call is cancelled when you stop early.

    Args:
        open_call: Starts a Subscribe call for a request.
        request: The filter (`event_types`, `entity_ids`, `organization_id`,
            `max_batch_size`); its start is ignored and set by the stream.
        after_sequence: Start after this sequence (0: the whole retained log);
            None: live, unless the checkpoint holds a position.
        checkpoint: Where the position is loaded from and saved to. When it
            holds a position, the stream starts after the later of that and
            `after_sequence`.
        backoff: The reconnection policy.
        idle_timeout_s: Reconnect when no message (not even a heartbeat)
            arrives for this long; None waits for ever. Keep it well above
            the server's heartbeat interval (5 s by default).
        until_caught_up: End the iteration at the first `caught_up`, i.e. when
            every event stored when the stream (re)started has been yielded.
    """

    def __init__(
        self,
        open_call: OpenSubscribe,
        request: SubscribeRequest,
        *,
        after_sequence: int | None = None,
        checkpoint: Checkpoint | None = None,
        backoff: Backoff | None = None,
        idle_timeout_s: float | None = 30.0,
        until_caught_up: bool = False,
    ) -> None:
        if after_sequence is not None and after_sequence < 0:
            raise ValueError("after_sequence must not be negative")
        if idle_timeout_s is not None and idle_timeout_s <= 0:
            raise ValueError("idle_timeout_s must be positive (or None)")
        self._open_call = open_call
        self._template = SubscribeRequest()
        self._template.CopyFrom(request)
        self._template.ClearField("start")
        self._checkpoint = checkpoint
        self._backoff = backoff or Backoff()
        self._idle_timeout_s = idle_timeout_s
        self._until_caught_up = until_caught_up
        saved = checkpoint.load() if checkpoint is not None else None
        starts = [s for s in (after_sequence, saved) if s is not None]
        self._position: int | None = max(starts) if starts else None
        self._acknowledged = self._position
        self._saved = saved
        self._caught_up = False
        self._reconnects = 0
        self._generator: AsyncGenerator[Event, None] = self._run()

    def __repr__(self) -> str:
        return (
            f"EventStream(position={self._position!r}, caught_up={self._caught_up}, "
            f"reconnects={self._reconnects})"
        )

    @property
    def position(self) -> int | None:
        """The sequence a reconnect resumes after; None while a live start has none yet."""
        return self._position

    @property
    def caught_up(self) -> bool:
        """True between a `caught_up` message and the next reconnect or `fell_behind`."""
        return self._caught_up

    @property
    def reconnects(self) -> int:
        """How many times the stream has called Subscribe again."""
        return self._reconnects

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        return await self._generator.__anext__()

    async def aclose(self) -> None:
        """Stops the stream: cancels the call and saves the acknowledged position."""
        await self._generator.aclose()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _request(self) -> SubscribeRequest:
        request = SubscribeRequest()
        request.CopyFrom(self._template)
        if self._position is not None:
            request.after_sequence = self._position
        return request

    async def _read(
        self, call: grpc.aio.UnaryStreamCall[SubscribeRequest, SubscribeResponse]
    ) -> SubscribeResponse | None:
        """The next message; None at the end of the stream.

        Raises:
            TimeoutError: Nothing arrived within the idle timeout.
        """
        async with asyncio.timeout(self._idle_timeout_s):
            response = await call.read()
        return response if isinstance(response, SubscribeResponse) else None

    def _advance(self, sequence: int) -> None:
        """Takes a server-reported position (every yielded event is acknowledged by now)."""
        if self._position is None or sequence > self._position:
            self._position = sequence
        self._acknowledged = self._position

    def _save(self) -> None:
        acknowledged = self._acknowledged
        if self._checkpoint is None or acknowledged is None:
            return
        if self._saved is not None and acknowledged <= self._saved:
            return
        self._checkpoint.save(acknowledged)
        self._saved = acknowledged

    async def _run(self) -> AsyncGenerator[Event, None]:
        failures = 0
        try:
            while True:
                call = self._open_call(self._request())
                reason = "the server ended the stream"
                try:
                    while (response := await self._read(call)) is not None:
                        failures = 0
                        kind = response.WhichOneof("response")
                        if kind == "events":
                            for event in response.events.events:
                                if self._position is not None and event.sequence <= self._position:
                                    continue  # already yielded before a reconnect
                                self._position = event.sequence
                                yield event
                                self._acknowledged = event.sequence
                            self._save()
                        elif kind in _POSITIONED:
                            marker = getattr(response, kind)
                            self._advance(marker.sequence)
                            self._save()
                            if kind != "checkpoint":
                                self._caught_up = kind == "caught_up"
                            if self._caught_up and self._until_caught_up:
                                return
                except grpc.aio.AioRpcError as error:
                    if error.code() not in RETRYABLE_CODES:
                        raise error_from_rpc(error) from None
                    reason = f"{error.code().name}: {error.details()}"
                except TimeoutError:
                    reason = f"no message for {self._idle_timeout_s:g} s"
                finally:
                    call.cancel()
                failures += 1
                self._caught_up = False
                if self._backoff.exhausted(failures):
                    raise UnavailableError(
                        grpc.StatusCode.UNAVAILABLE,
                        f"gave up after {failures} failed attempts (last: {reason})",
                    )
                delay = self._backoff.delay(failures - 1)
                _LOG.log(
                    logging.INFO if failures == 1 else logging.DEBUG,  # once per outage
                    "subscription interrupted (%s); resuming after %s in %.2f s",
                    reason,
                    self._position,
                    delay,
                )
                await asyncio.sleep(delay)
                self._reconnects += 1
        finally:
            self._save()
