"""The size limits every hop of clerk-relay enforces, in one table.

They nest, so that whatever one hop accepts the next one can carry, and every
client with gRPC's default limits can read it:

| limit | bytes | enforced by |
|---|---|---|
| webhook body (default; configurable up to `MAX_BODY_BYTES_CEILING`) | 1 MiB | gateway: 413 |
| webhook id (`svix-id`) | 256 | gateway: 400; `Publish`: INVALID_ARGUMENT |
| event type | 256 | gateway: 400; `Publish`: INVALID_ARGUMENT |
| typed event (`Event`, encoded) | 3 MiB | converter: the typed payload is left out (`TOO_LARGE`) |
| gateway → ingest message (`PublishRequest`) | 4 MiB | both ends' gRPC message limits |
| stream message, state page | 4 MiB − 64 KiB | the service cuts batches and pages |
| gRPC receive limit of a default client | 4 MiB | gRPC itself |

A webhook body of at most `MAX_BODY_BYTES_CEILING` always fits in a typed
event once its payload is left out, and a typed event always fits in one
stream message, one state page and one `PublishRequest`.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_CLIENT_RECEIVE_BYTES",
    "DEFAULT_MAX_BODY_BYTES",
    "MAX_BODY_BYTES_CEILING",
    "MAX_EVENT_BYTES",
    "MAX_EVENT_TYPE_BYTES",
    "MAX_MESSAGE_BYTES",
    "MAX_PUBLISH_BYTES",
    "MAX_WEBHOOK_ID_BYTES",
]

DEFAULT_CLIENT_RECEIVE_BYTES = 4 << 20
"""gRPC's default receive limit, in every language's client (4 MiB)."""

DEFAULT_MAX_BODY_BYTES = 1 << 20
"""Largest webhook body accepted by default (1 MiB)."""

MAX_WEBHOOK_ID_BYTES = 256
"""Longest webhook id (`svix-id`), in UTF-8 bytes; Svix's own ids are about 30."""

MAX_EVENT_TYPE_BYTES = 256
"""Longest event type, in UTF-8 bytes; Clerk's longest is about 35."""

MAX_EVENT_BYTES = 3 << 20
"""Largest encoded typed event; past it the typed payload is left out (3 MiB)."""

_ENVELOPE_ALLOWANCE = 64 << 10
"""Room for everything of an event but its raw body: ids, type, receive time."""

MAX_BODY_BYTES_CEILING = MAX_EVENT_BYTES - _ENVELOPE_ALLOWANCE
"""The largest body limit an operator may configure (just under 3 MiB)."""

MAX_MESSAGE_BYTES = DEFAULT_CLIENT_RECEIVE_BYTES - _ENVELOPE_ALLOWANCE
"""Largest stream message or state page the service sends (4 MiB − 64 KiB)."""

MAX_PUBLISH_BYTES = DEFAULT_CLIENT_RECEIVE_BYTES
"""Largest `PublishRequest` a gateway sends and the ingest service accepts (4 MiB)."""
