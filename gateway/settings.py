"""The gateway's configuration: one frozen object, built by the command line and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field

from clerkrelay.limits import DEFAULT_MAX_BODY_BYTES, MAX_BODY_BYTES_CEILING
from clerkrelay.webhook_secrets import parse_secrets

__all__ = ["DEFAULT_MAX_BODY_BYTES", "GatewaySettings", "parse_secrets"]


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """What the HTTP gateway needs to know.

    Attributes:
        secrets: The endpoint's signing secrets (`whsec_…`); a signature made
            with any of them passes (secret rotation). Never shown in `repr`.
        tolerance_s: Largest accepted distance, in seconds and in either
            direction, between the `svix-timestamp` header and now.
        max_body_bytes: Largest accepted body; a longer one is refused with 413
            without reading the rest. At most `MAX_BODY_BYTES_CEILING`, so that
            every accepted body fits in an event every reader can receive.
        publish_timeout_s: How long to wait for the store to acknowledge an
            event (and for a readiness check) before answering 503.
    """

    secrets: tuple[str, ...] = field(repr=False)
    tolerance_s: int = 300
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    publish_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.secrets:
            raise ValueError("at least one webhook signing secret is required")
        if self.tolerance_s < 0:
            raise ValueError("tolerance_s must not be negative")
        if not 1 <= self.max_body_bytes <= MAX_BODY_BYTES_CEILING:
            raise ValueError(f"max_body_bytes must be between 1 and {MAX_BODY_BYTES_CEILING}")
        if self.publish_timeout_s <= 0:
            raise ValueError("publish_timeout_s must be positive")
