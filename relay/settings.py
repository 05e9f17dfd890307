"""The server commands' settings, and `SETTINGS`: every setting of `clerk-relay`, in one table.

Each is a `clerkrelay.cli.settings.Setting` (flag, variable, default, parser,
help); the client commands' settings are declared there and shared here
(`--http-addr`, `--signing-secret`, `--target`/`--grpc-target`, `--token`,
`--tls-ca`). Defaults are the settings objects' own (`ServiceSettings`,
`GatewaySettings`, `StreamLimits`), read from them, never copied. This table
feeds argparse (`relay.flags`), the settings objects (`relay.commands`) and
the README's configuration table (`markdown_table`, pinned by a test).
"""

from __future__ import annotations

from pathlib import Path

from clerkrelay.cli.logs import LOG_FORMAT
from clerkrelay.cli.settings import (
    GRPC_TARGET,
    HTTP_ADDR,
    SIGNING_SECRET,
    TLS_CA,
    TOKEN,
    Setting,
    count,
    duration,
    host_port,
    int_between,
    non_negative_int,
    parse_duration,
    path,
    text,
)
from clerkrelay.cli.settings import SETTINGS as CLIENT_SETTINGS
from clerkrelay.limits import MAX_BODY_BYTES_CEILING
from gateway.settings import GatewaySettings
from service.auth import parse_tokens, read_token_file
from service.reconcile.settings import ReconcileSettings
from service.settings import ServiceSettings

__all__ = [
    "GATEWAY",
    "GRPC",
    "SERVE",
    "SETTINGS",
    "markdown_table",
]

_SERVICE = ServiceSettings()
_GATEWAY = GatewaySettings(secrets=("whsec_default",))
_RECONCILE = ReconcileSettings(secret_key="sk_test_default")


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _database_url(value: str) -> str:
    if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ValueError(
            f"unsupported database URL {value!r}: use sqlite:///path/to/file.db or postgresql://…"
        )
    return value


def _secret_key(value: str) -> str:
    """A Backend API secret key; the message never repeats it (it is a secret)."""
    if not value.startswith(("sk_live_", "sk_test_")) or len(value.split()) != 1:
        raise ValueError("not a Clerk secret key: it begins sk_live_ or sk_test_")
    return value


def _api_url(value: str) -> str:
    if not value.startswith(("https://", "http://")) or len(value.split()) != 1:
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value.rstrip("/")


def _share(value: str) -> float:
    """A share of a whole, more than 0 and at most 1 (`0.2`)."""
    share = _fraction(value)
    if share == 0:
        raise ValueError(f"must be more than 0 (got {value!r})")
    return share


def _fraction(value: str) -> float:
    """A share of a whole, 0 to 1 (`0.1`)."""
    try:
        share = float(value)
    except ValueError:
        raise ValueError(f"not a number: {value!r} (use e.g. 0.2)") from None
    if not 0 <= share <= 1:
        raise ValueError(f"must be between 0 and 1 (got {value!r})")
    return share


def _token_file(value: str) -> Path:
    """A tokens file, read once here so that a bad one is caught with its setting's name."""
    read_token_file(Path(value))
    return Path(value)


