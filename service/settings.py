"""The gRPC service's configuration: one frozen object, built from the environment and flags.

`from_env` reads the `CLERK_RELAY_*` variables; the command line then
overrides fields with `dataclasses.replace`. Nothing here holds state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from clerkrelay.limits import MAX_MESSAGE_BYTES
from service.auth import Role, load_tokens
from service.storage import DEFAULT_DATABASE_URL, Retention
from service.subscription import StreamLimits

__all__ = ["DEFAULT_GRPC_ADDR", "ServiceSettings", "from_env", "parse_duration"]

DEFAULT_GRPC_ADDR = "127.0.0.1:50051"
"""Loopback only: reaching the service from elsewhere is a deliberate choice."""

_UNITS_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


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
    """

    grpc_addr: str = DEFAULT_GRPC_ADDR
    database_url: str = DEFAULT_DATABASE_URL
    tokens: Mapping[str, Role] = field(default_factory=dict, repr=False)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    heartbeat_interval_s: float = 5.0
    checkpoint_every: int = 1000
    checkpoint_interval_s: float = 5.0
    live_buffer_events: int = 1024
    max_batch_events: int = 500
    max_batch_bytes: int = 1024 * 1024
    shutdown_grace_s: float = 5.0
    retention: Retention = field(default_factory=Retention)
    expose_ingest: bool = True

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


def parse_duration(text: str) -> float:
    """Seconds in a duration such as `90`, `90s`, `15m`, `12h`, `7d` or `2w`.

    Raises:
        ValueError: The text is not a non-negative number with an optional unit.
    """
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if found is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 12h, 7d)")
    return float(found[1]) * _UNITS_S[found[2]]


def from_env(environ: Mapping[str, str]) -> ServiceSettings:
    """Settings from `CLERK_RELAY_*` environment variables; unset ones keep their default.

    Reads `CLERK_RELAY_GRPC_ADDR`, `CLERK_RELAY_DATABASE_URL`,
    `CLERK_RELAY_TOKENS` (subscriber tokens, comma- or space-separated),
    `CLERK_RELAY_INGEST_TOKENS`, `CLERK_RELAY_ADMIN_TOKENS`,
    `CLERK_RELAY_TOKENS_FILE` (one token a line, optionally after its role;
    `#` comments), `CLERK_RELAY_TLS_CERT`,
    `CLERK_RELAY_TLS_KEY`, `CLERK_RELAY_RETENTION_MAX_AGE` (a duration, see
    `parse_duration`), `CLERK_RELAY_RETENTION_MAX_COUNT`,
    `CLERK_RELAY_HEARTBEAT_INTERVAL` (a duration) and `CLERK_RELAY_LIVE_BUFFER`
    (events buffered per live stream before it falls behind).

    Raises:
        ValueError: A variable is malformed or a file named by one cannot be
            read; the message names the variable.
    """

    def get(name: str) -> str | None:
        value = environ.get(name, "").strip()
        return value or None

    defaults = ServiceSettings()
    tokens_file = get("CLERK_RELAY_TOKENS_FILE")
    cert = get("CLERK_RELAY_TLS_CERT")
    key = get("CLERK_RELAY_TLS_KEY")
    max_age = get("CLERK_RELAY_RETENTION_MAX_AGE")
    max_count = get("CLERK_RELAY_RETENTION_MAX_COUNT")
    max_age_s = None if max_age is None else _duration("CLERK_RELAY_RETENTION_MAX_AGE", max_age)
    try:
        tokens = load_tokens(
            None if tokens_file is None else Path(tokens_file),
            get("CLERK_RELAY_TOKENS"),
            ingest=get("CLERK_RELAY_INGEST_TOKENS"),
            admin=get("CLERK_RELAY_ADMIN_TOKENS"),
        )
    except ValueError as error:
        raise ValueError(f"CLERK_RELAY_TOKENS_FILE: {error}") from error
    heartbeat = get("CLERK_RELAY_HEARTBEAT_INTERVAL")
    live_buffer = get("CLERK_RELAY_LIVE_BUFFER")
    return ServiceSettings(
        heartbeat_interval_s=(
            defaults.heartbeat_interval_s
            if heartbeat is None
            else _duration("CLERK_RELAY_HEARTBEAT_INTERVAL", heartbeat)
        ),
        live_buffer_events=(
            defaults.live_buffer_events
            if live_buffer is None
            else _positive_count("CLERK_RELAY_LIVE_BUFFER", live_buffer)
        ),
        grpc_addr=get("CLERK_RELAY_GRPC_ADDR") or defaults.grpc_addr,
        database_url=get("CLERK_RELAY_DATABASE_URL") or defaults.database_url,
        tokens=tokens,
        tls_cert_file=None if cert is None else Path(cert),
        tls_key_file=None if key is None else Path(key),
        retention=Retention(
            max_age_s=max_age_s,
            max_count=(
                None
                if max_count is None
                else _positive_count("CLERK_RELAY_RETENTION_MAX_COUNT", max_count)
            ),
        ),
    )


def _duration(name: str, text: str) -> float:
    """`parse_duration`, its error prefixed with the variable's name."""
    try:
        return parse_duration(text)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from error


def _positive_count(name: str, text: str) -> int:
    """A positive whole number of events (ASCII digits only)."""
    if not (text.isascii() and text.isdigit() and int(text) > 0):
        raise ValueError(f"{name}: not a positive whole number of events: {text!r}")
    return int(text)
