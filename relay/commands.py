"""The server commands: `serve` (all in one), `grpc` and `gateway` (split deployment).

Imported only when one of them runs, so that the developer's commands (`tail`,
`get`, …) start fast. Each command resolves its settings (`relay.settings`:
flag, else variable, else default) and builds the settings objects of its
processes from them: `ServiceSettings`, `GatewaySettings`, `runner.HttpSettings`.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any

import grpc

from clerkrelay.cli.cli_error import EXIT_FAILURE, CliError
from clerkrelay.cli.client_flags import run_async
from clerkrelay.cli.dev_secret import dev_secret_file, keep_dev_secret, new_secret
from clerkrelay.cli.settings import GRPC_TARGET, HTTP_ADDR, Target, resolve
from gateway.settings import GatewaySettings
from relay import collector, runner, settings
from service.auth import Role, load_tokens
from service.reconcile.settings import ReconcileSettings
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage import Retention, StoreError

__all__ = [
    "gateway_settings",
    "http_settings",
    "run_gateway_command",
    "run_grpc_command",
    "run_serve_command",
    "service_settings",
    "this_command",
]

_log = logging.getLogger("clerk_relay")

_SECRET_HELP = (
    "no webhook signing secret: set CLERK_WEBHOOK_SIGNING_SECRET to the endpoint's secret "
    "(Clerk dashboard → Webhooks → your endpoint → Signing Secret), pass --signing-secret, "
    "or run `clerk-relay serve --dev` to generate one for local testing"
)


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Runs a server; a store that cannot be opened or fails is one line and exit 1."""
    collector.tune()
    try:
        run_async(main)
    except StoreError as error:
        raise CliError(str(error), EXIT_FAILURE) from None


def gateway_settings(
    values: Mapping[str, Any], *, dev: bool = False
) -> tuple[GatewaySettings, str | None]:
    """The gateway's settings from resolved settings, and the secret generated for --dev.

    Raises:
        CliError: No signing secret (and not `dev`), or the settings do not fit together.
    """
    found: tuple[str, ...] = values["signing_secret"]
    generated = None
    if not found:
        if not dev:
            raise CliError(_SECRET_HELP)
        generated = _dev_secret(values.get("database_url"))
        found = (generated,)
    try:
        gateway = GatewaySettings(
            found, tolerance_s=values["tolerance"], max_body_bytes=values["max_body_bytes"]
        )
    except ValueError as error:
        raise CliError(str(error)) from error
    return gateway, generated


def _dev_secret(database_url: str | None) -> str:
    """`--dev`'s secret: kept beside a SQLite database (`clerkrelay.cli.dev_secret`), else new.

    Raises:
        CliError: The kept secret cannot be read or written.
    """
    path = dev_secret_file(database_url)
    if path is None:
        return new_secret()
    try:
        secret, created = keep_dev_secret(path)
    except OSError as error:
        raise CliError(f"--dev: cannot keep the dev signing secret in {path}: {error}") from None
    _log.info("%s the dev signing secret in %s", "created" if created else "using", path)
    return secret


def service_settings(values: Mapping[str, Any]) -> ServiceSettings:
    """The gRPC service's settings from resolved settings.

    Raises:
        CliError: The tokens or the TLS files do not fit together.
    """
    try:
        tokens = load_tokens(
            values["tokens_file"],
            " ".join(values["tokens"]),
            ingest=" ".join(values["ingest_tokens"]),
            admin=" ".join(values["admin_tokens"]),
        )
    except ValueError as error:
        raise CliError(f"bearer tokens: {error}") from error
    if (values["tls_cert"] is None) != (values["tls_key"] is None):
        raise CliError(
            f"{settings.TLS_CERT.label}, {settings.TLS_KEY.label}: TLS needs both a certificate "
            "file and a key file"
        )
    try:
        return ServiceSettings(
            grpc_addr=values["grpc_addr"],
            database_url=values["database_url"],
            tokens=tokens,
            tls_cert_file=values["tls_cert"],
            tls_key_file=values["tls_key"],
            heartbeat_interval_s=values["heartbeat_interval"],
            live_buffer_events=values["live_buffer"],
            retention=Retention(
                max_age_s=values["retention_max_age"], max_count=values["retention_max_count"]
            ),
            reconcile=_reconcile_settings(values),
        )
    except ValueError as error:
        raise CliError(str(error)) from error


def _reconcile_settings(values: Mapping[str, Any]) -> ReconcileSettings | None:
    """Reconciliation's settings; None without a secret key (no pass runs)."""
    if values["clerk_secret_key"] is None:
        return None
    return ReconcileSettings(
        secret_key=values["clerk_secret_key"],
        api_url=values["clerk_api_url"],
        interval_s=values["reconcile_interval"],
        budget_share=values["reconcile_budget_share"],
        max_delete_share=values["reconcile_max_delete_share"],
    )


