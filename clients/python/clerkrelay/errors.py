"""The exceptions the client raises, one per gRPC status a caller may want to handle.

Every failed RPC surfaces as a `RelayError` (never as a bare `grpc.RpcError`),
carrying the status code and the server's message. The statuses the relay
documents get their own subclass:

| status            | exception               | typical cause                               |
|-------------------|-------------------------|---------------------------------------------|
| INVALID_ARGUMENT  | `InvalidArgumentError`  | a bad event-type pattern, page token or id  |
| NOT_FOUND         | `NotFoundError`         | an unknown id (`get_*` return None instead) |
| UNAUTHENTICATED   | `UnauthenticatedError`  | a missing or refused bearer token           |
| PERMISSION_DENIED | `PermissionDeniedError` | a token not allowed to make this call       |
| OUT_OF_RANGE      | `OutOfRangeError`       | a start before the oldest retained event    |
| UNAVAILABLE       | `UnavailableError`      | an unreachable server (unary calls only)    |

A subscription retries UNAVAILABLE instead of raising it (see `clerkrelay.stream`).
"""

from __future__ import annotations

from typing import ClassVar

import grpc

__all__ = [
    "InvalidArgumentError",
    "NotFoundError",
    "OutOfRangeError",
    "PermissionDeniedError",
    "RelayError",
    "UnauthenticatedError",
    "UnavailableError",
    "error_from_rpc",
]


class RelayError(Exception):
    """An RPC to clerk-relay failed.

    Args:
        code: The gRPC status code.
        details: The server's message (or grpc's, for a transport failure).

    Attributes:
        code: The gRPC status code.
        details: The server's message.
    """

    default_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}" if details else code.name)
        self.code = code
        self.details = details


class InvalidArgumentError(RelayError):
    """The request was refused as malformed (INVALID_ARGUMENT): retrying cannot help."""

    default_code = grpc.StatusCode.INVALID_ARGUMENT


class NotFoundError(RelayError):
    """The relay has never seen the entity asked for (NOT_FOUND)."""

    default_code = grpc.StatusCode.NOT_FOUND


class UnauthenticatedError(RelayError):
    """The server wants a bearer token, or refused the one sent (UNAUTHENTICATED)."""

    default_code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(RelayError):
    """The token is valid but not allowed to make this call (PERMISSION_DENIED)."""

    default_code = grpc.StatusCode.PERMISSION_DENIED


class OutOfRangeError(RelayError):
    """The subscription starts before the oldest event the relay still retains (OUT_OF_RANGE)."""

    default_code = grpc.StatusCode.OUT_OF_RANGE


class UnavailableError(RelayError):
    """The server could not be reached or is shutting down (UNAVAILABLE)."""

    default_code = grpc.StatusCode.UNAVAILABLE


_BY_CODE: dict[grpc.StatusCode, type[RelayError]] = {
    cls.default_code: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        UnauthenticatedError,
        PermissionDeniedError,
        OutOfRangeError,
        UnavailableError,
    )
}


def error_from_rpc(error: grpc.aio.AioRpcError) -> RelayError:
    """The `RelayError` subclass for a failed RPC.

    Args:
        error: What grpc.aio raised.

    Returns:
        An exception of the class matching the status (plain `RelayError` for
        statuses without their own class), with the status and message.
    """
    code = error.code()
    details = error.details() or ""
    return _BY_CODE.get(code, RelayError)(code, details)
