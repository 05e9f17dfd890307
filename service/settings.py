"""The gRPC service's configuration: one frozen object, built by the command line.

The command line declares each setting once (flag, variable, default, parser:
`relay.settings`) and builds this from them; the defaults are this object's,
and those of the stream limits are `StreamLimits`'. Nothing here holds state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from clerkrelay.client import DEFAULT_TARGET
from clerkrelay.limits import MAX_MESSAGE_BYTES
from service.auth import Role
from service.reconcile.settings import ReconcileSettings
from service.storage import DEFAULT_DATABASE_URL, Retention
from service.subscription import StreamLimits

__all__ = ["DEFAULT_GRPC_ADDR", "ServiceSettings"]

DEFAULT_GRPC_ADDR = DEFAULT_TARGET
"""Loopback only: reaching the service from elsewhere is a deliberate choice (and where
the clients look by default)."""

_LIMITS = StreamLimits()


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """What the gRPC service needs to know.

    Attributes:
        grpc_addr: `host:port` to listen on (port 0 picks a free one).
        database_url: The store (`sqlite:///path` or `postgresql://…`).
        tokens: Accepted bearer tokens and their roles (`service.auth`); empty
            turns authentication off. Never shown in `repr`.
        tls_cert_file: PEM certificate (chain) for TLS; with `tls_key_file`.
        tls_key_file: PEM private key for TLS; with `tls_cert_file`.
        heartbeat_interval_s: Idle Subscribe streams get a heartbeat this often.
        checkpoint_every: A checkpoint at least every this many examined events.
        checkpoint_interval_s: And at least this often while events are examined.
        live_buffer_events: Each stream's live buffer; overflowing it means `fell_behind`.
        max_batch_events: Most events in one `EventBatch`.
        max_batch_bytes: Most event bytes in one `EventBatch`.
        shutdown_grace_s: How long `server.stop` lets calls finish.
        retention: How much of the log to keep.
        expose_ingest: Serve `IngestService` (False when the gateway runs in
            the same process and appends directly).
        reconcile: Backfill and reconciliation from Clerk's Backend API; None
            (no secret key) runs no pass.
    """

    grpc_addr: str = DEFAULT_GRPC_ADDR
    database_url: str = DEFAULT_DATABASE_URL
    tokens: Mapping[str, Role] = field(default_factory=dict, repr=False)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    heartbeat_interval_s: float = _LIMITS.heartbeat_interval_s
    checkpoint_every: int = _LIMITS.checkpoint_every
    checkpoint_interval_s: float = _LIMITS.checkpoint_interval_s
    live_buffer_events: int = _LIMITS.live_buffer_events
    max_batch_events: int = _LIMITS.max_batch_events
    max_batch_bytes: int = _LIMITS.max_batch_bytes
    shutdown_grace_s: float = 5.0
    retention: Retention = field(default_factory=Retention)
    expose_ingest: bool = True
    reconcile: ReconcileSettings | None = None

    def stream_limits(self) -> StreamLimits:
        """The Subscribe stream limits these settings ask for."""
        return StreamLimits(
            max_batch_events=self.max_batch_events,
            max_batch_bytes=self.max_batch_bytes,
            live_buffer_events=self.live_buffer_events,
            checkpoint_every=self.checkpoint_every,
            checkpoint_interval_s=self.checkpoint_interval_s,
            heartbeat_interval_s=self.heartbeat_interval_s,
        )

    def __post_init__(self) -> None:
        if not self.grpc_addr or ":" not in self.grpc_addr:
            raise ValueError(f"grpc_addr must be host:port (got {self.grpc_addr!r})")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("TLS needs both a certificate file and a key file")
        if any(not token or len(token.split()) != 1 for token in self.tokens):
            raise ValueError("tokens must be non-empty and contain no whitespace")
        for name in ("heartbeat_interval_s", "checkpoint_interval_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("checkpoint_every", "live_buffer_events", "max_batch_events"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 1 <= self.max_batch_bytes <= MAX_MESSAGE_BYTES:
            raise ValueError(f"max_batch_bytes must be between 1 and {MAX_MESSAGE_BYTES}")
        if self.shutdown_grace_s < 0:
            raise ValueError("shutdown_grace_s must not be negative")

    @property
    def auth_enabled(self) -> bool:
        """Bearer tokens are required."""
        return bool(self.tokens)

    @property
    def tls_enabled(self) -> bool:
        """The listener uses TLS."""
        return self.tls_cert_file is not None and self.tls_key_file is not None