GRPC_ADDR = Setting(
    "grpc_addr",
    ("--grpc-addr",),
    "CLERK_RELAY_GRPC_ADDR",
    host_port,
    _SERVICE.grpc_addr,
    "where the gRPC service listens",
    shown_default=_SERVICE.grpc_addr,
    metavar="HOST:PORT",
)
DATABASE_URL = Setting(
    "database_url",
    ("--database-url",),
    "CLERK_RELAY_DATABASE_URL",
    _database_url,
    _SERVICE.database_url,
    "sqlite:///path or postgresql://user@host/db",
    shown_default=_SERVICE.database_url,
    metavar="URL",
)
TOLERANCE = Setting(
    "tolerance",
    ("--tolerance",),
    "CLERK_RELAY_TIMESTAMP_TOLERANCE",
    non_negative_int,
    _GATEWAY.tolerance_s,
    "accepted webhook timestamp skew, whole seconds",
    shown_default=str(_GATEWAY.tolerance_s),
    metavar="SECONDS",
)
MAX_BODY_BYTES = Setting(
    "max_body_bytes",
    ("--max-body-bytes",),
    "CLERK_RELAY_MAX_BODY_BYTES",
    int_between(1, MAX_BODY_BYTES_CEILING),
    _GATEWAY.max_body_bytes,
    f"largest webhook body (413 beyond); at most {MAX_BODY_BYTES_CEILING:,} (see Limits)",
    shown_default=str(_GATEWAY.max_body_bytes),
    metavar="BYTES",
)
TOKENS_FILE = Setting(
    "tokens_file",
    ("--tokens-file",),
    "CLERK_RELAY_TOKENS_FILE",
    _token_file,
    None,
    "bearer tokens with their roles, one a line: <token> (subscriber) or <role> <token>; "
    "turns auth on",
    shown_default="off",
    metavar="FILE",
)
TOKENS = Setting(
    "tokens",
    (),
    "CLERK_RELAY_TOKENS",
    parse_tokens,
    (),
    "subscriber tokens, comma- or space-separated; turns auth on",
    shown_default="off",
)
INGEST_TOKENS = Setting(
    "ingest_tokens",
    (),
    "CLERK_RELAY_INGEST_TOKENS",
    parse_tokens,
    (),
    "ingest tokens (a split gateway's), comma- or space-separated",
    shown_default="off",
)
ADMIN_TOKENS = Setting(
    "admin_tokens",
    (),
    "CLERK_RELAY_ADMIN_TOKENS",
    parse_tokens,
    (),
    "admin tokens, comma- or space-separated",
    shown_default="off",
)
TLS_CERT = Setting(
    "tls_cert",
    ("--tls-cert",),
    "CLERK_RELAY_TLS_CERT",
    path,
    None,
    "TLS for the gRPC listener: its certificate (PEM), with --tls-key",
    shown_default="off",
    metavar="FILE",
)
TLS_KEY = Setting(
    "tls_key",
    ("--tls-key",),
    "CLERK_RELAY_TLS_KEY",
    path,
    None,
    "TLS for the gRPC listener: its private key (PEM), with --tls-cert",
    shown_default="off",
    metavar="FILE",
)
HEARTBEAT_INTERVAL = Setting(
    "heartbeat_interval",
    ("--heartbeat-interval",),
    "CLERK_RELAY_HEARTBEAT_INTERVAL",
    duration,
    _SERVICE.heartbeat_interval_s,
    "heartbeat on idle Subscribe streams this often (2s, 1m)",
    shown_default=_seconds(_SERVICE.heartbeat_interval_s),
    metavar="DURATION",
)
LIVE_BUFFER = Setting(
    "live_buffer",
    ("--live-buffer",),
    "CLERK_RELAY_LIVE_BUFFER",
    count,
    _SERVICE.live_buffer_events,
    "events buffered per live stream before it falls behind and rereads the log",
    shown_default=str(_SERVICE.live_buffer_events),
    metavar="EVENTS",
)
RETENTION_MAX_AGE = Setting(
    "retention_max_age",
    ("--retention-max-age",),
    "CLERK_RELAY_RETENTION_MAX_AGE",
    parse_duration,
    _SERVICE.retention.max_age_s,
    "drop log events older than this (30d, 12h); the projection and dedup are never trimmed",
    shown_default="keep all",
    metavar="DURATION",
)
RETENTION_MAX_COUNT = Setting(
    "retention_max_count",
    ("--retention-max-count",),
    "CLERK_RELAY_RETENTION_MAX_COUNT",
    count,
    _SERVICE.retention.max_count,
    "keep at most this many log events",
    shown_default="keep all",
    metavar="EVENTS",
)
CLERK_SECRET_KEY = Setting(
    "clerk_secret_key",
    (),
    "CLERK_SECRET_KEY",
    _secret_key,
    None,
    "Clerk's Backend API secret key (sk_live_… or sk_test_…): turns backfill and "
    "reconciliation on; never printed",
    shown_default="off",
)
CLERK_API_URL = Setting(
    "clerk_api_url",
    ("--clerk-api-url",),
    "CLERK_API_URL",
    _api_url,
    _RECONCILE.api_url,
    "Clerk's Backend API base URL",
    shown_default=_RECONCILE.api_url,
    metavar="URL",
)
RECONCILE_INTERVAL = Setting(
    "reconcile_interval",
    ("--reconcile-interval",),
    "CLERK_RELAY_RECONCILE_INTERVAL",
    parse_duration,
    _RECONCILE.interval_s,
    "reconcile the mirror with the Backend API this often (30m, 6h); 0 turns the schedule off",
    shown_default=f"{_RECONCILE.interval_s / 3600:g}h",
    metavar="DURATION",
)
RECONCILE_BUDGET_SHARE = Setting(
    "reconcile_budget_share",
    ("--reconcile-budget-share",),
    "CLERK_RELAY_RECONCILE_BUDGET_SHARE",
    _share,
    _RECONCILE.budget_share,
    "share of the instance's Backend API rate limit a pass may spend, over 0 and at most 1",
    shown_default=f"{_RECONCILE.budget_share:g}",
    metavar="SHARE",
)
RECONCILE_MAX_DELETE_SHARE = Setting(
    "reconcile_max_delete_share",
    ("--reconcile-max-delete-share",),
    "CLERK_RELAY_RECONCILE_MAX_DELETE_SHARE",
    _fraction,
    _RECONCILE.max_delete_share,
    "a pass deletes nothing of a kind when more than this share of it would go, 0 to 1 "
    "(the mass-delete guard; reconcile --allow-mass-delete passes it)",
    shown_default=f"{_RECONCILE.max_delete_share:g}",
    metavar="SHARE",
)
OPS_ADDR = Setting(
    "ops_addr",
    ("--ops-addr", "--metrics-addr"),
    "CLERK_RELAY_OPS_ADDR",
    host_port,
    None,
    "the operations listener: /metrics, /healthz, /readyz and (serve, grpc) the console at "
    "/console/ (gateway: the ingest chart at /); keep it private (--metrics-addr is its former "
    "name)",
    shown_default="127.0.0.1:8081 (grpc: 127.0.0.1:8082)",
    metavar="HOST:PORT",
)
DEV = Setting(
    "dev",
    ("--dev",),
    None,
    text,
    False,
    "when no signing secret is configured, use the one kept beside the SQLite database "
    "(dev-webhook-secret, created the first time) and print it (serve only)",
    switch=True,
)

