"""Flags of the server commands (`serve`, `grpc`, `gateway`); light to import.

`clerkrelay.cli.main` adds them to `clerk-relay` when this package is installed, and
runs a command with the function `COMMANDS` names. Each flag is a setting of
`relay.settings`; settings read from a variable only are listed below the flags.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from clerkrelay.cli.settings import Setting, add_flags
from relay.settings import GATEWAY, GRPC, SERVE

__all__ = ["COMMANDS", "add_parsers"]

COMMANDS = {
    "serve": "relay.commands:run_serve_command",
    "grpc": "relay.commands:run_grpc_command",
    "gateway": "relay.commands:run_gateway_command",
}
"""Each server command, and the function (`module:name`) that runs it."""


def _epilog(settings: Sequence[Setting]) -> str | None:
    variables = [f"{s.env}: {s.help}" for s in settings if not s.flags and s.env]
    if not variables:
        return None
    return "also read from the environment: " + "; ".join(variables)


def _add(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help: str,
    settings: Sequence[Setting],
) -> None:
    parser = commands.add_parser(name, help=help, epilog=_epilog(settings))
    add_flags(parser, settings)


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers `serve`, `grpc` and `gateway`."""
    _add(commands, "serve", "run the gateway, the gRPC service and the store in one process", SERVE)
    _add(commands, "grpc", "run the gRPC service (and IngestService) alone", GRPC)
    _add(commands, "gateway", "run the HTTP gateway alone, publishing over gRPC", GATEWAY)
