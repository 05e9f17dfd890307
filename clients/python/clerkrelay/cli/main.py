"""The `clerk-relay` command line: the client's commands, and the server's when installed.

The client's commands (`tail`, `get`, `list`, `event`, `history`, `trigger`,
`reconcile`, `consumers`) live here, one module each (`get`/`list` and
`event`/`history` a pair each). The server's (`serve`, `gateway`, `grpc`) live
in the `relay` package, which is installed with the server (the top-level
`clerk-relay` project) and not with this client alone: when `relay` can be
imported, its flags join the parser, and the module that runs a server command
is imported only when one runs, so that the client's commands start quickly.

Every flag has an environment variable; a flag wins over its variable.
Global flags (`--log-level`, `--log-format`, see `clerkrelay.cli.logs`) go
before or after the command. Start-up
problems (no secret, a store that cannot be opened, an address in use) print
one clear line and exit non-zero, without a stack trace. A reader that goes
away (`clerk-relay list users | head -1`) ends the command quietly, exit 0.
gRPC's C core prints nothing unless GRPC_VERBOSITY is set (see below).
"""

from __future__ import annotations

import os

# gRPC's C core logs to stderr past the CLI's own messages (a failed TLS
# handshake, a port it cannot bind); it reads this once, as grpc is imported.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import argparse
import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType

from clerkrelay.cli import consumers, lookup, query, reconcile, tail, trigger
from clerkrelay.cli.cli_error import CliError
from clerkrelay.cli.logs import LOG_FORMAT, configure_logging
from clerkrelay.cli.settings import LOG_LEVEL, Setting

__all__ = ["main"]

_Command = Callable[[argparse.Namespace, Mapping[str, str]], None]

_TOOLS: dict[str, _Command] = {
    "tail": tail.run,
    "trigger": trigger.run,
    "get": query.run_get,
    "list": query.run_list,
    "reconcile": reconcile.run,
    "event": lookup.run_event,
    "show": lookup.run_event,
    "history": lookup.run_history,
    "consumers": consumers.run,
}

_GLOBAL = (LOG_LEVEL, LOG_FORMAT)
"""Settings every command takes, before or after its name."""

_SERVER_FLAGS = "relay.flags"
"""The server commands' flags: `add_parsers(commands)`, and `COMMANDS`, which maps each
command to the `module:function` that runs it."""


def _server_flags() -> ModuleType | None:
    """The server commands' flags module; None when only the client is installed."""
    try:
        return importlib.import_module(_SERVER_FLAGS)
    except ModuleNotFoundError as error:
        if error.name in ("relay", _SERVER_FLAGS):
            return None
        raise


def _parser(server: ModuleType | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clerk-relay",
        description="Clerk webhooks as a durable, typed, replayable gRPC event stream.",
    )
    for setting in _GLOBAL:
        setting.add_to(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if server is not None:
        server.add_parsers(commands)
    tail.add_parser(commands)
    trigger.add_parser(commands)
    query.add_parsers(commands)
    lookup.add_parsers(commands)
    reconcile.add_parser(commands)
    consumers.add_parser(commands)
    for command in {id(c): c for c in commands.choices.values()}.values():  # aliases: once
        _add_global_flags(command)
    return parser


def _add_global_flags(command: argparse.ArgumentParser) -> None:
    """`--log-level` and `--log-format` after the command too; else the ones before it stand."""
    setting: Setting
    for setting in _GLOBAL:
        command.add_argument(
            *setting.flags,
            dest=setting.name,
            default=argparse.SUPPRESS,
            metavar=setting.metavar,
            help=setting.help_line(),
        )


def _reader_gone() -> int:
    """Stdout's reader went away: point stdout at /dev/null (so the exit flush is quiet)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 0


def _command(name: str, server: ModuleType | None) -> _Command:
    if name in _TOOLS:
        return _TOOLS[name]
    assert server is not None  # argparse knows the command only when the server is installed
    module, _, function = str(server.COMMANDS[name]).partition(":")
    run: _Command = getattr(importlib.import_module(module), function)
    return run


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Runs the command line; returns the process exit code."""
    environ = os.environ if environ is None else environ
    server = _server_flags()
    args = _parser(server).parse_args(argv)
    try:
        configure_logging(LOG_LEVEL.value(args, environ), LOG_FORMAT.value(args, environ))
        _command(args.command, server)(args, environ)
        sys.stdout.flush()  # here, where a reader gone is caught
    except CliError as error:
        print(f"clerk-relay: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:  # `| head`: stop quietly, as other Unix tools do
        return _reader_gone()
    except OSError as error:
        print(f"clerk-relay: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