def http_settings(values: Mapping[str, Any]) -> runner.HttpSettings:
    """The HTTP side's settings from resolved settings (`grpc_target` and `token`: a gateway's)."""
    return runner.HttpSettings(
        http_addr=values.get("http_addr") or HTTP_ADDR.default,
        ops_addr=values["ops_addr"] or "",
        grpc_target=values.get("grpc_target") or GRPC_TARGET.default,
        grpc_token=values.get("token") or "",
    )


def this_command() -> str:
    """`clerk-relay` as this process was started, for the banner's commands to run as printed.

    The running `clerk-relay` script: bare when it is the one on PATH, else its
    absolute path (`…/.venv/bin/clerk-relay` after `make run`); or this
    interpreter's `-m clerkrelay.cli` when started so.
    """
    script = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if os.path.basename(script) == "clerk-relay":
        on_path = shutil.which("clerk-relay")
        if on_path is not None and os.path.samefile(on_path, script):
            return "clerk-relay"
        return shlex.quote(script)
    if script.endswith(os.path.join("clerkrelay", "cli", "__main__.py")):
        return f"{shlex.quote(sys.executable)} -m clerkrelay.cli"
    return "clerk-relay"


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
        return [*lines, f"  store     {service.database_url}", _reconcile_line(service)]

    return lines


def _duration(seconds: float) -> str:
    """`6h`, `30m`, `90s`: the largest unit that divides the duration."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _reconcile_line(service: ServiceSettings) -> str:
    """The banner's reconciliation line: never the key, only which kind of instance it is for."""
    reconcile = service.reconcile
    if reconcile is None:
        return "  reconcile off (set CLERK_SECRET_KEY to backfill and reconcile from Clerk)"
    instance = "production" if reconcile.production else "development"
    schedule = f"every {_duration(reconcile.interval_s)}" if reconcile.interval_s else "on demand"
    return (
        f"  reconcile {schedule}; at start-up: a backfill when the mirror is empty, or the "
        "unfinished pass resumed "
        f"({instance} key, {reconcile.api_url})"
    )


def _ops_line(ops_addr: str, *, console: bool) -> str:
    """The banner's operations line: where the metrics, health and console (or chart) are."""
    extra = ", console" if console else ", ingest chart"
    return f"  ops       http://{ops_addr}/   (metrics, healthz, readyz{extra}; keep it private)"


def run_serve_command(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Runs `serve`: the gateway, the gRPC service and the store in this process."""
    values = resolve(settings.SERVE, args, environ)
    gateway, generated = gateway_settings(values, dev=values["dev"])
    service = service_settings(values)
    http = http_settings(values)
    grpc_lines = _grpc_banner(replace(service, expose_ingest=False))  # serve publishes in-process

    def banner(server: RelayServer, ops_addr: str) -> None:
        lines = [
            "clerk-relay is running",
            f"  webhooks  http://{http.http_addr}/webhooks/clerk   (point Clerk's dashboard here)",
            *grpc_lines(server),
            _ops_line(ops_addr, console=True),
        ]
        secret_env = ""
        if generated:
            kept = dev_secret_file(service.database_url)
            where = f"kept in {kept}" if kept is not None else "new on every start"
            lines.append(f"  secret    {generated}   (--dev: {where}; for local testing only)")
            secret_env = f"CLERK_WEBHOOK_SIGNING_SECRET={shlex.quote(generated)} "
        command = this_command()
        lines += [
            "try:",
            f"  {secret_env}{command} trigger user.created --url http://{http.http_addr}",
            f"  {command} tail --types 'user.*' --from-beginning --target {service.grpc_addr}",
        ]
        runner.print_lines(lines, sys.stdout)

    _run(runner.run_serve(gateway, service, http, banner))


def run_grpc_command(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Runs `grpc`: the gRPC service (with IngestService for gateways) alone."""
    values = resolve(settings.GRPC, args, environ)
    service = service_settings(values)
    grpc_lines = _grpc_banner(service)

    def banner(server: RelayServer, ops_addr: str) -> None:
        lines = [
            "clerk-relay gRPC service is running",
            *grpc_lines(server),
            _ops_line(ops_addr, console=True),
        ]
        runner.print_lines(lines, sys.stdout)

    _run(runner.run_grpc(service, http_settings(values), banner))


def run_gateway_command(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Runs `gateway`: the HTTP gateway alone, publishing to a gRPC service."""
    values = resolve(settings.GATEWAY, args, environ)
    gateway, _ = gateway_settings(values)
    http = http_settings(values)
    ca: bytes | None = values["tls_ca"]
    target = values["grpc_target"]
    tls = ca is not None or (isinstance(target, Target) and target.tls)  # `https://…`
    credentials = grpc.ssl_channel_credentials(ca) if tls else None

    def banner(ops_addr: str) -> None:
        runner.print_lines(
            [
                "clerk-relay gateway is running",
                f"  webhooks  http://{http.http_addr}/webhooks/clerk",
                f"  publishes to gRPC {http.grpc_target} (TLS {'on' if tls else 'off'})",
                _ops_line(ops_addr, console=False),
            ],
            sys.stdout,
        )

    _run(runner.run_gateway(gateway, http, credentials, banner))
