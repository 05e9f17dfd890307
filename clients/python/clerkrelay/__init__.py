"""clerkrelay: the Python client of clerk-relay, with its generated protobuf code.

`RelayClient` opens a channel to the relay's gRPC service. Its `subscribe`
returns an `EventStream` of typed `Event`s that reconnects with backoff and
resumes after the last position it saw (optionally persisted by a
`Checkpoint`); its `get_<kind>`/`list_<kinds>` helpers query the relay's
mirror of Clerk's entities; `snapshot_then_subscribe` does both without a gap.
`to_clerk_dict` turns a typed message back into Clerk's JSON. Its `consume`
joins a durable consumer group (`ConsumerStream` of `ConsumerMessage`s, each
acked, nacked or termed), and its `*_consumer_group*` helpers manage groups.
Failures raise `RelayError` subclasses. The generated messages and stubs live
in `clerkrelay.v1`.

Its names are imported on first use (PEP 562), so that importing a part of
the package (`clerkrelay.cli`, which sets gRPC's log level before gRPC loads)
does not load gRPC first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clerkrelay.backoff import Backoff
    from clerkrelay.catalog import EVENT_TYPES, LEGACY_EVENT_TYPES, case_name, payload_case
    from clerkrelay.checkpoint import Checkpoint, FileCheckpoint, MemoryCheckpoint
    from clerkrelay.clerk_json import to_clerk_dict
    from clerkrelay.client import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TARGET, RelayClient
    from clerkrelay.consumer import ConsumerMessage, ConsumerStream
    from clerkrelay.consumer_calls import group_settings
    from clerkrelay.errors import (
        InvalidArgumentError,
        NotFoundError,
        OutOfRangeError,
        PermissionDeniedError,
        RelayError,
        UnauthenticatedError,
        UnavailableError,
    )
    from clerkrelay.listing import Listing, Page, Snapshot
    from clerkrelay.stream import RETRYABLE_CODES, EventStream
    from clerkrelay.v1.event_pb2 import Event

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_TARGET",
    "EVENT_TYPES",
    "LEGACY_EVENT_TYPES",
    "RETRYABLE_CODES",
    "Backoff",
    "Checkpoint",
    "ConsumerMessage",
    "ConsumerStream",
    "Event",
    "EventStream",
    "FileCheckpoint",
    "InvalidArgumentError",
    "Listing",
    "MemoryCheckpoint",
    "NotFoundError",
    "OutOfRangeError",
    "Page",
    "PermissionDeniedError",
    "RelayClient",
    "RelayError",
    "Snapshot",
    "UnauthenticatedError",
    "UnavailableError",
    "case_name",
    "group_settings",
    "payload_case",
    "to_clerk_dict",
]

_HOMES = {
    "Backoff": "clerkrelay.backoff",
    "EVENT_TYPES": "clerkrelay.catalog",
    "LEGACY_EVENT_TYPES": "clerkrelay.catalog",
    "case_name": "clerkrelay.catalog",
    "payload_case": "clerkrelay.catalog",
    "Checkpoint": "clerkrelay.checkpoint",
    "FileCheckpoint": "clerkrelay.checkpoint",
    "MemoryCheckpoint": "clerkrelay.checkpoint",
    "to_clerk_dict": "clerkrelay.clerk_json",
    "ConsumerMessage": "clerkrelay.consumer",
    "ConsumerStream": "clerkrelay.consumer",
    "group_settings": "clerkrelay.consumer_calls",
    "DEFAULT_MAX_MESSAGE_BYTES": "clerkrelay.client",
    "DEFAULT_TARGET": "clerkrelay.client",
    "RelayClient": "clerkrelay.client",
    "InvalidArgumentError": "clerkrelay.errors",
    "NotFoundError": "clerkrelay.errors",
    "OutOfRangeError": "clerkrelay.errors",
    "PermissionDeniedError": "clerkrelay.errors",
    "RelayError": "clerkrelay.errors",
    "UnauthenticatedError": "clerkrelay.errors",
    "UnavailableError": "clerkrelay.errors",
    "Listing": "clerkrelay.listing",
    "Page": "clerkrelay.listing",
    "Snapshot": "clerkrelay.listing",
    "RETRYABLE_CODES": "clerkrelay.stream",
    "EventStream": "clerkrelay.stream",
    "Event": "clerkrelay.v1.event_pb2",
}
"""Each public name, and the module it comes from."""


if not TYPE_CHECKING:  # mypy reads the imports above instead

    def __getattr__(name: str) -> object:
        """Imports a public name from its module on first use (then it is a plain attribute)."""
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
