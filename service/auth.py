"""Access control for the gRPC listener: bearer tokens with roles, and optional TLS.

Every token has a role:

| role | may call |
|---|---|
| subscriber | `EventService`, `StateService`, server reflection |
| ingest | `IngestService.Publish` (only: a gateway cannot read the log) |
| admin | everything; `ReconcileService` and `ConsumerService` but `Consume` are admins' only |

With any token configured, every RPC except the standard health service
(`grpc.health.v1.Health`, so load balancers need no secret) must carry the
metadata `authorization: Bearer <token>` with a token whose role allows the
method: no token or an unknown one ends with UNAUTHENTICATED, a token of the
wrong role with PERMISSION_DENIED, before any servicer runs.

Publishing is privileged even with authentication off: without an ingest or
admin token, `IngestService` answers only callers on this host (loopback or a
Unix socket), so a relay whose port is reachable from the network cannot be
written to by whoever reaches it. So is reconciliation (it spends the
instance's Backend API budget and may delete), and so is the management of
consumer groups (it can delete a group or discard its parked events): with
authentication off, `ReconcileService` and every `ConsumerService` method but
`Consume` answer only callers on this host.

Tokens are compared in constant time (as SHA-256 digests, so lengths do not
show either), and every configured token is compared, so the answer's timing
says nothing about which token came close.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

__all__ = [
    "HEALTH_SERVICE",
    "AuthInterceptor",
    "Role",
    "is_local_peer",
    "load_tokens",
    "parse_tokens",
    "read_token_file",
    "server_credentials",
]

HEALTH_SERVICE = "grpc.health.v1.Health"
"""The service reachable without a token."""

_HEALTH_PREFIX = f"/{HEALTH_SERVICE}/"
_INGEST_PREFIX = "/clerkrelay.v1.IngestService/"
_ADMIN_PREFIX = "/clerkrelay.v1.ReconcileService/"
_CONSUMER_PREFIX = "/clerkrelay.v1.ConsumerService/"
_CONSUME = f"{_CONSUMER_PREFIX}Consume"
_SCHEME = "bearer"

if TYPE_CHECKING:
    _Context = grpc.aio.ServicerContext[Any, Any]
    _Handler = grpc.RpcMethodHandler[Any, Any]
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # grpc's classes are not generic at run time
    _ServerInterceptor = grpc.aio.ServerInterceptor


class Role(enum.StrEnum):
    """What a token may do (see the module's table)."""

    SUBSCRIBER = "subscriber"
    INGEST = "ingest"
    ADMIN = "admin"


def parse_tokens(text: str) -> tuple[str, ...]:
    """Tokens from an environment value: separated by commas and/or whitespace."""
    return tuple(token for token in re.split(r"[,\s]+", text) if token)


def read_token_file(path: Path) -> dict[str, Role]:
    """Tokens from a file, with their roles.

    One token a line, optionally preceded by its role (`ingest <token>`,
    `admin <token>`, `subscriber <token>`; a bare token is a subscriber's).
    Blank lines and lines starting with `#` are skipped.

    Raises:
        ValueError: The file cannot be read, or a line is malformed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read token file {str(path)!r}: {error}") from error
    tokens: dict[str, Role] = {}
    roles = {role.value: role for role in Role}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if len(words) == 1:
            tokens.setdefault(words[0], Role.SUBSCRIBER)
        elif len(words) == 2 and words[0] in roles:
            tokens[words[1]] = roles[words[0]]
        else:
            raise ValueError(
                f"{path}:{number}: expected '<token>' or '<role> <token>' "
                f"(roles: {', '.join(roles)})"
            )
    return tokens


def load_tokens(
    file: Path | None = None,
    env_value: str | None = None,
    *,
    ingest: str | None = None,
    admin: str | None = None,
) -> dict[str, Role]:
    """Every configured token with its role: from a file and/or environment values.

    Args:
        file: A token file (`read_token_file`).
        env_value: Subscriber tokens (`CLERK_RELAY_TOKENS`).
        ingest: Ingest tokens (`CLERK_RELAY_INGEST_TOKENS`).
        admin: Admin tokens (`CLERK_RELAY_ADMIN_TOKENS`).

    Raises:
        ValueError: The file cannot be read or is malformed, or one token is
            given two roles.
    """
    tokens = read_token_file(file) if file is not None else {}
    for text, role in ((env_value, Role.SUBSCRIBER), (ingest, Role.INGEST), (admin, Role.ADMIN)):
        for token in parse_tokens(text or ""):
            if tokens.setdefault(token, role) is not role:
                raise ValueError(f"a token is given two roles ({tokens[token]} and {role})")
    return tokens


def is_local_peer(peer: str) -> bool:
    """Whether a gRPC peer (`ipv4:127.0.0.1:5000`, `ipv6:[::1]:5000`, `unix:…`) is this host."""
    kind, _, address = peer.partition(":")
    if kind in ("unix", "unix-abstract"):
        return True
    if kind not in ("ipv4", "ipv6"):
        return False
    host = address.rpartition(":")[0].strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


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


async def _wrong_role(request: Any, context: _Context) -> None:
    await context.abort(
        grpc.StatusCode.PERMISSION_DENIED, "this token's role may not call this method"
    )


async def _not_local(request: Any, context: _Context) -> None:
    await context.abort(
        grpc.StatusCode.PERMISSION_DENIED,
        "publishing needs an ingest token, or a caller on this host",
    )


async def _not_local_admin(request: Any, context: _Context) -> None:
    await context.abort(
        grpc.StatusCode.PERMISSION_DENIED,
        "with authentication off, only callers on the relay's host may call this method",
    )


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


def _local_only(
    handler: _Handler,
    is_local: Callable[[str], bool],
    reject: Callable[[Any, _Context], Awaitable[None]] = _not_local,
) -> _Handler:
    """The unary handler `handler`, answering only callers on this host (else `reject`)."""
    behavior: Callable[[Any, _Context], Awaitable[Any]] | None = handler.unary_unary  # type: ignore[assignment]
    if behavior is None:  # every guarded unary-shaped method is unary-unary
        return _rejecting(handler, reject)

    async def guarded(request: Any, context: _Context) -> Any:
        if not is_local(context.peer()):
            await reject(request, context)
        return await behavior(request, context)

    return grpc.unary_unary_rpc_method_handler(
        guarded,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _local_only_stream(handler: _Handler, is_local: Callable[[str], bool]) -> _Handler:
    """The server-streaming handler `handler`, answering only callers on this host."""
    behavior: Callable[[Any, _Context], AsyncIterator[Any]] | None = handler.unary_stream  # type: ignore[assignment]
    if behavior is None:  # every admin method is server-streaming
        return _rejecting(handler, _not_local_admin)

    async def guarded(request: Any, context: _Context) -> AsyncIterator[Any]:
        if not is_local(context.peer()):
            await _not_local_admin(request, context)
        async for response in behavior(request, context):
            yield response

    return grpc.unary_stream_rpc_method_handler(
        guarded,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _required_role(method: str) -> Role | None:
    """The least role that may call `method`; None for health (anyone)."""
    if method.startswith(_HEALTH_PREFIX):
        return None
    if method.startswith(_INGEST_PREFIX):
        return Role.INGEST
    if method.startswith(_ADMIN_PREFIX):
        return Role.ADMIN
    if method.startswith(_CONSUMER_PREFIX) and method != _CONSUME:
        return Role.ADMIN
    return Role.SUBSCRIBER


class AuthInterceptor(_ServerInterceptor):
    """Enforces the token roles, and the local-only rule for publishing without a token.

    Args:
        tokens: Every accepted token with its role; empty turns authentication
            off (publishing is then for callers on this host only).
        is_local: Whether a peer (`context.peer()`) is on this host.
    """

    __slots__ = ("_digests", "_is_local")

    def __init__(
        self, tokens: Mapping[str, Role], is_local: Callable[[str], bool] = is_local_peer
    ) -> None:
        self._digests = tuple((_digest(token), role) for token, role in tokens.items())
        self._is_local = is_local

    @property
    def auth_enabled(self) -> bool:
        """Every RPC but health needs a token."""
        return bool(self._digests)

    def role_of(self, authorization: str | None) -> Role | None:
        """The role of the token an `authorization` metadata value carries; None if none."""
        if authorization is None:
            return None
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() != _SCHEME:
            return None
        presented = _digest(credential.strip())
        found: Role | None = None
        for digest, role in self._digests:  # no early exit: the same time for every token
            if hmac.compare_digest(presented, digest):
                found = role
        return found

    def accepts(self, authorization: str | None) -> bool:
        """Whether an `authorization` metadata value carries an accepted token."""
        return self.role_of(authorization) is not None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[_Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> _Handler:
        """Passes health and permitted calls on; rejects the rest."""
        required = _required_role(handler_call_details.method)
        if required is None:
            return await continuation(handler_call_details)
        handler: _Handler | None = await continuation(handler_call_details)
        if not self._digests:  # authentication off
            if required is Role.INGEST and handler is not None:
                return _local_only(handler, self._is_local)
            if required is Role.ADMIN and handler is not None:
                # Reconciliation and consumer groups' management change state:
                # without tokens, only callers on this host may.
                if handler_call_details.method.startswith(_ADMIN_PREFIX):
                    return _local_only_stream(handler, self._is_local)
                return _local_only(handler, self._is_local, _not_local_admin)
            return handler  # type: ignore[return-value] # None: grpc answers UNIMPLEMENTED
        authorization = _authorization_of(handler_call_details)
        role = self.role_of(authorization)
        if role is Role.ADMIN or role is required:
            return handler  # type: ignore[return-value]
        if role is not None:
            return _rejecting(handler, _wrong_role)
        if authorization is not None:
            return _rejecting(handler, _wrong_token)
        if required is Role.INGEST and handler is not None and not self._has_role(Role.INGEST):
            return _local_only(handler, self._is_local)  # no ingest token exists: this host only
        return _rejecting(handler, _missing_token)

    def _has_role(self, wanted: Role) -> bool:
        return any(role is wanted or role is Role.ADMIN for _, role in self._digests)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _authorization_of(details: grpc.HandlerCallDetails) -> str | None:
    """The `authorization` metadata value, if the call sent one."""
    for key, value in details.invocation_metadata or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode("latin-1")
    return None