_HTTP = (HTTP_ADDR, OPS_ADDR, SIGNING_SECRET, TOLERANCE, MAX_BODY_BYTES)
_GRPC = (
    GRPC_ADDR,
    TOKENS_FILE,
    TOKENS,
    INGEST_TOKENS,
    ADMIN_TOKENS,
    TLS_CERT,
    TLS_KEY,
    HEARTBEAT_INTERVAL,
    LIVE_BUFFER,
)
_STORE = (
    DATABASE_URL,
    RETENTION_MAX_AGE,
    RETENTION_MAX_COUNT,
    CLERK_SECRET_KEY,
    CLERK_API_URL,
    RECONCILE_INTERVAL,
    RECONCILE_BUDGET_SHARE,
    RECONCILE_MAX_DELETE_SHARE,
)

SERVE: tuple[Setting, ...] = (*_HTTP, *_GRPC, *_STORE, DEV)
"""The settings of `clerk-relay serve`."""

GRPC: tuple[Setting, ...] = (OPS_ADDR, *_GRPC, *_STORE)
"""The settings of `clerk-relay grpc`."""

GATEWAY: tuple[Setting, ...] = (*_HTTP, GRPC_TARGET, TOKEN, TLS_CA)
"""The settings of `clerk-relay gateway`."""

SETTINGS: tuple[Setting, ...] = (
    SIGNING_SECRET,
    HTTP_ADDR,
    OPS_ADDR,
    GRPC_ADDR,
    DATABASE_URL,
    TOLERANCE,
    MAX_BODY_BYTES,
    TOKENS_FILE,
    TOKENS,
    INGEST_TOKENS,
    ADMIN_TOKENS,
    TLS_CERT,
    TLS_KEY,
    HEARTBEAT_INTERVAL,
    LIVE_BUFFER,
    RETENTION_MAX_AGE,
    RETENTION_MAX_COUNT,
    CLERK_SECRET_KEY,
    CLERK_API_URL,
    RECONCILE_INTERVAL,
    RECONCILE_BUDGET_SHARE,
    RECONCILE_MAX_DELETE_SHARE,
    DEV,
    GRPC_TARGET,
    TOKEN,
    *(s for s in CLIENT_SETTINGS if s not in (SIGNING_SECRET, HTTP_ADDR, GRPC_TARGET, TOKEN)),
    LOG_FORMAT,
)
"""Every setting of `clerk-relay`, each once, in the README's order."""


def markdown_table() -> str:
    """The README's configuration table: one row per setting."""
    rows = ["| flag | variable | default | meaning |", "|---|---|---|---|"]
    for setting in SETTINGS:
        flags = ", ".join(f"`{flag}`" for flag in setting.flags)
        if setting.repeat:
            flags += " (repeatable)"
        env = f"`{setting.env}`" if setting.env else ""
        shown = setting.shown_default
        default = shown if " " in shown or shown in ("off", "") else f"`{shown}`"
        default = default or "—"
        rows.append(f"| {flags} | {env} | {default} | {setting.help} |")
    return "\n".join(rows) + "\n"
