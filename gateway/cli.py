"""The `clerk-relay` command line: `serve`, `gateway` and `grpc`.

Every flag has an environment variable; a flag wins over its variable.
Start-up problems (no secret, a store that cannot be opened, an address in
use) print one clear line and exit non-zero, without a stack trace.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import grpc
import uvloop

from gateway import runner
from gateway.settings import DEFAULT_MAX_BODY_BYTES, GatewaySettings
from gateway.signature import parse_secrets
from service.auth import load_tokens
from service.server import RelayServer
from service.settings import ServiceSettings, from_env, parse_duration
from service.store import Retention, StoreError

__all__ = ["main"]

_SECRET_HELP = (
    "no webhook signing secret: set CLERK_WEBHOOK_SIGNING_SECRET to the endpoint's secret "
    "(Clerk dashboard → Webhooks → your endpoint → Signing Secret), pass --signing-secret, "
    "or run `clerk-relay serve --dev` to generate one for local testing"
)


class CliError(Exception):
    """A problem the user can fix; printed as one line."""


def _env(environ: Mapping[str, str], name: str, default: str = "") -> str:
    return environ.get(name, "").strip() or default


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
    return parser


def _gateway_settings(
    args: argparse.Namespace, environ: Mapping[str, str], dev: bool
) -> tuple[GatewaySettings, str | None]:
    """The gateway's settings, and the secret generated for --dev (if one was)."""
    found = tuple(s for value in args.signing_secret for s in parse_secrets(value))
    found = found or parse_secrets(_env(environ, "CLERK_WEBHOOK_SIGNING_SECRET"))
    generated = None
    if not found:
        if not dev:
            raise CliError(_SECRET_HELP)
        generated = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        found = (generated,)
    tolerance = args.tolerance
    if tolerance is None:
        tolerance = int(_env(environ, "CLERK_RELAY_TIMESTAMP_TOLERANCE", "300"))
    max_body = args.max_body_bytes
    if max_body is None:
        max_body = int(_env(environ, "CLERK_RELAY_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES)))
    try:
        settings = GatewaySettings(found, tolerance_s=tolerance, max_body_bytes=max_body)
    except ValueError as error:
        raise CliError(str(error)) from error
    return settings, generated


def _service_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> ServiceSettings:
    try:
        settings = from_env(environ)
        changes: dict[str, object] = {}
        if args.grpc_addr:
            changes["grpc_addr"] = args.grpc_addr
        if args.database_url:
            changes["database_url"] = args.database_url
        if args.tokens_file:
            changes["tokens"] = load_tokens(args.tokens_file, _env(environ, "CLERK_RELAY_TOKENS"))
        if args.tls_cert:
            changes["tls_cert_file"] = args.tls_cert
        if args.tls_key:
            changes["tls_key_file"] = args.tls_key
        if args.retention_max_age or args.retention_max_count:
            retention = settings.retention
            changes["retention"] = Retention(
                max_age_s=parse_duration(args.retention_max_age)
                if args.retention_max_age
                else retention.max_age_s,
                max_count=args.retention_max_count or retention.max_count,
            )
        return replace(settings, **changes)  # type: ignore[arg-type]
    except ValueError as error:
        raise CliError(str(error)) from error


def _http_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> runner.HttpSettings:
    http_addr = args.http_addr or _env(environ, "CLERK_RELAY_HTTP_ADDR", "127.0.0.1:8080")
    try:
        runner.split_addr(http_addr)
    except ValueError as error:
        raise CliError(str(error)) from error
    return runner.HttpSettings(
        http_addr=http_addr,
        grpc_target=getattr(args, "grpc_target", None)
        or _env(environ, "CLERK_RELAY_GRPC_TARGET", "127.0.0.1:50051"),
        grpc_token=getattr(args, "token", None) or _env(environ, "CLERK_RELAY_TOKEN"),
    )


def _grpc_banner(service: ServiceSettings) -> Callable[[RelayServer], list[str]]:
    def lines(server: RelayServer) -> list[str]:
        auth = (
            "on (bearer tokens required)"
            if server.auth_enabled
            else "OFF: any client that can reach this address may subscribe and query"
        )
        return [
            f"  gRPC      {service.grpc_addr}   (reflection on; TLS "
            f"{'on' if server.tls_enabled else 'off'})",
            f"  auth      {auth}",
            f"  store     {service.database_url}",
        ]

    return lines


def _serve(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    gateway, generated = _gateway_settings(args, environ, args.dev)
    service = _service_settings(args, environ)
    http = _http_settings(args, environ)
    grpc_lines = _grpc_banner(service)

    def banner(server: RelayServer) -> None:
        lines = [
            "clerk-relay is running",
            f"  webhooks  http://{http.http_addr}/webhooks/clerk   (point Clerk's dashboard here)",
            *grpc_lines(server),
        ]
        secret_env = ""
        if generated:
            lines.append(f"  secret    {generated}   (generated by --dev; for local testing only)")
            secret_env = f"CLERK_WEBHOOK_SIGNING_SECRET={generated} "
        lines += [
            "try:",
            f"  {secret_env}clerk-relay trigger user.created --url http://{http.http_addr}",
            f"  clerk-relay tail --types 'user.*' --target {service.grpc_addr}",
        ]
        runner.print_lines(lines, sys.stdout)

    _run(runner.run_serve(gateway, service, http, banner))


def _grpc(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    service = _service_settings(args, environ)
    grpc_lines = _grpc_banner(service)

    def banner(server: RelayServer) -> None:
        runner.print_lines(["clerk-relay gRPC service is running", *grpc_lines(server)], sys.stdout)

    _run(runner.run_grpc(service, banner))


def _gateway(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    gateway, _ = _gateway_settings(args, environ, dev=False)
    http = _http_settings(args, environ)
    ca = args.tls_ca or (Path(v) if (v := _env(environ, "CLERK_RELAY_TLS_CA")) else None)
    try:
        credentials = grpc.ssl_channel_credentials(ca.read_bytes()) if ca else None
    except OSError as error:
        raise CliError(f"cannot read the CA certificate: {error}") from error

    def banner() -> None:
        runner.print_lines(
            [
                "clerk-relay gateway is running",
                f"  webhooks  http://{http.http_addr}/webhooks/clerk",
                f"  publishes to gRPC {http.grpc_target} (TLS {'on' if ca else 'off'})",
            ],
            sys.stdout,
        )

    _run(runner.run_gateway(gateway, http, credentials, banner))


def _run(main: object) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop_runner:
        loop_runner.run(main)  # type: ignore[arg-type]


_COMMANDS: dict[str, Callable[[argparse.Namespace, Mapping[str, str]], None]] = {
    "serve": _serve,
    "grpc": _grpc,
    "gateway": _gateway,
}


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Runs the command line; returns the process exit code."""
    environ = os.environ if environ is None else environ
    args = _parser().parse_args(argv)
    level = (args.log_level or _env(environ, "CLERK_RELAY_LOG_LEVEL", "info")).upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        _COMMANDS[args.command](args, environ)
    except CliError as error:
        print(f"clerk-relay: {error}", file=sys.stderr)
        return 2
    except (StoreError, OSError) as error:
        print(f"clerk-relay: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
