"""`IngestService.Publish`: how a gateway in another process hands an event to the store.

The servicer only validates the request and appends: the store makes a
publish idempotent on the webhook id (`Event.id`) and answers only once the
event is durable. It is registered only when the gateway runs apart from the
gRPC service (`ServiceSettings.expose_ingest`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc

from clerkrelay.v1.ingest_service_pb2 import DESCRIPTOR, PublishRequest, PublishResponse
from service.errors import InvalidArgument
from service.store import Store

__all__ = ["SERVICE_NAME", "IngestServicer", "validate"]

SERVICE_NAME: str = DESCRIPTOR.services_by_name["IngestService"].full_name
"""`clerkrelay.v1.IngestService`."""

if TYPE_CHECKING:
    _Context = grpc.aio.ServicerContext[PublishRequest, PublishResponse]


def validate(request: PublishRequest) -> None:
    """Checks that a request carries a storable event.

    Raises:
        InvalidArgument: No event, an event without an id or a type, or one
            that already has a sequence (the store assigns it).
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


class IngestServicer:
    """Appends published events to a store.

    Args:
        store: The store; its lifetime belongs to the caller.
    """

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    def handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        """The generic handler to add to a server."""
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Publish": grpc.unary_unary_rpc_method_handler(
                    self.Publish,
                    request_deserializer=PublishRequest.FromString,
                    response_serializer=PublishResponse.SerializeToString,
                )
            },
        )

    async def Publish(  # noqa: N802 - gRPC method name
        self, request: PublishRequest, context: _Context
    ) -> PublishResponse:
        """Stores the event; a duplicate answers the original sequence with `duplicate` set."""
        validate(request)
        result = await self._store.append(request.event)
        return PublishResponse(
            sequence=result.sequence, duplicate=result.duplicate, stale=result.stale
        )
