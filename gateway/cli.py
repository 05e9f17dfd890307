"""The `clerk-relay` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clerk-relay",
        description="Clerk webhooks as a durable, typed, replayable gRPC event stream.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the gateway and the gRPC service in one process")
    serve.add_argument(
        "--dev", action="store_true", help="generate and print a signing secret if none is set"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        print(
            "clerk-relay serve: the store, gateway and gRPC service are not built yet "
            "(they land with the store, gateway and gRPC service issues).",
            file=sys.stderr,
        )
        return 2
    return 0  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
