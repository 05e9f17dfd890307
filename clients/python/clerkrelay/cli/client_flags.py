"""What the client commands (`tail`, `get`, `list`) share: connection flags, errors, the loop.

Flags and their variables are the ones `clerk-relay gateway` also uses to
reach the gRPC service (`clerkrelay.cli.settings`): `--target`
[CLERK_RELAY_GRPC_TARGET], `--token` [CLERK_RELAY_TOKEN], `--tls-ca`
[CLERK_RELAY_TLS_CA]. The target may be a URL (`http://host:port`;
`https://` turns TLS on). A failed RPC becomes a
one-line `CliError` that says what to check.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any

import uvloop

from clerkrelay import (
    InvalidArgumentError,
    OutOfRangeError,
    RelayClient,
    RelayError,
    UnauthenticatedError,
    UnavailableError,
)
from clerkrelay.cli.cli_error import EXIT_FAILURE, CliError
from clerkrelay.cli.settings import (
    GRPC_TARGET,
    TLS,
    TLS_CA,
    TLS_SERVER_NAME,
    TOKEN,
    Target,
    add_flags,
    resolve,
)

__all__ = [
    "CONNECTION",
    "add_client_flags",
    "cli_error",
    "positive_int",
    "relay_client",
    "run_async",
]


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


CONNECTION = (GRPC_TARGET, TOKEN, TLS, TLS_CA, TLS_SERVER_NAME)
"""The settings of a connection to the gRPC service."""


def add_client_flags(parser: argparse.ArgumentParser) -> None:
    """Adds `--target`, `--token`, `--tls`, `--tls-ca` and `--tls-server-name`."""
    add_flags(parser.add_argument_group("connection"), CONNECTION)


def relay_client(args: argparse.Namespace, environ: Mapping[str, str]) -> RelayClient:
    """A (not yet open) client configured from the flags, then the environment.

    Raises:
        CliError: A setting is malformed (the CA file cannot be read), or the
            token is malformed.
    """
    values = resolve(CONNECTION, args, environ)
    target = values["grpc_target"]
    try:
        return RelayClient(
            target,
            token=values["token"],
            tls=values["tls"] or (isinstance(target, Target) and target.tls),
            root_certificates=values["tls_ca"],
            tls_server_name=values["tls_server_name"],
        )
    except ValueError as error:
        raise CliError(str(error)) from error


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
