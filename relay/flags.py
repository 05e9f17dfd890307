"""Flags of the server commands (`serve`, `grpc`, `gateway`); light to import.

`clerkrelay.cli.main` adds them to `clerk-relay` when this package is installed, and
runs a command with the function `COMMANDS` names.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.settings import DEFAULT_MAX_BODY_BYTES

__all__ = ["COMMANDS", "add_parsers"]

COMMANDS = {
    "serve": "relay.commands:run_serve_command",
    "grpc": "relay.commands:run_grpc_command",
    "gateway": "relay.commands:run_gateway_command",
}
"""Each server command, and the function (`module:name`) that runs it."""


def _add_store_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="sqlite:///path/to/file.db (default sqlite:///./clerk-relay.db) or "
        "postgresql://… [CLERK_RELAY_DATABASE_URL]",
    )
    parser.add_argument(
        "--retention-max-age",
        help="drop log events older than this (e.g. 30d); default keeps everything "
        "[CLERK_RELAY_RETENTION_MAX_AGE]",
    )
    parser.add_argument(
        "--retention-max-count",
        type=int,
        help="keep at most this many log events [CLERK_RELAY_RETENTION_MAX_COUNT]",
    )


def _add_grpc_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--grpc-addr", help="gRPC listen address (default 127.0.0.1:50051) [CLERK_RELAY_GRPC_ADDR]"
    )
    parser.add_argument(
        "--tokens-file",
        type=Path,
        help="file of accepted bearer tokens, one a line; turns auth on "
        "[CLERK_RELAY_TOKENS_FILE, or CLERK_RELAY_TOKENS]",
    )
    parser.add_argument(
        "--tls-cert", type=Path, help="TLS certificate (PEM) [CLERK_RELAY_TLS_CERT]"
    )
    parser.add_argument("--tls-key", type=Path, help="TLS private key (PEM) [CLERK_RELAY_TLS_KEY]")
    parser.add_argument(
        "--heartbeat-interval",
        help="heartbeat on idle Subscribe streams this often (default 5s) "
        "[CLERK_RELAY_HEARTBEAT_INTERVAL]",
    )
    parser.add_argument(
        "--live-buffer",
        type=int,
        help="events buffered per live stream before it falls behind and rereads the log "
        "(default 1024) [CLERK_RELAY_LIVE_BUFFER]",
    )


def _add_http_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--http-addr", help="HTTP listen address (default 127.0.0.1:8080) [CLERK_RELAY_HTTP_ADDR]"
    )
    parser.add_argument(
        "--signing-secret",
        action="append",
        default=[],
        help="Clerk webhook signing secret (whsec_…); repeat for rotation "
        "[CLERK_WEBHOOK_SIGNING_SECRET, space- or comma-separated]",
    )
    parser.add_argument(
        "--tolerance",
        type=int,
        help="accepted webhook timestamp skew in seconds (default 300) "
        "[CLERK_RELAY_TIMESTAMP_TOLERANCE]",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        help=f"largest webhook body (default {DEFAULT_MAX_BODY_BYTES}) "
        "[CLERK_RELAY_MAX_BODY_BYTES]",
    )


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers `serve`, `grpc` and `gateway`."""
    serve = commands.add_parser(
        "serve", help="run the gateway, the gRPC service and the store in one process"
    )
    _add_http_flags(serve)
    _add_grpc_flags(serve)
    _add_store_flags(serve)
    serve.add_argument(
        "--dev",
        action="store_true",
        help="when no signing secret is configured, generate one and print it",
    )

    grpc_cmd = commands.add_parser("grpc", help="run the gRPC service (and IngestService) alone")
    _add_grpc_flags(grpc_cmd)
    _add_store_flags(grpc_cmd)

    gateway = commands.add_parser(
        "gateway", help="run the HTTP gateway alone, publishing over gRPC"
    )
    _add_http_flags(gateway)
    gateway.add_argument(
        "--grpc-target",
        help="the gRPC service to publish to (default 127.0.0.1:50051) [CLERK_RELAY_GRPC_TARGET]",
    )
    gateway.add_argument("--token", help="bearer token for the gRPC service [CLERK_RELAY_TOKEN]")
    gateway.add_argument(
        "--tls-ca", type=Path, help="CA certificate to verify the gRPC service [CLERK_RELAY_TLS_CA]"
    )
