"""Domain errors that carry their gRPC status, and the one interceptor that sends them.

Servicers raise; they never call `context.abort`. `ErrorInterceptor` wraps
every async behaviour (unary or streaming, coroutine or async generator, with
or without serializers) and turns the exceptions below into the RPC's status:

| exception                              | status           |
|----------------------------------------|------------------|
| `InvalidArgument`                      | INVALID_ARGUMENT |
| `NotFound`                             | NOT_FOUND        |
| `FailedPrecondition`                   | FAILED_PRECONDITION |
| `AlreadyExists`                        | ALREADY_EXISTS   |
| `Aborted`                              | ABORTED          |
| `service.storage.BeforeRetention`      | OUT_OF_RANGE     |
| `service.storage.StoreUnavailable`     | UNAVAILABLE      |
| any other `service.storage.StoreError` | INTERNAL         |

Other exceptions are left to grpc (UNKNOWN, logged by the server).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import grpc

from service.storage import BeforeRetention, StoreError, StoreUnavailable

__all__ = [
    "Aborted",
    "AlreadyExists",
    "ErrorInterceptor",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "ServiceError",
    "quoted",
    "status_of",
]

if TYPE_CHECKING:
    _Context = grpc.aio.ServicerContext[Any, Any]
    _Handler = grpc.RpcMethodHandler[Any, Any]
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # grpc's classes are not generic at run time
    _ServerInterceptor = grpc.aio.ServerInterceptor


class ServiceError(Exception):
    """An error whose gRPC status is known; the message is sent to the client.

    Args:
        message: A short reason, fit for the caller (no internals).
    """

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ServiceError):
    """The request is malformed: a bad filter, page token, id or event."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ServiceError):
    """The request names something the relay has never seen."""

    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(ServiceError):
    """The relay is not set up for the request (reconciling without a secret key)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class AlreadyExists(ServiceError):
    """The request would create something that exists (a consumer group of that name)."""

    code = grpc.StatusCode.ALREADY_EXISTS


class Aborted(ServiceError):
    """The request conflicts with one under way (a second reconciliation pass)."""

    code = grpc.StatusCode.ABORTED


_QUOTED_CHARACTERS = 100


def quoted(value: str) -> str:
    """A caller's value for an error message: its repr, cut short when long.

    A status message travels in a trailer, which a client refuses past a few
    KiB (gRPC's default metadata limit): echoing a huge id or pattern whole
    would turn the answer into RESOURCE_EXHAUSTED.
    """
    if len(value) <= _QUOTED_CHARACTERS:
        return repr(value)
    return f"{value[:_QUOTED_CHARACTERS]!r}… ({len(value)} characters)"


def status_of(error: BaseException) -> tuple[grpc.StatusCode, str] | None:
    """The status and message an exception maps to; None when it is not ours to map."""
    if isinstance(error, ServiceError):
        return error.code, error.message
    if isinstance(error, BeforeRetention):
        return grpc.StatusCode.OUT_OF_RANGE, str(error)
    if isinstance(error, StoreUnavailable):
        return grpc.StatusCode.UNAVAILABLE, f"store unavailable: {error}"
    if isinstance(error, StoreError):
        return grpc.StatusCode.INTERNAL, f"store error: {error}"
    return None


_MAPPED = (ServiceError, StoreError)


async def _abort(context: _Context, error: ServiceError | StoreError) -> NoReturn:
    status = status_of(error)
    assert status is not None  # every _MAPPED type has a status
    await context.abort(*status)


def _wrap_coroutine(
    behaviour: Callable[[Any, _Context], Awaitable[Any]],
) -> Callable[[Any, _Context], Awaitable[Any]]:
    """Wraps a coroutine behaviour (unary response, or the reader/writer streaming API)."""

    async def guarded(request: Any, context: _Context) -> Any:
        try:
            return await behaviour(request, context)
        except _MAPPED as error:
            await _abort(context, error)

    return guarded


def _wrap_async_generator(
    behaviour: Callable[[Any, _Context], AsyncIterator[Any]],
) -> Callable[[Any, _Context], AsyncIterator[Any]]:
    """Wraps an async-generator behaviour; the inner generator is always closed."""

    async def guarded(request: Any, context: _Context) -> AsyncIterator[Any]:
        responses = behaviour(request, context)
        try:
            async for response in responses:
                yield response
        except _MAPPED as error:
            await _abort(context, error)
        finally:
            aclose = getattr(responses, "aclose", None)
            if aclose is not None:
                await aclose()

    return guarded


def _guard(behaviour: Any) -> Any:
    """The behaviour wrapped by the shape grpc.aio will call it with; sync ones unchanged."""
    if behaviour is None:
        return None
    if inspect.isasyncgenfunction(behaviour):
        return _wrap_async_generator(behaviour)
    if inspect.iscoroutinefunction(behaviour):
        return _wrap_coroutine(behaviour)
    return behaviour


def _guarded_handler(handler: _Handler) -> _Handler:
    """A copy of `handler` whose behaviour maps domain errors to statuses."""
    deserializer = handler.request_deserializer
    serializer = handler.response_serializer
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(
            _guard(handler.stream_stream), deserializer, serializer
        )
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(
            _guard(handler.stream_unary), deserializer, serializer
        )
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(
            _guard(handler.unary_stream), deserializer, serializer
        )
    return grpc.unary_unary_rpc_method_handler(
        _guard(handler.unary_unary), deserializer, serializer
    )


class ErrorInterceptor(_ServerInterceptor):
    """Turns domain exceptions raised by any behaviour into `context.abort(code, message)`."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[_Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> _Handler:
        """Finds the handler, then returns it with its behaviour guarded."""
        handler: _Handler | None = await continuation(handler_call_details)
        if handler is None:
            return handler  # type: ignore[return-value]  # grpc answers UNIMPLEMENTED
        return _guarded_handler(handler)
