"""The server's settings from the environment (and flags): `relay.settings` and its builders.

(Moved from tests/service/test_settings.py with `from_env`, which the settings
table replaced: what is asserted is unchanged, except that an error is a
one-line `CliError` naming the setting.)
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import pytest

from clerkrelay.cli.cli_error import CliError
from clerkrelay.cli.settings import parse_duration, resolve
from relay.commands import service_settings
from relay.settings import SERVE
from service.auth import Role
from service.settings import ServiceSettings
from service.storage import Retention


def from_env(environ: Mapping[str, str]) -> ServiceSettings:
    """What `from_env` was: the service's settings from the environment alone."""
    return service_settings(resolve(SERVE, argparse.Namespace(), environ))


def test_from_empty_environment_is_the_defaults() -> None:
    assert from_env({}) == ServiceSettings()


def test_from_env_reads_every_variable(tmp_path: Path) -> None:
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text("# ops\nfile-token\n", encoding="utf-8")
    settings = from_env(
        {
            "CLERK_RELAY_GRPC_ADDR": "0.0.0.0:6000",
            "CLERK_RELAY_DATABASE_URL": "postgresql://relay@db/relay",
            "CLERK_RELAY_TOKENS": "env-a, env-b",
            "CLERK_RELAY_TOKENS_FILE": str(tokens_file),
            "CLERK_RELAY_TLS_CERT": "/etc/relay/cert.pem",
            "CLERK_RELAY_TLS_KEY": "/etc/relay/key.pem",
            "CLERK_RELAY_RETENTION_MAX_AGE": "7d",
            "CLERK_RELAY_RETENTION_MAX_COUNT": "1000000",
            "UNRELATED": "x",
        }
    )
    assert settings.grpc_addr == "0.0.0.0:6000"
    assert settings.database_url == "postgresql://relay@db/relay"
    assert settings.tokens == dict.fromkeys(("file-token", "env-a", "env-b"), Role.SUBSCRIBER)
    assert settings.tls_cert_file == Path("/etc/relay/cert.pem")
    assert settings.tls_key_file == Path("/etc/relay/key.pem")
    assert settings.retention == Retention(max_age_s=7 * 86400.0, max_count=1_000_000)
    assert settings.auth_enabled and settings.tls_enabled


def test_stream_settings_from_env() -> None:
    settings = from_env({"CLERK_RELAY_HEARTBEAT_INTERVAL": "2s", "CLERK_RELAY_LIVE_BUFFER": "64"})
    assert (settings.heartbeat_interval_s, settings.live_buffer_events) == (2.0, 64)


def test_blank_variables_are_unset() -> None:
    assert from_env({"CLERK_RELAY_GRPC_ADDR": "  ", "CLERK_RELAY_TOKENS": ""}) == ServiceSettings()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CLERK_RELAY_RETENTION_MAX_AGE": "soon"}, "CLERK_RELAY_RETENTION_MAX_AGE"),
        ({"CLERK_RELAY_RETENTION_MAX_COUNT": "-5"}, "CLERK_RELAY_RETENTION_MAX_COUNT"),
        ({"CLERK_RELAY_RETENTION_MAX_COUNT": "0"}, "CLERK_RELAY_RETENTION_MAX_COUNT"),
        ({"CLERK_RELAY_RETENTION_MAX_COUNT": "1e6"}, "CLERK_RELAY_RETENTION_MAX_COUNT"),
        ({"CLERK_RELAY_TOKENS_FILE": "/nonexistent/tokens"}, "CLERK_RELAY_TOKENS_FILE"),
        ({"CLERK_RELAY_TLS_CERT": "/c.pem"}, "both"),
        ({"CLERK_RELAY_GRPC_ADDR": "nohost"}, "host:port"),
        ({"CLERK_RELAY_HEARTBEAT_INTERVAL": "often"}, "CLERK_RELAY_HEARTBEAT_INTERVAL"),
        ({"CLERK_RELAY_LIVE_BUFFER": "0"}, "CLERK_RELAY_LIVE_BUFFER"),
        ({"CLERK_RELAY_LIVE_BUFFER": "lots"}, "CLERK_RELAY_LIVE_BUFFER"),
    ],
)
def test_malformed_environment_is_a_clear_error(environ: dict[str, str], message: str) -> None:
    with pytest.raises(CliError, match=message):
        from_env(environ)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("1.5m", 90.0),
        ("12h", 43200.0),
        ("7D", 604800.0),
        ("2w", 1209600.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "-1s", "5 years", "1h30m"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
