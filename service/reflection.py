"""Server reflection under both names tools ask for: `grpc.reflection.v1` and `v1alpha`.

grpcio-reflection serves only `grpc.reflection.v1alpha.ServerReflection`.
Newer tools (grpcurl first, buf curl, grpcui, Postman) ask for
`grpc.reflection.v1.ServerReflection`, whose messages are the v1alpha ones
under a new package: the same fields with the same numbers, so the same bytes
on the wire. One servicer answers both: v1 is a second method handler on it,
with the v1alpha messages' (de)serializers.

Reflection needs a subscriber token when authentication is on, as every RPC
but health does (`service.auth`).
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from grpc_reflection.v1alpha import _async as reflection_aio  # `reflection.aio`, seen by mypy
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

__all__ = ["REFLECTION_SERVICES", "REFLECTION_V1", "add_reflection"]

REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
REFLECTION_SERVICES = (REFLECTION_V1, reflection.SERVICE_NAME)
"""The reflection services, as `ListServices` and health name them."""


def add_reflection(service_names: Sequence[str], server: grpc.aio.Server) -> None:
    """Serves reflection of `service_names` on `server`, as v1 and as v1alpha."""
    servicer = reflection_aio.ReflectionServicer(service_names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1 = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(REFLECTION_V1, {"ServerReflectionInfo": v1}),)
    )
