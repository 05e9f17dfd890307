"""`RelayClient`: one grpc.aio channel to clerk-relay, its event stream and its state queries.

```python
async with RelayClient("127.0.0.1:50051", token="…") as client:
    user = await client.get_user("user_123")              # UserRecord, or None
    async for event in client.subscribe(event_types=["user.*"], after_sequence=0):
        print(event.sequence, event.type)
    async with client.consume("welcome-emails", event_types=["user.created"]) as messages:
        async for msg in messages:                         # each event to one member
            async with msg:                                # ack, or nack on an exception
                ...
```

The channel is opened by `async with` (or `open()`, inside a running event
loop) and closed on exit (or by `close()`). Every call carries
`authorization: Bearer <token>` when a token is given. Unary calls time out
after `timeout_s`; streams never do (they detect dead connections with the
server's heartbeats instead, see `EventStream`).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

import grpc

from clerkrelay.backoff import Backoff
from clerkrelay.calls import UnaryCalls
from clerkrelay.checkpoint import Checkpoint
from clerkrelay.consumer_calls import ConsumerCalls
from clerkrelay.errors import error_from_rpc
from clerkrelay.event_lookups import EventLookups
from clerkrelay.limits import DEFAULT_CLIENT_RECEIVE_BYTES
from clerkrelay.listing import Listing, Snapshot
from clerkrelay.state import StateQueries
from clerkrelay.stream import EventStream
from clerkrelay.v1.consumer_service_pb2_grpc import ConsumerServiceStub
from clerkrelay.v1.event_service_pb2 import SubscribeRequest
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from clerkrelay.v1.reconcile_service_pb2 import ReconcileRequest, ReconcileResponse
from clerkrelay.v1.reconcile_service_pb2_grpc import ReconcileServiceStub
from clerkrelay.v1.state_service_pb2_grpc import StateServiceStub

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "DEFAULT_TARGET", "RelayClient"]

if TYPE_CHECKING:  # the async stub types exist only in the .pyi files
    from clerkrelay.v1.consumer_service_pb2_grpc import ConsumerServiceAsyncStub
    from clerkrelay.v1.event_service_pb2_grpc import EventServiceAsyncStub
    from clerkrelay.v1.reconcile_service_pb2_grpc import ReconcileServiceAsyncStub
    from clerkrelay.v1.state_service_pb2_grpc import StateServiceAsyncStub

DEFAULT_TARGET = "127.0.0.1:50051"
"""Where `clerk-relay serve` listens for gRPC by default."""

DEFAULT_MAX_MESSAGE_BYTES = DEFAULT_CLIENT_RECEIVE_BYTES
"""Largest message the client accepts: gRPC's default, 4 MiB, which every message the relay
sends fits (`clerkrelay.limits`)."""

_Record = TypeVar("_Record")

_ChannelOption = tuple[str, str | int]

_NOT_OPEN = "the client is not open: use `async with RelayClient(…)`"


class RelayClient(EventLookups, StateQueries, ConsumerCalls):
    """A client of one clerk-relay gRPC service.

    Args:
        target: `host:port` of the gRPC service (any target grpc accepts).
        token: Bearer token sent with every call; None sends none.
        tls: Use TLS (implied by `root_certificates`). Without root
            certificates, the system's trust store verifies the server.
        root_certificates: PEM CA certificate(s) to verify the server with.
        tls_server_name: The name to verify the server's certificate against,
            when it differs from the target's host (tests, IP targets).
        max_message_bytes: Largest message sent or received (gRPC's default
            4 MiB, which every message the relay sends fits).
        timeout_s: Deadline of each unary call; None waits for ever.
        channel_options: Extra grpc channel options (they win over the defaults).
    """

    __slots__ = (
        "_channel",
        "_calls",
        "_consumers",
        "_channel_options",
        "_credentials",
        "_events",
        "_metadata",
        "_reconcile",
        "_state",
        "_target",
    )

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        token: str | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        tls_server_name: str | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        timeout_s: float | None = 30.0,
        channel_options: Sequence[_ChannelOption] = (),
    ) -> None:
        if token is not None and (not token or len(token.split()) != 1):
            raise ValueError("a token must be non-empty and contain no whitespace")
        if max_message_bytes < 1:
            raise ValueError("max_message_bytes must be positive")
        self._target = target
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self._credentials = (
            grpc.ssl_channel_credentials(root_certificates)
            if tls or root_certificates is not None
            else None
        )
        options: dict[str, str | int] = {
            "grpc.max_receive_message_length": max_message_bytes,
            "grpc.max_send_message_length": max_message_bytes,
            # grpc's own reconnection backoff grows to 2 minutes by default: keep
            # it in step with a subscription's (Backoff.max_delay_s), so a
            # restarted server is found again within seconds.
            "grpc.initial_reconnect_backoff_ms": 100,
            "grpc.min_reconnect_backoff_ms": 100,
            "grpc.max_reconnect_backoff_ms": 10_000,
            # Notice a connection that died without a word (a NAT or load
            # balancer dropped it) within about 40 s: ping every 30 s while a
            # call is open, and give up on a ping after 10 s (grpc's own
            # default for that is a minute). The server's heartbeats (every
            # 5 s on a stream) keep these pings within its ping policy; pings
            # continue on a long server stream that sends the server no data.
            "grpc.keepalive_time_ms": 30_000,
            "grpc.keepalive_timeout_ms": 10_000,
            "grpc.http2.ping_timeout_ms": 10_000,
            "grpc.keepalive_permit_without_calls": 0,
            "grpc.http2.max_pings_without_data": 0,
        }
        if tls_server_name:
            options["grpc.ssl_target_name_override"] = tls_server_name
        options.update(dict(channel_options))
        self._channel_options = tuple(options.items())
        self._calls = UnaryCalls(self._metadata, timeout_s)
        self._channel: grpc.aio.Channel | None = None
        self._events: EventServiceAsyncStub | None = None
        self._state: StateServiceAsyncStub | None = None
        self._reconcile: ReconcileServiceAsyncStub | None = None
        self._consumers: ConsumerServiceAsyncStub | None = None
        super().__init__(self._state_stub, self._calls)

    def __repr__(self) -> str:
        state = "open" if self._channel is not None else "closed"
        tls = "tls" if self._credentials is not None else "plaintext"
        return f"RelayClient({self._target!r}, {tls}, {state})"

    @property
    def target(self) -> str:
        """The gRPC target."""
        return self._target

    def open(self) -> RelayClient:
        """Creates the channel (call it inside a running event loop); does nothing if open.

        Connecting happens on the first call, not here.

        Returns:
            The client itself.
        """
        if self._channel is None:
            if self._credentials is None:
                channel = grpc.aio.insecure_channel(self._target, options=self._channel_options)
            else:
                channel = grpc.aio.secure_channel(
                    self._target, self._credentials, options=self._channel_options
                )
            self._channel = channel
            self._events = EventServiceStub(channel)
            self._state = StateServiceStub(channel)
            self._reconcile = ReconcileServiceStub(channel)
            self._consumers = ConsumerServiceStub(channel)
        return self

    async def close(self) -> None:
        """Closes the channel: calls in flight end with CANCELLED. Does nothing if closed."""
        channel, self._channel = self._channel, None
        self._events = self._state = None
        self._reconcile = None
        self._consumers = None
        if channel is not None:
            await channel.close(None)

    async def __aenter__(self) -> RelayClient:
        return self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _event_stub(self) -> EventServiceAsyncStub:
        if self._events is None:
            raise RuntimeError(_NOT_OPEN)
        return self._events

    def _consumer_stub(self) -> ConsumerServiceAsyncStub:
        if self._consumers is None:
            raise RuntimeError(_NOT_OPEN)
        return self._consumers

    def _state_stub(self) -> StateServiceAsyncStub:
        if self._state is None:
            raise RuntimeError(_NOT_OPEN)
        return self._state

    async def reconcile(
        self, kinds: Iterable[str] = (), *, allow_mass_delete: bool = False
    ) -> AsyncIterator[ReconcileResponse]:
        """Asks the relay to reconcile its mirror with Clerk's Backend API now.

        Needs an admin token when the relay's auth is on. The call has no
        deadline; leaving the iteration early cancels the pass.

        Args:
            kinds: Registry kind names (`user`, `organization_membership`);
                empty means every kind Clerk can list.
            allow_mass_delete: Delete past the relay's mass-delete guard.

        Yields:
            Each kind's progress as it changes, then the pass's summary.

        Raises:
            RelayError: The call failed: ABORTED (a pass is already running),
                FAILED_PRECONDITION (no secret key), PermissionDeniedError
                (not an admin token), UnavailableError, …
        """
        if self._reconcile is None:
            raise RuntimeError(_NOT_OPEN)
        request = ReconcileRequest(kinds=kinds, allow_mass_delete=allow_mass_delete)
        try:
            async for response in self._reconcile.Reconcile(request, metadata=self._metadata):
                yield response
        except grpc.aio.AioRpcError as error:
            raise error_from_rpc(error) from None

    def subscribe(
        self,
        *,
        event_types: str | Iterable[str] = (),
        after_sequence: int | None = None,
        organization_id: str = "",
        entity_ids: Iterable[str] = (),
        checkpoint: Checkpoint | None = None,
        max_batch_size: int = 0,
        backoff: Backoff | None = None,
        idle_timeout_s: float | None = 30.0,
        until_caught_up: bool = False,
    ) -> EventStream:
        """Subscribes to events; the stream reconnects and resumes on its own.

        See `EventStream` for the delivery guarantees, the retried statuses
        and when the checkpoint is saved.

        Args:
            event_types: Patterns: an exact type (`user.created`), a family
                (`user.*`) or `*`; empty means every event.
            after_sequence: Start after this sequence; 0 is the whole retained
                log. None (and no saved checkpoint): live, from now on.
            organization_id: Only events that belong to this organization.
            entity_ids: Only events about one of these ids (the payload's id
                or the user it concerns).
            checkpoint: Loaded once now; when it holds a position the stream
                starts after the later of it and `after_sequence`. Saved as the
                stream makes progress.
            max_batch_size: Largest batch the server should send; 0: its default.
            backoff: Reconnection policy; the default retries for ever.
            idle_timeout_s: Reconnect after this long without any message.
            until_caught_up: End the iteration once every stored event has
                been yielded (a replay), instead of following live events.

        Returns:
            An `EventStream`: iterate it with `async for`, ideally inside
            `async with` so the final position is saved.

        Raises:
            RuntimeError: The client is not open.
            ValueError: The checkpoint's file is corrupt, or an argument is invalid.
        """
        stub = self._event_stub()
        if isinstance(event_types, str):
            event_types = [event_types]
        request = SubscribeRequest(
            event_types=event_types,
            entity_ids=entity_ids,
            organization_id=organization_id,
            max_batch_size=max_batch_size,
        )
        return EventStream(
            functools.partial(stub.Subscribe, metadata=self._metadata),
            request,
            after_sequence=after_sequence,
            checkpoint=checkpoint,
            backoff=backoff,
            idle_timeout_s=idle_timeout_s,
            until_caught_up=until_caught_up,
        )

    async def snapshot_then_subscribe(
        self,
        listing: Listing[_Record],
        *,
        event_types: str | Iterable[str] = (),
        organization_id: str = "",
        entity_ids: Iterable[str] = (),
        max_batch_size: int = 0,
        backoff: Backoff | None = None,
        idle_timeout_s: float | None = 30.0,
    ) -> tuple[Snapshot[_Record], EventStream]:
        """Lists, then subscribes right after the listing's sequence (list-watch).

        ```python
        snapshot, events = await client.snapshot_then_subscribe(
            client.list_organization_memberships(organization_id="org_1"),
            event_types="organizationMembership.*",
            organization_id="org_1",
        )
        members = {r.organization_membership.id: r for r in snapshot.records}
        async with events:
            async for event in events: ...
        ```

        Every change committed after the listing started reaches the stream,
        so the snapshot plus the events miss nothing. A change may show in
        both (records on later pages can be newer than the first page): an
        event whose sequence is at or below a record's `event_sequence` is
        already part of that record. There is no checkpoint parameter: a
        saved position later than the snapshot would open a gap.

        Args:
            listing: What to list, e.g. `client.list_users()`.
            event_types: Patterns, as for `subscribe`.
            organization_id: As for `subscribe`.
            entity_ids: As for `subscribe`.
            max_batch_size: As for `subscribe`.
            backoff: As for `subscribe`.
            idle_timeout_s: As for `subscribe`.

        Returns:
            The snapshot (every record and its sequence) and the stream of
            the events after it.

        Raises:
            RelayError: The listing failed.
        """
        snapshot = await listing.collect()
        stream = self.subscribe(
            event_types=event_types,
            after_sequence=snapshot.sequence,
            organization_id=organization_id,
            entity_ids=entity_ids,
            max_batch_size=max_batch_size,
            backoff=backoff,
            idle_timeout_s=idle_timeout_s,
        )
        return snapshot, stream
