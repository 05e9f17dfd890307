"""clerkrelay: the Python client of clerk-relay, with its generated protobuf code.

`RelayClient` opens a channel to the relay's gRPC service. Its `subscribe`
returns an `EventStream` of typed `Event`s that reconnects with backoff and
resumes after the last position it saw (optionally persisted by a
`Checkpoint`); its `get_<kind>`/`list_<kinds>` helpers query the relay's
mirror of Clerk's entities; `snapshot_then_subscribe` does both without a gap.
`to_clerk_dict` turns a typed message back into Clerk's JSON.
Failures raise `RelayError` subclasses. The generated messages and stubs live
in `clerkrelay.v1`.
"""

from clerkrelay.backoff import Backoff
from clerkrelay.catalog import EVENT_TYPES, LEGACY_EVENT_TYPES, case_name, payload_case
from clerkrelay.checkpoint import Checkpoint, FileCheckpoint, MemoryCheckpoint
from clerkrelay.clerk_json import to_clerk_dict
from clerkrelay.client import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TARGET, RelayClient
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
    "payload_case",
    "to_clerk_dict",
]
