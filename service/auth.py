"""Access control for the gRPC listener: optional bearer tokens and optional TLS.

With tokens configured, every RPC except the standard health service
(`grpc.health.v1.Health`, so load balancers need no secret) must carry the
metadata `authorization: Bearer <token>` with one of them; otherwise it ends
with UNAUTHENTICATED before any servicer runs. Tokens are compared in constant
time (as SHA-256 digests, so lengths do not show either), and every
configured token is compared, so the answer's timing says nothing about which
token came close.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

__all__ = [
    "HEALTH_SERVICE",
    "AuthInterceptor",
    "load_tokens",
    "parse_tokens",
    "read_token_file",
    "server_credentials",
]

HEALTH_SERVICE = "grpc.health.v1.Health"
"""The service reachable without a token."""

_HEALTH_PREFIX = f"/{HEALTH_SERVICE}/"
_SCHEME = "bearer"

if TYPE_CHECKING:
    _Context = grpc.aio.ServicerContext[Any, Any]
    _Handler = grpc.RpcMethodHandler[Any, Any]
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # grpc's classes are not generic at run time
    _ServerInterceptor = grpc.aio.ServerInterceptor


def parse_tokens(text: str) -> tuple[str, ...]:
    """Tokens from an environment value: separated by commas and/or whitespace."""
    return tuple(token for token in re.split(r"[,\s]+", text) if token)


def read_token_file(path: Path) -> tuple[str, ...]:
    """Tokens from a file: one per line; blank lines and lines starting with `#` are skipped.

    Raises:
        ValueError: The file cannot be read, or a line holds more than one word.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read token file {str(path)!r}: {error}") from error
    tokens: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line.split()) != 1:
            raise ValueError(f"{path}:{number}: a token must not contain whitespace")
        tokens.append(line)
    return tuple(tokens)


def load_tokens(file: Path | None = None, env_value: str | None = None) -> tuple[str, ...]:
    """Every configured token, from a file and/or an environment value, without repeats.

    Raises:
        ValueError: The file cannot be read or is malformed.
    """
    tokens = read_token_file(file) if file is not None else ()
    if env_value:
        tokens += parse_tokens(env_value)
    return tuple(dict.fromkeys(tokens))


def server_credentials(cert_file: Path, key_file: Path) -> grpc.ServerCredentials:
    """TLS credentials from a PEM certificate (chain) and its PEM private key.

    Raises:
        ValueError: Either file cannot be read.
    """
    pems: list[bytes] = []
    for what, path in (("certificate", cert_file), ("private key", key_file)):
        try:
            pems.append(path.read_bytes())
        except OSError as error:
            raise ValueError(f"cannot read TLS {what} {str(path)!r}: {error}") from error
    certificate, key = pems
    return grpc.ssl_server_credentials([(key, certificate)])


async def _missing_token(request: Any, context: _Context) -> None:
    await context.abort(
        grpc.StatusCode.UNAUTHENTICATED,
        "missing bearer token: send metadata 'authorization: Bearer <token>'",
    )


async def _wrong_token(request: Any, context: _Context) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid bearer token")


def _rejecting(
    shape: _Handler | None, reject: Callable[[Any, _Context], Awaitable[None]]
) -> _Handler:
    """A handler of the same streaming shape as `shape` that only rejects the call."""
    if shape is None or not (shape.request_streaming or shape.response_streaming):
        return grpc.unary_unary_rpc_method_handler(reject)
    if shape.request_streaming and shape.response_streaming:
        return grpc.stream_stream_rpc_method_handler(reject)
    if shape.request_streaming:
        return grpc.stream_unary_rpc_method_handler(reject)
    return grpc.unary_stream_rpc_method_handler(reject)


class AuthInterceptor(_ServerInterceptor):
    """Requires `authorization: Bearer <token>` on every RPC but health.

    Args:
        tokens: The accepted tokens; at least one.
    """

    __slots__ = ("_digests",)

    def __init__(self, tokens: Iterable[str]) -> None:
        self._digests = tuple(_digest(token) for token in tokens)
        if not self._digests:
            raise ValueError("AuthInterceptor needs at least one token")

    def accepts(self, authorization: str | None) -> bool:
        """Whether an `authorization` metadata value carries an accepted token."""
        if authorization is None:
            return False
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() != _SCHEME:
            return False
        presented = _digest(credential.strip())
        accepted = False
        for digest in self._digests:  # no early exit: the time spent is the same for all
            accepted |= hmac.compare_digest(presented, digest)
        return accepted

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[_Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> _Handler:
        """Passes health and authenticated calls on; rejects the rest."""
        if handler_call_details.method.startswith(_HEALTH_PREFIX):
            return await continuation(handler_call_details)
        authorization = _authorization_of(handler_call_details)
        if self.accepts(authorization):
            return await continuation(handler_call_details)
        shape: _Handler | None = await continuation(handler_call_details)
        return _rejecting(shape, _missing_token if authorization is None else _wrong_token)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _authorization_of(details: grpc.HandlerCallDetails) -> str | None:
    """The `authorization` metadata value, if the call sent one."""
    for key, value in details.invocation_metadata or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode("latin-1")
    return None
