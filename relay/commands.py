"""The server commands: `serve` (all in one), `grpc` and `gateway` (split deployment).

Imported only when one of them runs, so that the developer's commands (`tail`,
`get`, …) start fast.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any

import grpc

from clerkrelay.cli.cli_error import EXIT_FAILURE, CliError
from clerkrelay.cli.client_flags import ca_certificate, run_async
from gateway.settings import DEFAULT_MAX_BODY_BYTES, GatewaySettings, parse_secrets
from relay import runner
from service.auth import Role, load_tokens
from service.server import RelayServer
from service.settings import ServiceSettings, from_env, parse_duration
from service.store import Retention, StoreError

__all__ = ["run_gateway_command", "run_grpc_command", "run_serve_command"]

_SECRET_HELP = (
    "no webhook signing secret: set CLERK_WEBHOOK_SIGNING_SECRET to the endpoint's secret "
    "(Clerk dashboard → Webhooks → your endpoint → Signing Secret), pass --signing-secret, "
    "or run `clerk-relay serve --dev` to generate one for local testing"
)


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Runs a server; a store that cannot be opened or fails is one line and exit 1."""
    try:
        run_async(main)
    except StoreError as error:
        raise CliError(str(error), EXIT_FAILURE) from None


def _env(environ: Mapping[str, str], name: str, default: str = "") -> str:
    return environ.get(name, "").strip() or default


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
            changes["tokens"] = load_tokens(
                args.tokens_file,
                _env(environ, "CLERK_RELAY_TOKENS"),
                ingest=_env(environ, "CLERK_RELAY_INGEST_TOKENS"),
                admin=_env(environ, "CLERK_RELAY_ADMIN_TOKENS"),
            )
        if args.tls_cert:
            changes["tls_cert_file"] = args.tls_cert
        if args.tls_key:
            changes["tls_key_file"] = args.tls_key
        if args.heartbeat_interval:
            changes["heartbeat_interval_s"] = parse_duration(args.heartbeat_interval)
        if args.live_buffer is not None:
            changes["live_buffer_events"] = args.live_buffer
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
        lines = [
            f"  gRPC      {service.grpc_addr}   (reflection on; TLS "
            f"{'on' if server.tls_enabled else 'off'})",
            f"  auth      {auth}",
        ]
        if service.expose_ingest:
            ingest = any(role in (Role.INGEST, Role.ADMIN) for role in service.tokens.values())
            lines.append(
                "  publish   "
                + ("ingest or admin token required" if ingest else "callers on this host only")
            )
        return [*lines, f"  store     {service.database_url}"]

    return lines


def run_serve_command(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Runs `serve`: the gateway, the gRPC service and the store in this process."""
    gateway, generated = _gateway_settings(args, environ, args.dev)
    service = _service_settings(args, environ)
    http = _http_settings(args, environ)
    grpc_lines = _grpc_banner(replace(service, expose_ingest=False))  # serve publishes in-process

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


def run_grpc_command(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Runs `grpc`: the gRPC service (with IngestService for gateways) alone."""
    service = _service_settings(args, environ)
    grpc_lines = _grpc_banner(service)

    def banner(server: RelayServer) -> None:
        runner.print_lines(["clerk-relay gRPC service is running", *grpc_lines(server)], sys.stdout)

    _run(runner.run_grpc(service, banner))


def run_gateway_command(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Runs `gateway`: the HTTP gateway alone, publishing to a gRPC service."""
    gateway, _ = _gateway_settings(args, environ, dev=False)
    http = _http_settings(args, environ)
    ca = ca_certificate(args, environ)
    credentials = grpc.ssl_channel_credentials(ca) if ca is not None else None

    def banner() -> None:
        runner.print_lines(
            [
                "clerk-relay gateway is running",
                f"  webhooks  http://{http.http_addr}/webhooks/clerk",
                f"  publishes to gRPC {http.grpc_target} (TLS {'on' if ca is not None else 'off'})",
            ],
            sys.stdout,
        )

    _run(runner.run_gateway(gateway, http, credentials, banner))
