"""What the client commands (`tail`, `get`, `list`) share: connection flags, errors, the loop.

Flags and their variables are the ones `clerk-relay gateway` already uses to
reach the gRPC service: `--target` [CLERK_RELAY_GRPC_TARGET], `--token`
[CLERK_RELAY_TOKEN], `--tls-ca` [CLERK_RELAY_TLS_CA]. A failed RPC becomes a
one-line `CliError` that says what to check.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any

import uvloop

from clerkrelay import (
    DEFAULT_TARGET,
    InvalidArgumentError,
    OutOfRangeError,
    RelayClient,
    RelayError,
    UnauthenticatedError,
    UnavailableError,
)
from clerkrelay.cli.cli_error import EXIT_FAILURE, CliError

__all__ = ["add_client_flags", "cli_error", "positive_int", "relay_client", "run_async"]


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_client_flags(parser: argparse.ArgumentParser) -> None:
    """Adds `--target`, `--token`, `--tls`, `--tls-ca` and `--tls-server-name`."""
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--target",
        metavar="HOST:PORT",
        help=f"the gRPC service, host:port (default {DEFAULT_TARGET}) [CLERK_RELAY_GRPC_TARGET]",
    )
    group.add_argument(
        "--token", metavar="TOKEN", help="bearer token for the gRPC service [CLERK_RELAY_TOKEN]"
    )
    group.add_argument(
        "--tls", action="store_true", help="use TLS, verified with the system's CA certificates"
    )
    group.add_argument(
        "--tls-ca",
        type=Path,
        metavar="FILE",
        help="CA certificate (PEM) to verify the service with; implies --tls [CLERK_RELAY_TLS_CA]",
    )
    group.add_argument(
        "--tls-server-name",
        metavar="NAME",
        help="the name the service's certificate is issued to, if not host",
    )


def _env(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def relay_client(args: argparse.Namespace, environ: Mapping[str, str]) -> RelayClient:
    """A (not yet open) client configured from the flags, then the environment.

    Raises:
        CliError: The CA file cannot be read, or the token is malformed.
    """
    target = args.target or _env(environ, "CLERK_RELAY_GRPC_TARGET") or DEFAULT_TARGET
    token = args.token or _env(environ, "CLERK_RELAY_TOKEN") or None
    try:
        return RelayClient(
            target,
            token=token,
            tls=args.tls,
            root_certificates=ca_certificate(args, environ),
            tls_server_name=args.tls_server_name,
        )
    except ValueError as error:
        raise CliError(str(error)) from error


def ca_certificate(args: argparse.Namespace, environ: Mapping[str, str]) -> bytes | None:
    """The CA certificate `--tls-ca` (or `CLERK_RELAY_TLS_CA`) names; None when neither does.

    Raises:
        CliError: The file cannot be read.
    """
    path = args.tls_ca or (Path(v) if (v := _env(environ, "CLERK_RELAY_TLS_CA")) else None)
    try:
        return path.read_bytes() if path else None
    except OSError as error:
        raise CliError(f"cannot read the CA certificate: {error}") from error


def cli_error(error: RelayError, target: str) -> CliError:
    """The one line to print for a failed RPC, with a hint of what to check."""
    if isinstance(error, UnavailableError):
        return CliError(
            f"cannot reach the clerk-relay gRPC service at {target} "
            f"(is `clerk-relay serve` running? see --target): {error.details}",
            EXIT_FAILURE,
        )
    if isinstance(error, UnauthenticatedError):
        return CliError(
            f"the gRPC service at {target} refused the request: {error.details} "
            "(pass --token or set CLERK_RELAY_TOKEN)",
            EXIT_FAILURE,
        )
    if isinstance(error, OutOfRangeError):
        return CliError(f"{error.details} (use --from-beginning)", EXIT_FAILURE)
    if isinstance(error, InvalidArgumentError):
        return CliError(f"invalid request: {error.details}")
    return CliError(f"the gRPC service at {target} failed: {error}", EXIT_FAILURE)


def run_async(main: Coroutine[Any, Any, None]) -> None:
    """Runs a command's coroutine on uvloop (every command does)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)
