"""The `clerk-relay` command line: `serve`, `gateway`, `grpc`, and the developer's tools.

Each command lives in its own module (`gateway.server_commands`,
`gateway.tail`, `gateway.trigger`, `gateway.query`). The server commands,
which load the service and its stores, are imported only when one of them
runs, so that the developer's tools start quickly.

Every flag has an environment variable; a flag wins over its variable.
Start-up problems (no secret, a store that cannot be opened, an address in
use) print one clear line and exit non-zero, without a stack trace.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence

from gateway import query, server_flags, tail, trigger
from gateway.cli_error import CliError

__all__ = ["main"]

_Command = Callable[[argparse.Namespace, Mapping[str, str]], None]

# The developer's tools, and the server commands' functions in `gateway.server_commands`.
_TOOLS: dict[str, _Command] = {
    "tail": tail.run,
    "trigger": trigger.run,
    "get": query.run_get,
    "list": query.run_list,
}
_SERVER_COMMANDS = {
    "serve": "run_serve_command",
    "grpc": "run_grpc_command",
    "gateway": "run_gateway_command",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clerk-relay",
        description="Clerk webhooks as a durable, typed, replayable gRPC event stream.",
    )
    parser.add_argument(
        "--log-level",
        default=None,
        help="debug, info (default), warning, error [CLERK_RELAY_LOG_LEVEL]",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server_flags.add_parsers(commands)
    tail.add_parser(commands)
    trigger.add_parser(commands)
    query.add_parsers(commands)
    return parser


def _command(name: str) -> _Command:
    if name in _TOOLS:
        return _TOOLS[name]
    run: _Command = getattr(
        importlib.import_module("gateway.server_commands"), _SERVER_COMMANDS[name]
    )
    return run


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Runs the command line; returns the process exit code."""
    environ = os.environ if environ is None else environ
    args = _parser().parse_args(argv)
    level = (args.log_level or environ.get("CLERK_RELAY_LOG_LEVEL", "").strip() or "info").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from service.storage import StoreError

    try:
        _command(args.command)(args, environ)
    except CliError as error:
        print(f"clerk-relay: {error}", file=sys.stderr)
        return error.exit_code
    except (StoreError, OSError) as error:
        print(f"clerk-relay: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
