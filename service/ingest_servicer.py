"""`IngestService.Publish`: how a gateway in another process hands an event to the store.

The servicer validates the request and appends: the store makes a publish
idempotent on the webhook id (`Event.id`) and answers only once the event is
durable. It is registered only when the gateway runs apart from the gRPC
service (`ServiceSettings.expose_ingest`), and only callers with an ingest
token (or, with none configured, callers on this host) reach it
(`service.auth`).

A publisher is not trusted to be consistent: an event whose raw body is not
the JSON of an event of its type, whose typed payload is of another type's
case or about another entity, or whose ids and size exceed the limits
(`clerkrelay.limits`) is refused with INVALID_ARGUMENT and nothing is stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import orjson

from clerkrelay.catalog import payload_case
from clerkrelay.limits import MAX_EVENT_BYTES, MAX_EVENT_TYPE_BYTES, MAX_WEBHOOK_ID_BYTES
from clerkrelay.v1 import ingest_service_pb2_grpc
from clerkrelay.v1.event_pb2 import Event, EventOrigin, PayloadOmission
from clerkrelay.v1.ingest_service_pb2 import DESCRIPTOR, PublishRequest, PublishResponse
from service.errors import InvalidArgument
from service.reconcile.synthetic import RECONCILE_ID_PREFIX
from service.storage import Store

__all__ = ["SERVICE_NAME", "IngestServicer", "validate"]

SERVICE_NAME: str = DESCRIPTOR.services_by_name["IngestService"].full_name
"""`clerkrelay.v1.IngestService`."""

if TYPE_CHECKING:
    _Context = grpc.aio.ServicerContext[PublishRequest, PublishResponse]


def validate(request: PublishRequest) -> None:
    """Checks that a request carries a storable event.

    Raises:
        InvalidArgument: No event, an event without an id or a type, one that
            already has a sequence (the store assigns it) or is marked stale, one
            with a reconciliation's origin, pass or id,
            one over a limit, or one that contradicts itself (see the module).
    """
    if not request.HasField("event"):
        raise InvalidArgument("event is required")
    event = request.event
    if not event.id:
        raise InvalidArgument("event.id (the webhook id) is required")
    if not event.type:
        raise InvalidArgument("event.type is required")
    if event.sequence != 0:
        raise InvalidArgument(
            f"event.sequence must be 0: the store assigns it (got {event.sequence})"
        )
    if event.stale:
        raise InvalidArgument("event.stale must be false: the store decides it")
    if event.origin != EventOrigin.EVENT_ORIGIN_UNSPECIFIED or event.reconcile_pass:
        raise InvalidArgument("event.origin and event.reconcile_pass are the relay's own to set")
    if event.id.startswith(RECONCILE_ID_PREFIX):
        raise InvalidArgument(f"event.id must not begin {RECONCILE_ID_PREFIX!r}: reconciliation's")
    if len(event.id.encode()) > MAX_WEBHOOK_ID_BYTES:
        raise InvalidArgument(f"event.id is over {MAX_WEBHOOK_ID_BYTES} bytes")
    if len(event.type.encode()) > MAX_EVENT_TYPE_BYTES:
        raise InvalidArgument(f"event.type is over {MAX_EVENT_TYPE_BYTES} bytes")
    if event.ByteSize() > MAX_EVENT_BYTES:
        raise InvalidArgument(f"event is over {MAX_EVENT_BYTES} bytes")
    _check_consistent(event)


def _check_consistent(event: Event) -> None:
    """The raw body is an event of `event.type`, and the typed payload is a view of it."""
    try:
        envelope = orjson.loads(event.raw_body)
    except orjson.JSONDecodeError:
        raise InvalidArgument("event.raw_body is not JSON") from None
    if not isinstance(envelope, dict) or envelope.get("type") != event.type:
        raise InvalidArgument("event.raw_body is not the JSON of an event of event.type")
    case = event.WhichOneof("payload")
    expected = payload_case(event.type)
    if case is None:
        if expected is not None and not event.payload_omission:
            raise InvalidArgument(
                f"event of type {event.type} needs its payload ({expected}) "
                "or the reason it is left out (payload_omission)"
            )
        return
    if case != expected:
        raise InvalidArgument(f"payload {case} does not match event.type {event.type}")
    if event.payload_omission != PayloadOmission.PAYLOAD_OMISSION_UNSPECIFIED:
        raise InvalidArgument("payload_omission is set, but so is the payload")
    data = envelope.get("data")
    payload_id = getattr(getattr(event, case), "id", "")
    raw_id = data.get("id") if isinstance(data, dict) else None
    if payload_id != (raw_id if isinstance(raw_id, str) else ""):
        raise InvalidArgument("the payload's id is not the raw body's data.id")


class IngestServicer(ingest_service_pb2_grpc.IngestServiceServicer):
    """Appends published events to a store (register with `add_IngestServiceServicer_to_server`).

    Args:
        store: The store; its lifetime belongs to the caller.
    """

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    async def Publish(  # noqa: N802 - gRPC method name
        self, request: PublishRequest, context: _Context
    ) -> PublishResponse:
        """Stores the event; a duplicate answers the original sequence with `duplicate` set."""
        validate(request)
        result = await self._store.append(request.event)
        return PublishResponse(
            sequence=result.sequence, duplicate=result.duplicate, stale=result.stale
        )
